// How runner.py degrades a project's pytest configuration when pytest could
// not even start because it needs a plugin the index could not give
// (degrade_pytest_options), called as the runner calls it, round after
// round, on pytest's real messages. pycountry 24.6.1 on the real corpus:
// required_plugins = "pytest-cov>=4.0.0", then addopts of pytest-cov; the
// suite (51 tests, passing) had been reported tests_unrunnable.
#include <catch2/catch.hpp>
#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace {

std::string RunPython(const std::string& code) {
  const std::string py = "/root/.pyenv/versions/3.12.1/bin/python";
  std::string interp = std::filesystem::exists(py) ? py : "python3";
  std::string cmd = interp + " -c '" + code + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  while (p && fgets(buf.data(), buf.size(), p.get())) out += buf.data();
  return out;
}

}  // namespace

TEST_CASE("pytest stopped by required_plugins of a missing plugin runs again without them, then without its addopts") {
  std::string code =
      "import importlib.util, json\n"
      "spec = importlib.util.spec_from_file_location(\"runner\", \"" CORRAL_SOURCE_DIR "/sandbox/runner.py\")\n"
      "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
      "base = [\"python\", \"-m\", \"pytest\"]\n"
      "more, note = m.degrade_pytest_options(4, \"ERROR: Missing required plugins: pytest-cov>=4.0.0\\n\", \"/nonexistent\", base)\n"
      "print(json.dumps(more)); print(note)\n"
      "base += more\n"
      "tail = \"ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]\\n"
      "__main__.py: error: unrecognized arguments: --cov --cov-report=html\\n\"\n"
      "more, note = m.degrade_pytest_options(4, tail, \"/nonexistent\", base)\n"
      "print(json.dumps(more))\n"
      "base += more\n"
      "print(json.dumps(m.degrade_pytest_options(4, \"ERROR: Missing required plugins: pytest-cov\\n\", \"/nonexistent\", base)[0]))\n";
  std::string out = RunPython(code);
  INFO(out);
  CHECK(out.find("[\"-o\", \"required_plugins=\"]\n") != std::string::npos);
  CHECK(out.find("requires plugins that are not installed (ERROR: Missing required plugins: pytest-cov>=4.0.0)") !=
        std::string::npos);
  CHECK(out.find("[\"-o\", \"addopts=\"]\n") != std::string::npos);
  // Once degraded, the same message is not degraded again (no loop).
  CHECK(out.find("[]\n") != std::string::npos);
}
