// sandbox/runner.py is also loaded by pytest as a plugin (a copy named
// corral_pytest_plugin, for the re-run of failing tests): pytest refuses a
// plugin with a function named pytest_* that is not one of its hooks, with
// an internal error that stops every suite. Only the hooks below may be
// named so.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <string>

TEST_CASE("runner.py names no function pytest_* but the pytest hooks it implements") {
  std::ifstream in(std::string(CORRAL_SOURCE_DIR) + "/sandbox/runner.py");
  REQUIRE(in);
  const std::set<std::string> hooks = {"pytest_runtest_logreport", "pytest_collection_modifyitems"};
  std::regex def(R"(^def (pytest_\w+)\()");
  std::set<std::string> found;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, def)) found.insert(m[1]);
  }
  for (const auto& name : found) {
    INFO(name << " would make pytest stop with 'unknown hook' when the runner is loaded as a plugin");
    CHECK(hooks.count(name) == 1);
  }
  CHECK(found == hooks);
}
