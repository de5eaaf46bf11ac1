#include "sandbox/runner_script.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

TEST_CASE("the embedded runner is sandbox/runner.py byte for byte") {
  std::ifstream in(std::string(CORRAL_SOURCE_DIR) + "/sandbox/runner.py", std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  // If this fails, regenerate sandbox/runner_py.cc (command in runner_script.h).
  CHECK(ss.str() == std::string(corral::sandbox::kRunnerPy));
}
