// ParseJson (common/protocol.h): every JSON text Corral reads is bounded.
#include "common/protocol.h"

#include <catch2/catch.hpp>
#include <string>

using namespace corral;

TEST_CASE("ParseJson: bounded depth, values and size, whatever the text") {
  nlohmann::json j;
  std::string err;
  CHECK(ParseJson(std::string(64, '[') + std::string(64, ']'), &j, &err));
  CHECK_FALSE(ParseJson(std::string(65, '[') + std::string(65, ']'), &j, &err));
  CHECK(err.find("deeper than 64") != std::string::npos);
  CHECK(j.is_discarded());
  // 100,000 levels: refused by the scan, before the parser or dump() recurse.
  CHECK_FALSE(ParseJson("{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}", &j, &err));
  CHECK(ParseJsonOrDiscarded(std::string(100000, '{')).is_discarded());
  // Brackets inside strings, escaped quotes included, are not nesting.
  CHECK(ParseJson("{\"s\":\"\\\"" + std::string(1000, '[') + "\"}", &j, &err));
  CHECK(j["s"].get<std::string>().size() == 1001);
  CHECK_FALSE(ParseJson("[1,2,3]", &j, &err, 6));
  CHECK(err.find("at most 6") != std::string::npos);
  std::string many = "[0";
  for (size_t i = 0; i < kMaxJsonValues; ++i) many += ",0";
  CHECK_FALSE(ParseJson(many + "]", &j, &err));
  CHECK_FALSE(ParseJson("not json", &j, &err));
  CHECK(ParseJsonOrDiscarded("{\"a\": [1, {\"b\": 2}]}")["a"][1]["b"] == 2);
}
