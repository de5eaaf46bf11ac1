#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "leaderboard/site.h"

namespace corral::site {
namespace {

TEST_CASE("HtmlEscape escapes markup and replaces what HTML cannot carry") {
  struct Row {
    std::string in;
    std::string out;
  };
  const std::string fffd = "\xEF\xBF\xBD";
  const std::vector<Row> rows = {
      {"", ""},
      {"plain text 1.0", "plain text 1.0"},
      {"<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"},
      {"a & b", "a &amp; b"},
      {"&amp;", "&amp;amp;"},
      {"\" onmouseover=\"x", "&quot; onmouseover=&quot;x"},
      {"tab\tnew\nline\r", "tab\tnew\nline\r"},
      {std::string("nul\0byte", 8), "nul" + fffd + "byte"},
      {"bell\x07 esc\x1b[31m del\x7f", "bell" + fffd + " esc" + fffd + "[31m del" + fffd},
      {"caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x90\x8D", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x90\x8D"},
      {"bad \xFF byte", "bad " + fffd + " byte"},
      {"overlong \xC0\xAF", "overlong " + fffd + fffd},
      {"surrogate \xED\xA0\x80", "surrogate " + fffd + fffd + fffd},
      {"cut \xE2\x9C", "cut " + fffd + fffd},
      {"too big \xF4\x90\x80\x80", "too big " + fffd + fffd + fffd + fffd},
  };
  for (const Row& row : rows) {
    INFO(row.in);
    CHECK(HtmlEscape(row.in) == row.out);
  }
}

TEST_CASE("StatusText and StatusClass name every cell status") {
  CHECK(StatusText("passed") == "passed");
  CHECK(StatusText("tests_failed") == "tests failed");
  CHECK(StatusText("build_failed") == "build failed");
  CHECK(StatusText("unsupported") == "unsupported");
  CHECK(StatusText("pending") == "pending");
  CHECK(StatusText("inconclusive") == "inconclusive");
  CHECK(StatusClass("install_failed") == "install_failed");
  // An unknown word is shown as given but never becomes a class name.
  CHECK(StatusText("exploded") == "exploded");
  CHECK(StatusClass("x\" onclick=\"y") == "unknown");
}

}  // namespace
}  // namespace corral::site
