#include "sandbox/interpreters.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

using namespace corral::sandbox;

TEST_CASE("ProbeInterpreter reports what the interpreter says about itself") {
  const std::string py = "/root/.pyenv/versions/3.12.1/bin/python";
  if (!std::filesystem::exists(py)) {
    WARN("skipping: " << py << " is absent");
    return;
  }
  corral::Platform p;
  std::string err;
  REQUIRE(ProbeInterpreter(py, &p, &err));
  CHECK(p.implementation == "cpython");
  CHECK(p.python_version == "3.12.1");
  CHECK(p.interpreter_build.rfind("3.12.1 ", 0) == 0);
  CHECK(p.interpreter_build.find('\n') == std::string::npos);
  CHECK(p.os == "linux");
  CHECK_FALSE(p.arch.empty());
  CHECK(p.libc.rfind("glibc ", 0) == 0);
  CHECK_FALSE(p.kernel.empty());
  CHECK(p.has_headers);
  CHECK(p.Tag().ToString().rfind("cp312-linux_", 0) == 0);

  CHECK_FALSE(ProbeInterpreter("/nonexistent/python", &p, &err));
  CHECK(err.find("/nonexistent/python") != std::string::npos);
  CHECK_FALSE(ProbeInterpreter("/bin/false", &p, &err));
  CHECK(err.find("failed the probe") != std::string::npos);
}

TEST_CASE("DiscoverInterpreters finds pyenv and 2.7 and PyPy each once") {
  std::vector<std::string> notes;
  std::vector<corral::Platform> found = DiscoverInterpreters(&notes);
  for (const auto& n : notes) WARN("note: " << n);
  std::set<std::string> versions, paths, real;
  for (const auto& p : found) {
    INFO(p.interpreter_path << " " << p.python_version);
    CHECK(paths.insert(p.interpreter_path).second);
    CHECK(real.insert(std::filesystem::canonical(p.interpreter_path).string()).second);
    versions.insert(p.implementation + " " + p.python_version);
  }
  for (const char* v : {"2.7.18", "3.6.15", "3.12.1", "3.13.0"}) {
    if (!std::filesystem::exists(std::string("/root/.pyenv/versions/") + v)) continue;
    CHECK(versions.count(std::string("cpython ") + v) == 1);
  }
  if (std::filesystem::exists("/usr/bin/pypy3")) {
    bool pypy = false;
    for (const auto& p : found) pypy |= p.implementation == "pypy" && !p.has_headers;
    CHECK(pypy);
  }
}
