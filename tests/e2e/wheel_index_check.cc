// The wheel index as pip sees it, on the running demo network: for every
// interpreter the network ran on, a fresh virtual environment and a real
// `pip install --index-url <coordinator>/simple/` of demo packages, then
// imports. What must hold is what the corpus's known behaviour implies:
// - corral-demo-pure installs (its newest version) and works everywhere;
// - corral-demo-cext installs as a binary wheel, and its C extension
//   computes, where the platform built it; elsewhere there is nothing to
//   install (the index offers verified wheels only, no sdists);
// - corral-demo-modern's wheel carries Requires-Python >=3.8, so pip refuses
//   it below 3.8;
// - corral-demo-badimport (import_failed everywhere) is never offered.
// pip's output is kept in run.output/wheel_index_pip.log.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/http_client.h"
#include "demo/corpus.h"
#include "tests/e2e/e2e_checks.h"
#include "tests/e2e/pip_venv.h"

namespace fs = std::filesystem;

namespace corral {

namespace {

const char* const kPipAccept =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

std::string Expected(const std::vector<ExpectedPackage>& corpus, const std::string& project,
                     const Platform& p) {
  for (const auto& pkg : corpus)
    if (pkg.project == project) return ExpectedOutcome(pkg, p);
  return "";
}

bool PythonBelow(const Platform& p, int major, int minor) {
  int ma = 0, mi = 0;
  std::sscanf(p.python_version.c_str(), "%d.%d", &ma, &mi);
  return ma < major || (ma == major && mi < minor);
}

// The index's own documents: JSON for pip's Accept header, HTML otherwise,
// listing only what verdicts published.
void CheckIndexDocuments(const std::string& index) {
  // CHECK, not REQUIRE: the network is still running and must be stopped.
  HttpClient http;
  HttpResult root = http.Get(index, {{"Accept", kPipAccept}});
  INFO(root.Describe());
  CHECK(root.ok());
  CHECK(root.headers["content-type"] == "application/vnd.pypi.simple.v1+json");
  auto j = nlohmann::json::parse(root.body, nullptr, false);
  CHECK(j.is_object());
  if (!j.is_object()) return;
  std::set<std::string> names;
  for (const auto& p : j["projects"]) names.insert(p.value("name", ""));
  CHECK(names.count("corral-demo-pure") == 1);
  CHECK(names.count("corral-demo-badimport") == 0);     // import_failed everywhere
  CHECK(names.count("corral-demo-broken-build") == 0);  // no wheel at all
  HttpResult page = http.Get(index + "corral-demo-pure/");
  CHECK(page.ok());
  CHECK(page.headers["content-type"].rfind("text/html", 0) == 0);
  CHECK(page.body.find("#sha256=") != std::string::npos);
  CHECK(page.body.find("data-core-metadata=\"sha256=") != std::string::npos);
  HttpResult redirect = http.Get(index + "Corral_Demo.Pure");  // followed to the normalised page
  CHECK(redirect.ok());
  CHECK(redirect.body == page.body);
}

}  // namespace

void CheckWheelIndex(const DemoRun& run) {
  std::string index = run.base + "/simple/";
  fs::path log = run.output / "wheel_index_pip.log";
  std::error_code ec;
  fs::remove(log, ec);
  CheckIndexDocuments(index);

  std::vector<ExpectedPackage> corpus;
  std::string err;
  CHECK(LoadExpected(run.demo_data / "index" / "expected.json", &corpus, &err));

  int installed = 0;
  for (const auto& [tag, platform] : run.by_tag) {
    INFO("interpreter " << tag << " (" << platform.interpreter_path << "); pip log " << log.string());
    Venv venv;
    if (!MakeVenv(platform, run.data / "venvs" / tag, log, &venv, &err)) {
      WARN(err);
      continue;
    }
    INFO("virtual environment by " << venv.how);

    // The pure package: the newest version, importable, working.
    int rc = PipInstall(venv, index, {"corral-demo-pure"}, log);
    CHECK(rc == 0);
    if (rc != 0) {
      UNSCOPED_INFO(FileTail(log));
      continue;
    }
    CHECK(FileTail(log, 100000).find("Looking in indexes: " + index) != std::string::npos);
    CHECK(RunPython(venv,
                    "import corral_demo_pure as m\n"
                    "assert m.__version__ == '1.0.0', m.__version__\n"
                    "assert m.slugify('Hello, World!') == 'hello-world'\n"
                    "assert m.mean([1, 2, 3]) == 2.0\n",
                    log) == 0);
    ++installed;

    // Never offered: its wheel does not import.
    CHECK(PipInstall(venv, index, {"corral-demo-badimport"}, log) != 0);

    // The C extension, as this platform's binary wheel, or nothing at all.
    std::string cext = Expected(corpus, "corral-demo-cext", platform);
    rc = PipInstall(venv, index, {"corral-demo-cext"}, log);
    if (cext == "passed") {
      CHECK(rc == 0);
      CHECK(RunPython(venv,
                      "import corral_demo_cext as m\n"
                      "assert m._speedups.__file__.endswith('.so'), m._speedups.__file__\n"
                      "assert m.fletcher16(b'abcde') == m.fletcher16_reference(b'abcde') == 51440\n",
                      log) == 0);
    } else {
      CHECK(rc != 0);  // e.g. build_failed without headers: no wheel for this platform
    }

    // Requires-Python from the wheel's METADATA, honoured by pip.
    rc = PipInstall(venv, index, {"corral-demo-modern"}, log);
    if (PythonBelow(platform, 3, 8)) {
      CHECK(rc != 0);
    } else {
      CHECK(rc == 0);
      CHECK(RunPython(venv, "import corral_demo_modern as m; assert m.describe([1, 2, 3]) == '3 values, total 6, max 3'",
                      log) == 0);
    }
  }
  INFO("pip log:\n" << FileTail(log));
  CHECK(installed >= 2);
}

}  // namespace corral
