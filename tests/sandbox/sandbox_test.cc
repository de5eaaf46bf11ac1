// End-to-end jobs: real sdists, real bubblewrap, real interpreters.
#include "sandbox/sandbox.h"

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "sandbox/cgroup_limits.h"
#include "sandbox/interpreters.h"
#include "sandbox/venv_template.h"
#include "test_packages.h"

using namespace corral::sandbox;
using corral::Outcome;
using corral::OutcomeName;
using corral::sandbox::testing::PackageKind;
using corral::sandbox::testing::SdistEntries;
using corral::sandbox::testing::TempDir;
using corral::sandbox::testing::WriteArchive;

namespace {

// Shared by every test process of this build, so templates are made once;
// the template test below uses a fresh cache of its own.
std::filesystem::path SharedCache() {
  return std::filesystem::path(CORRAL_BINARY).parent_path() / "sandbox-test-cache";
}

bool PlatformFor(const std::string& path, corral::Platform* p) {
  if (!std::filesystem::exists(path)) {
    WARN("skipping: interpreter " << path << " is absent on this machine");
    return false;
  }
  std::string err;
  INFO(err);
  REQUIRE(ProbeInterpreter(path, p, &err));
  return true;
}

JobResult Run(const corral::Platform& platform, const TempDir& tmp, const std::string& name,
              PackageKind kind, const std::string& suffix = "",
              const std::filesystem::path& wheelhouse = {}) {
  std::string err;
  std::filesystem::path sdist = tmp.path() / (name + suffix + "-1.0.tar.gz");
  REQUIRE(WriteArchive(sdist, SdistEntries(name, kind), &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = name;
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / ("work-" + name + suffix);
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = SharedCache();
  spec.wheelhouse = wheelhouse;
  spec.timeout_s = 300;
  JobResult r = RunJob(spec);
  std::printf("timing: %s %-10s %-13s total %.2f s (env copy %.3f s, build %.2f s, tests %.2f s%s)\n",
              platform.Tag().ToString().c_str(), name.c_str(),
              std::string(OutcomeName(r.outcome)).c_str(), r.total_seconds, r.env_seconds,
              r.build_seconds, r.test_seconds,
              r.template_seconds > 0
                  ? (", template created " + std::to_string(r.template_seconds) + " s").c_str()
                  : "");
  return r;
}

void JobsOn(const std::string& interpreter) {
  corral::Platform platform;
  if (!PlatformFor(interpreter, &platform)) return;
  TempDir tmp;

  JobResult pass = Run(platform, tmp, "demo_pass", PackageKind::kPassing);
  {
    INFO(pass.summary << "\n" << pass.log);
    REQUIRE(pass.outcome == Outcome::kPassed);
    CHECK(pass.tests_passed == 3);
    CHECK(pass.tests_skipped == 1);
    CHECK(pass.tests_failed + pass.tests_errors == 0);
    CHECK(pass.failing_tests.empty());
    CHECK(pass.test_run.runner == "unittest");
    CHECK(pass.wheel.filename() == "demo_pass-1.0-py2.py3-none-any.whl");
    CHECK(std::filesystem::exists(pass.wheel));
    CHECK(pass.wheel_sha256.size() == 64);
    CHECK(pass.wheel_content_digest.size() == 64);
    CHECK(pass.isolation.rfind("bwrap:net,pid,", 0) == 0);
    CHECK(pass.environment.at("SOURCE_DATE_EPOCH") == "315532800");
    CHECK(pass.commands.size() >= 4);
    CHECK(pass.log.find("==> [corral] build") != std::string::npos);
    CHECK(pass.build_seconds > 0);
    CHECK(pass.test_seconds > 0);
  }

  // The same sdist built again gives the same content digest.
  JobResult again = Run(platform, tmp, "demo_pass", PackageKind::kPassing, "-again");
  CHECK(again.outcome == Outcome::kPassed);
  CHECK(again.wheel_content_digest == pass.wheel_content_digest);

  JobResult fail = Run(platform, tmp, "demo_fail", PackageKind::kFailingTest);
  {
    INFO(fail.summary << "\n" << fail.log);
    CHECK(fail.outcome == Outcome::kTestsFailed);
    CHECK(fail.failing_tests == std::vector<std::string>{"tests.test_add.TestAdd.test_wrong"});
    CHECK(fail.tests_failed == 1);
    CHECK(fail.tests_passed == 3);
    CHECK(fail.summary.find("tests.test_add.TestAdd.test_wrong failed") != std::string::npos);
  }

  JobResult imp = Run(platform, tmp, "demo_imp", PackageKind::kImportError);
  {
    INFO(imp.summary << "\n" << imp.log);
    CHECK(imp.outcome == Outcome::kImportFailed);
    CHECK(imp.summary.find("import demo_imp failed") != std::string::npos);
    CHECK(imp.summary.find("corral_module_that_does_not_exist") != std::string::npos);
  }

  JobResult build = Run(platform, tmp, "demo_build", PackageKind::kBuildError);
  {
    INFO(build.summary << "\n" << build.log);
    CHECK(build.outcome == Outcome::kBuildFailed);
    CHECK(build.summary.find("RuntimeError: mini backend: refusing to build demo_build") !=
          std::string::npos);
    CHECK(build.wheel.empty());
  }

  JobResult none = Run(platform, tmp, "demo_none", PackageKind::kNoTests);
  {
    INFO(none.summary << "\n" << none.log);
    CHECK(none.outcome == Outcome::kNoTests);
    CHECK(none.wheel_content_digest.size() == 64);
  }

  // Build requirements come from the wheelhouse, offline; missing ones fail the build.
  std::filesystem::path wheelhouse = tmp.path() / "wheelhouse";
  std::filesystem::create_directories(wheelhouse);
  REQUIRE_FALSE(none.wheel.empty());
  std::filesystem::copy_file(none.wheel, wheelhouse / none.wheel.filename());
  JobResult req = Run(platform, tmp, "demo_req", PackageKind::kNeedsBuildRequirement, "",
                      wheelhouse);
  {
    INFO(req.summary << "\n" << req.log);
    CHECK(req.outcome == Outcome::kPassed);
    CHECK(req.log.find("--find-links /wheelhouse --find-links /job/wheelhouse --find-links /job/built demo_none") !=
          std::string::npos);
  }
  JobResult unres = Run(platform, tmp, "demo_req", PackageKind::kNeedsBuildRequirement, "-nowh");
  {
    INFO(unres.summary << "\n" << unres.log);
    CHECK(unres.outcome == Outcome::kBuildFailed);
    CHECK(unres.summary.find("build requirements demo_none cannot be installed offline") !=
          std::string::npos);
    CHECK((unres.summary.find("No matching distribution") != std::string::npos ||
           unres.summary.find("Could not find a version") != std::string::npos));
  }

  // A wheel as input: install + import only, and the same content digest.
  std::filesystem::path wheel = tmp.path() / pass.wheel.filename();
  std::filesystem::copy_file(pass.wheel, wheel);
  JobSpec spec;
  spec.input = wheel;
  spec.filename = wheel.filename().string();
  spec.project = "demo_pass";
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / "work-wheel";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = SharedCache();
  JobResult w = RunJob(spec);
  std::printf("timing: %s wheel      %-13s total %.2f s\n", platform.Tag().ToString().c_str(),
              std::string(OutcomeName(w.outcome)).c_str(), w.total_seconds);
  INFO(w.summary << "\n" << w.log);
  CHECK(w.outcome == Outcome::kNoTests);
  CHECK(w.build_seconds == 0);
  CHECK(w.wheel_content_digest == pass.wheel_content_digest);
  CHECK(w.log.find("==> [corral] import: demo_pass") != std::string::npos);
}

}  // namespace

TEST_CASE("jobs on CPython 2.7") { JobsOn("/root/.pyenv/versions/2.7.18/bin/python"); }
TEST_CASE("jobs on CPython 3.6") { JobsOn("/root/.pyenv/versions/3.6.15/bin/python"); }
TEST_CASE("jobs on CPython 3.12") { JobsOn("/root/.pyenv/versions/3.12.1/bin/python"); }
TEST_CASE("jobs on CPython 3.13") { JobsOn("/root/.pyenv/versions/3.13.0/bin/python"); }
TEST_CASE("jobs on PyPy 3") { JobsOn("/usr/bin/pypy3"); }

TEST_CASE("an sdist escaping with ../ is refused before any Python runs") {
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.12.1/bin/python", &platform)) return;
  TempDir tmp;
  std::string err;
  std::filesystem::path sdist = tmp.path() / "evil-1.0.tar.gz";
  REQUIRE(WriteArchive(sdist, {{"evil-1.0/setup.py", "x"}, {"evil-1.0/../../../evil.py", "boom"}},
                       &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = "evil-1.0.tar.gz";
  spec.project = "evil";
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / "work";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = tmp.path() / "cache";
  JobResult r = RunJob(spec);
  CHECK(r.outcome == Outcome::kBuildFailed);
  CHECK(r.summary.find("refused") != std::string::npos);
  CHECK(r.summary.find("evil.py") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "evil.py"));
  CHECK_FALSE(std::filesystem::exists(spec.cache_dir / "venv-templates"));
}

TEST_CASE("machine problems are infra_error and never the package's fault") {
  TempDir tmp;
  std::string err;
  std::filesystem::path sdist = tmp.path() / "demo_ok-1.0.tar.gz";
  REQUIRE(WriteArchive(sdist, SdistEntries("demo_ok", PackageKind::kPassing), &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = "demo_ok";
  spec.version = "1.0";
  spec.platform.implementation = "cpython";
  spec.platform.python_version = "3.99.0";
  spec.platform.interpreter_path = "/nonexistent/bin/python3.99";
  spec.work_dir = tmp.path() / "work";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = tmp.path() / "cache";
  JobResult r = RunJob(spec);
  CHECK(r.outcome == Outcome::kInfraError);
  CHECK(r.summary.find("/nonexistent/bin/python3.99") != std::string::npos);

  spec.work_dir = tmp.path() / "missing-work-dir";
  r = RunJob(spec);
  CHECK(r.outcome == Outcome::kInfraError);
}

TEST_CASE("venv templates are created once even when jobs race for them") {
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.13.0/bin/python", &platform)) return;
  TempDir tmp;
  TemplateInfo a, b;
  std::string err_a, err_b;
  bool ok_a = false, ok_b = false;
  std::thread ta([&] { ok_a = EnsureVenvTemplate(platform, tmp.path(), &a, &err_a); });
  std::thread tb([&] { ok_b = EnsureVenvTemplate(platform, tmp.path(), &b, &err_b); });
  ta.join();
  tb.join();
  INFO(err_a << err_b);
  REQUIRE(ok_a);
  REQUIRE(ok_b);
  CHECK(a.env == b.env);
  CHECK(a.created != b.created);
  std::printf("timing: template %s created in %.2f s\n", platform.Tag().ToString().c_str(),
              a.created ? a.seconds : b.seconds);
  CHECK(std::filesystem::exists(a.env / "bin" / "python"));
  // Only the finished template and its lock remain: no staging leftovers.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path() / "venv-templates")) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);
  TemplateInfo c;
  REQUIRE(EnsureVenvTemplate(platform, tmp.path(), &c, &err_a));
  CHECK_FALSE(c.created);
}

TEST_CASE("C extensions compile in the sandbox and a headerless interpreter says so") {
  for (const char* py : {"/root/.pyenv/versions/2.7.18/bin/python",
                         "/root/.pyenv/versions/3.12.1/bin/python", "/usr/bin/pypy3"}) {
    corral::Platform platform;
    if (!PlatformFor(py, &platform)) continue;
    TempDir tmp;
    JobResult r = Run(platform, tmp, "demo_ext", PackageKind::kCExtension);
    INFO(py << ": " << r.summary << "\n" << r.log);
    if (platform.has_headers) {
      CHECK(r.outcome == Outcome::kPassed);
      CHECK(r.tests_passed == 1);
    } else {
      // The machine's lack, not the package's fault: infra_error, which never votes.
      CHECK(r.outcome == Outcome::kInfraError);
      CHECK(r.summary.find("has no Python development headers (Python.h)") != std::string::npos);
      CHECK(r.summary.find("not the package's fault") != std::string::npos);
      CHECK(r.excerpt.find("Python.h") != std::string::npos);
    }
  }
}

TEST_CASE("MeasureIsolation reports what a job's sandbox reaches on this machine") {
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.12.1/bin/python", &platform)) return;
  TempDir tmp;
  std::string level, err;
  REQUIRE(MeasureIsolation(platform, tmp.path(), &level, &err));
  INFO(level);
  std::printf("isolation measured here: %s\n", level.c_str());
  CHECK(level.rfind("bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;", 0) == 0);
  CHECK(level.find(";seccomp=denylist") != std::string::npos);
  CHECK(level.find(";disk-cap") != std::string::npos);
  const CgroupSupport& cg = DetectCgroups();
  CHECK((level.find(";cgroups=") != std::string::npos) == (cg.version != 0));
  // Nothing is left behind in the scratch folder.
  CHECK(std::filesystem::is_empty(tmp.path()));
  // An interpreter that does not exist cannot be measured.
  corral::Platform missing = platform;
  missing.interpreter_path = "/nonexistent/python";
  CHECK_FALSE(MeasureIsolation(missing, tmp.path(), &level, &err));
  CHECK(err.find("/nonexistent/python") != std::string::npos);
}

// The same through the whole sandbox: bwrap, a new session and a PID
// namespace inside, so the processes are reached through the job's cgroup.
TEST_CASE("a sandboxed job suspended mid-test resumes and passes; the pause is no timeout") {
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.12.1/bin/python", &platform)) return;
  if (DetectCgroups().version == 0) {
    WARN("skipping: no delegated cgroups here, so sandboxed processes cannot be reached to suspend them");
    return;
  }
  TempDir tmp;
  std::string err;
  std::filesystem::path sdist = tmp.path() / "demo_pause-1.0.tar.gz";
  REQUIRE(WriteArchive(sdist,
                       corral::sandbox::testing::SdistWithTests(
                           "demo_pause",
                           "import time, unittest\n"
                           "class T(unittest.TestCase):\n"
                           "    def test_slow(self):\n"
                           "        with open('/job/ticks.txt', 'w') as f:\n"
                           "            for i in range(30):\n"
                           "                f.write('%f\\n' % time.time())\n"
                           "                f.flush()\n"
                           "                time.sleep(0.1)\n"),
                       &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = "demo_pause";
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / "work";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = SharedCache();
  std::atomic<bool> pause{false};
  spec.pause = &pause;
  // Long enough for the job, not for the job plus the pause.
  spec.timeout_s = 12;
  spec.no_output_timeout_s = 5;
  // Suspend as soon as the test writes its first tick (into the job folder),
  // for longer than both timeouts.
  const std::filesystem::path ticks = spec.work_dir / "ticks.txt";
  std::thread toggler([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline &&
           (!std::filesystem::exists(ticks) || std::filesystem::file_size(ticks) == 0))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pause = true;
    std::this_thread::sleep_for(std::chrono::seconds(14));
    pause = false;
  });
  auto t0 = std::chrono::steady_clock::now();
  JobResult r = RunJob(spec);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  toggler.join();
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kPassed);
  CHECK(took > 14.0);
  // The processes inside the sandbox (its own session and PID namespace)
  // really stood still: one gap of the pause's length between two ticks.
  std::ifstream in(ticks);
  double previous = 0, t = 0, largest_gap = 0;
  int count = 0;
  while (in >> t) {
    if (count++) largest_gap = std::max(largest_gap, t - previous);
    previous = t;
  }
  CHECK(count == 30);
  CHECK(largest_gap > 10.0);
}

namespace {

JobResult RunEntries(const corral::Platform& platform, const TempDir& tmp, const std::string& name,
                     const std::vector<corral::sandbox::testing::Entry>& entries) {
  std::string err;
  std::filesystem::path sdist = tmp.path() / (name + "-1.0.tar.gz");
  REQUIRE(WriteArchive(sdist, entries, &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = name;
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / ("work-" + name);
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = SharedCache();
  spec.timeout_s = 300;
  return RunJob(spec);
}

// A test that fails unless `module` is the installed copy, and reads a
// data file of the sdist next to itself.
std::string InstalledCheck(const std::string& module, const std::string& data_rel) {
  return "import os, unittest\nimport " + module + "\n\n"
         "class Installed(unittest.TestCase):\n"
         "    def test_imports_the_installed_wheel(self):\n"
         "        self.assertIn('/job/env/', os.path.realpath(" + module + ".__file__))\n"
         "    def test_data_file_is_there(self):\n"
         "        here = os.path.dirname(os.path.abspath(__file__))\n"
         "        with open(os.path.join(here, '" + data_rel + "')) as f:\n"
         "            self.assertEqual(f.read().strip(), 'corral')\n";
}

}  // namespace

TEST_CASE("the suite is found where the project keeps it and runs against the installed wheel") {
  const char* py = "/root/.pyenv/versions/3.11.7/bin/python";
  if (!std::filesystem::exists(py)) {
    WARN("skipping: " << py << " is absent");
    return;
  }
  corral::Platform platform;
  std::string err;
  REQUIRE(ProbeInterpreter(py, &platform, &err));
  TempDir tmp;
  using corral::sandbox::testing::Entry;
  SECTION("a test file at the sdist's root, beside the data it reads") {
    auto e = SdistEntries("demo_rootfile", PackageKind::kNoTests);
    e.push_back(Entry("demo_rootfile-1.0/test_rootfile.py", InstalledCheck("demo_rootfile", "data/sample.txt")));
    e.push_back(Entry("demo_rootfile-1.0/data/sample.txt", "corral\n"));
    JobResult r = RunEntries(platform, tmp, "demo_rootfile", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 2);
    CHECK(r.log.find("tests: test files at the root of the sdist: test_rootfile.py") != std::string::npos);
    CHECK(r.log.find("the in-tree package in the test tree (demo_rootfile) now holds the installed wheel's files") !=
          std::string::npos);
    CHECK(r.log.find("imports demo_rootfile from ") != std::string::npos);
    CHECK(r.log.find("/job/env/") != std::string::npos);
  }
  SECTION("tests that run the package's files by path and read the sdist's files beside it run the installed code") {
    // As real suites do: `python pkg/cli.py` from the sdist's root, and
    // pkg/../bin/tool.txt from a test inside the package.
    auto e = SdistEntries("demo_bypath", PackageKind::kNoTests);
    e.push_back(Entry("demo_bypath-1.0/demo_bypath/cli.py",
                      "import os\nprint('installed' if '/job/env/' in os.path.realpath(__file__) else 'in-tree')\n"));
    e.push_back(Entry("demo_bypath-1.0/bin/tool.txt", "corral\n"));
    e.push_back(Entry("demo_bypath-1.0/demo_bypath/tests/__init__.py", ""));
    e.push_back(Entry("demo_bypath-1.0/demo_bypath/tests/test_paths.py",
                      "import os, subprocess, sys, unittest\nimport demo_bypath\n\n"
                      "class Paths(unittest.TestCase):\n"
                      "    def test_installed(self):\n"
                      "        self.assertIn('/job/env/', os.path.realpath(demo_bypath.__file__))\n"
                      "    def test_script_by_path(self):\n"
                      "        out = subprocess.check_output([sys.executable, 'demo_bypath/cli.py'])\n"
                      "        self.assertEqual(out.strip(), b'installed')\n"
                      "    def test_file_beside_the_package(self):\n"
                      "        here = os.path.dirname(os.path.abspath(__file__))\n"
                      "        with open(os.path.join(here, '..', '..', 'bin', 'tool.txt')) as f:\n"
                      "            self.assertEqual(f.read().strip(), 'corral')\n"));
    JobResult r = RunEntries(platform, tmp, "demo_bypath", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 3);
    CHECK(r.log.find("(the installed /job/env/") != std::string::npos);
  }
  SECTION("the project's pytest testpaths name the folder") {
    auto e = SdistEntries("demo_testing", PackageKind::kNoTests);
    e.push_back(Entry("demo_testing-1.0/pytest.ini", "[pytest]\ntestpaths = testing\n"));
    e.push_back(Entry("demo_testing-1.0/testing/test_it.py", InstalledCheck("demo_testing", "sample.txt")));
    e.push_back(Entry("demo_testing-1.0/testing/sample.txt", "corral\n"));
    JobResult r = RunEntries(platform, tmp, "demo_testing", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 2);
    CHECK(r.log.find("tests: testpaths in pytest.ini: testing") != std::string::npos);
  }
  SECTION("the project's python_files patterns name its test modules") {
    auto e = SdistEntries("demo_checks", PackageKind::kNoTests);
    e.push_back(Entry("demo_checks-1.0/setup.cfg", "[tool:pytest]\ntestpaths = checks\npython_files = check_*.py\n"));
    e.push_back(Entry("demo_checks-1.0/checks/check_it.py", InstalledCheck("demo_checks", "sample.txt")));
    e.push_back(Entry("demo_checks-1.0/checks/sample.txt", "corral\n"));
    JobResult r = RunEntries(platform, tmp, "demo_checks", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 2);
    CHECK(r.test_run.found_by == "testpaths in setup.cfg");
  }
  SECTION("a suite whose test library is not on the index is tests_unrunnable, never tests_failed") {
    auto e = SdistEntries("demo_unrun", PackageKind::kNoTests);
    e.push_back(Entry("demo_unrun-1.0/tests/test_needs_lib.py",
                      "import corral_absent_testlib\n\ndef test_x():\n    assert True\n"));
    JobResult r = RunEntries(platform, tmp, "demo_unrun", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kTestsUnrunnable);
    CHECK(r.summary.find("needs corral_absent_testlib") != std::string::npos);
    CHECK(r.tests_failed + r.tests_errors == 0);
    // Beside a module that runs: that one counts, the other is named as not run.
    auto m = SdistEntries("demo_mixed", PackageKind::kNoTests);
    m.push_back(Entry("demo_mixed-1.0/tests/test_needs_lib.py",
                      "import corral_absent_testlib\n\ndef test_x():\n    assert True\n"));
    m.push_back(Entry("demo_mixed-1.0/tests/test_plain.py",
                      "import unittest\nimport demo_mixed\n\nclass P(unittest.TestCase):\n"
                      "    def test_add(self):\n        self.assertEqual(demo_mixed.add(1, 1), 2)\n"));
    JobResult mixed = RunEntries(platform, tmp, "demo_mixed", m);
    INFO(mixed.summary << "\n" << mixed.log);
    CHECK(mixed.outcome == Outcome::kPassed);
    CHECK(mixed.tests_passed == 1);
    CHECK(mixed.test_run.not_run.size() == 1);
    CHECK(mixed.summary.find("not run: ") != std::string::npos);
  }
  SECTION("a failing test is run once more: passing then is flaky, failing again is a failure") {
    // test_once fails on its first run only (it leaves a mark beside
    // itself); test_always fails every time, with a traceback to show.
    auto e = SdistEntries("demo_flaky", PackageKind::kNoTests);
    e.push_back(Entry("demo_flaky-1.0/tests/test_flaky.py",
                      "import os, unittest\nimport demo_flaky\n\n"
                      "MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ran-once')\n\n"
                      "class Flaky(unittest.TestCase):\n"
                      "    def test_once(self):\n"
                      "        if not os.path.exists(MARK):\n"
                      "            open(MARK, 'w').close()\n"
                      "            self.fail('first run fails')\n"
                      "    def test_steady(self):\n"
                      "        self.assertEqual(demo_flaky.add(1, 2), 3)\n"));
    JobResult flaky = RunEntries(platform, tmp, "demo_flaky", e);
    {
      INFO(flaky.summary << "\n" << flaky.log);
      CHECK(flaky.outcome == Outcome::kPassed);
      CHECK(flaky.failing_tests.empty());
      CHECK(flaky.test_run.flaky == std::vector<std::string>{"tests.test_flaky.Flaky.test_once"});
      CHECK(flaky.tests_passed == 1);
      CHECK(flaky.summary.find("flaky (failed, then passed when run again): tests.test_flaky.Flaky.test_once") !=
            std::string::npos);
      CHECK(flaky.test_run.command.find("_unittest") != std::string::npos);
      CHECK(flaky.test_run.found_by == "the tests/ folder");
      CHECK(flaky.test_run.first_failures.empty());
    }
    auto f = SdistEntries("demo_steadyfail", PackageKind::kNoTests);
    f.push_back(Entry("demo_steadyfail-1.0/tests/test_bad.py",
                      "import unittest\nimport demo_steadyfail\n\n"
                      "class Bad(unittest.TestCase):\n"
                      "    def test_always(self):\n"
                      "        self.assertEqual(demo_steadyfail.add(2, 2), 5, 'corral-marker: two and two')\n"));
    JobResult fail = RunEntries(platform, tmp, "demo_steadyfail", f);
    INFO(fail.summary << "\n" << fail.log);
    CHECK(fail.outcome == Outcome::kTestsFailed);
    CHECK(fail.failing_tests == std::vector<std::string>{"tests.test_bad.Bad.test_always"});
    CHECK(fail.test_run.flaky.empty());
    CHECK(fail.log.find("running the 1 failing test(s) once more") != std::string::npos);
    // The fidelity steps are timed apart from the suite's own run.
    std::set<std::string> phases;
    for (const auto& [name, seconds] : fail.phases) phases.insert(name);
    CHECK(phases.count("tests: setup") == 1);
    CHECK(phases.count("tests: suite") == 1);
    CHECK(phases.count("tests: re-run") == 1);
    CHECK(fail.log.find("[corral] time: ") != std::string::npos);
    CHECK(fail.log.find(", tests: re-run ") != std::string::npos);
    REQUIRE(fail.test_run.first_failures.size() == 1);
    CHECK(fail.test_run.first_failures[0].id == "tests.test_bad.Bad.test_always");
    CHECK(fail.test_run.first_failures[0].text.find("Traceback") != std::string::npos);
    CHECK(fail.test_run.first_failures[0].text.find("corral-marker: two and two") != std::string::npos);
  }
  SECTION("test modules anywhere in the installed package are found last, as unittest discovery would") {
    auto e = SdistEntries("demo_anywhere", PackageKind::kNoTests);
    e.push_back(Entry("demo_anywhere-1.0/demo_anywhere/checks/__init__.py", ""));
    e.push_back(Entry("demo_anywhere-1.0/demo_anywhere/checks/test_deep.py",
                      "import os, unittest\nimport demo_anywhere\n\nclass Deep(unittest.TestCase):\n"
                      "    def test_installed(self):\n"
                      "        self.assertIn('/job/env/', os.path.realpath(__file__))\n"
                      "        self.assertEqual(demo_anywhere.add(1, 1), 2)\n"));
    JobResult r = RunEntries(platform, tmp, "demo_anywhere", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 1);
    CHECK(r.test_run.found_by == "test modules inside the package (run against the installed copy)");
  }
  SECTION("a module whose optional import of a missing library breaks it is not run, never a failure") {
    // Its fallback for a missing library breaks at import (a NameError,
    // no "No module named"): still the harness's gap.
    auto e = SdistEntries("demo_optional", PackageKind::kNoTests);
    // Beside a Python 2 fallback import (StringIO, absent on 3): the library
    // behind the undefined name is the one named (mccabe 0.7.0's suite).
    e.push_back(Entry("demo_optional-1.0/tests/test_fuzzed.py",
                      "import unittest\ntry:\n    from StringIO import StringIO\nexcept ImportError:\n"
                      "    from io import StringIO\n"
                      "try:\n    from corral_absent_testlib import given\nexcept ImportError:\n"
                      "    pass\n\nclass Fuzzed(unittest.TestCase):\n    @given(1)\n"
                      "    def test_x(self):\n        pass\n"));
    JobResult r = RunEntries(platform, tmp, "demo_optional", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kTestsUnrunnable);
    CHECK(r.summary.find("needs corral_absent_testlib") != std::string::npos);
  }
  SECTION("test files in src/ beside a single-module project") {
    auto e = SdistEntries("demo_srcfile", PackageKind::kNoTests);
    e.push_back(Entry("demo_srcfile-1.0/src/test_srcfile.py",
                      "import os, unittest\nimport demo_srcfile\nimport _srcfile_helper\n\n"
                      "class S(unittest.TestCase):\n    def test_installed(self):\n"
                      "        self.assertIn('/job/env/', os.path.realpath(demo_srcfile.__file__))\n"
                      "        self.assertEqual(_srcfile_helper.VALUE, 7)\n"));
    e.push_back(Entry("demo_srcfile-1.0/src/_srcfile_helper.py", "VALUE = 7\n"));
    JobResult r = RunEntries(platform, tmp, "demo_srcfile", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 1);
    CHECK(r.test_run.found_by == "test files in src/");
  }
  SECTION("tests shipped inside the package run from the installed copy") {
    auto e = SdistEntries("demo_inside", PackageKind::kNoTests);
    e.push_back(Entry("demo_inside-1.0/demo_inside/tests/__init__.py", ""));
    e.push_back(Entry("demo_inside-1.0/demo_inside/tests/test_inner.py",
                      "import os, unittest\nimport demo_inside\n\nclass Inner(unittest.TestCase):\n"
                      "    def test_from_the_wheel(self):\n"
                      "        self.assertIn('/job/env/', os.path.realpath(__file__))\n"
                      "        self.assertEqual(demo_inside.add(2, 2), 4)\n"));
    JobResult r = RunEntries(platform, tmp, "demo_inside", e);
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 1);
    CHECK(r.log.find("tests inside the package (run against the installed copy): demo_inside.tests") !=
          std::string::npos);
  }
}

TEST_CASE("a C extension whose build falls back to pure Python on a headerless interpreter fails as the machine's lack") {
  // As setproctitle's setup.py does: when the extension does not compile,
  // the package is built without it; its tests then fail (setproctitle
  // 1.3.4 on PyPy without Python.h, published as tests_failed before).
  for (const char* py : {"/root/.pyenv/versions/3.12.1/bin/python", "/usr/bin/pypy3"}) {
    corral::Platform platform;
    if (!PlatformFor(py, &platform)) continue;
    TempDir tmp;
    auto e = SdistEntries("demo_fallback", PackageKind::kCExtension);
    for (auto& x : e) {
      auto replace = [&](const std::string& from, const std::string& to) {
        size_t at = x.content.find(from);
        if (at != std::string::npos) x.content.replace(at, from.size(), to);
      };
      replace("raise RuntimeError(\"compiling %s failed\" % c_source)",
              "print(\"compiling %s failed: building without it\" % c_source)");
      replace("from ._speed import triple\n", "try:\n    from ._speed import triple\nexcept ImportError:\n"
                                              "    triple = None\n");
    }
    JobResult r = RunEntries(platform, tmp, "demo_fallback", e);
    INFO(py << ": " << r.summary << "\nexcerpt:\n" << r.excerpt << "\nlog:\n" << r.log);
    if (platform.has_headers) {
      CHECK(r.outcome == Outcome::kPassed);
    } else {
      CHECK(r.outcome == Outcome::kInfraError);
      CHECK(r.summary.find("has no Python development headers (Python.h)") != std::string::npos);
      CHECK(r.summary.find("fell back without it, then tests_failed") != std::string::npos);
      CHECK(r.summary.find("not the package's fault") != std::string::npos);
      CHECK(r.excerpt.find("Python.h") != std::string::npos);
    }
  }
}

namespace {

// A wheel of `files` (path -> content) for project `name` `version`,
// written into `dir`.
std::filesystem::path WriteWheel(const std::filesystem::path& dir, const std::string& name,
                                 const std::string& version, const std::string& requires_dist,
                                 const std::vector<std::pair<std::string, std::string>>& files) {
  std::string info = name + "-" + version + ".dist-info/";
  std::vector<corral::sandbox::testing::Entry> e;
  std::string record;
  for (const auto& [path, content] : files) {
    e.emplace_back(path, content);
    record += path + ",,\n";
  }
  e.emplace_back(info + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n" +
                                        (requires_dist.empty() ? "" : "Requires-Dist: " + requires_dist + "\n"));
  e.emplace_back(info + "WHEEL", "Wheel-Version: 1.0\nGenerator: corral-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n");
  e.emplace_back(info + "RECORD", record + info + "METADATA,,\n" + info + "WHEEL,,\n" + info + "RECORD,,\n");
  std::string err;
  std::filesystem::path zip = dir / (name + "-" + version + ".zip");
  REQUIRE(WriteArchive(zip, e, &err));
  std::filesystem::path whl = dir / (name + "-" + version + "-py3-none-any.whl");
  std::filesystem::rename(zip, whl);
  return whl;
}

}  // namespace

TEST_CASE("a test requirement that conflicts with the pytest running the suite is not installed") {
  // wcwidth 0.2.13 ships requirements files for several Pythons; on 3.12 its
  // pins for 3.6 (pluggy==1.0.0) downgraded pytest 8's pluggy, pytest no
  // longer imported, and the suite was reported unrunnable. Here a pytest
  // that needs demo_dep>=2 (it exits 5, "no tests", when it imports) and
  // a project pinning demo_dep==1.0 for its tests (in a requirements file
  // for an older Python).
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.12.1/bin/python", &platform)) return;
  TempDir tmp;
  std::filesystem::path wh = tmp.path() / "wheelhouse";
  std::filesystem::create_directories(wh);
  WriteWheel(wh, "pytest", "9.0", "demo_dep>=2",
             {{"pytest/__init__.py", "import demo_dep\nassert demo_dep.V >= 2, 'demo_dep too old'\n"
                                     "__version__ = '9.0'\n"},
              {"pytest/__main__.py",
               "import sys\nimport pytest\n"
               "for a in sys.argv:\n"
               "    if a.startswith('--junitxml='):\n"
               "        with open(a.split('=', 1)[1], 'w') as f:\n"
               "            f.write('<testsuites><testsuite name=\"pytest\" tests=\"0\"/></testsuites>')\n"
               "sys.exit(5)\n"}});
  WriteWheel(wh, "demo_dep", "1.0", "", {{"demo_dep.py", "V = 1\n"}});
  WriteWheel(wh, "demo_dep", "2.0", "", {{"demo_dep.py", "V = 2\n"}});
  auto e = SdistEntries("demo_pinned", PackageKind::kNoTests);
  using corral::sandbox::testing::Entry;
  e.push_back(Entry("demo_pinned-1.0/requirements-tests36.txt", "demo_dep==1.0\n"));
  e.push_back(Entry("demo_pinned-1.0/tests/test_it.py",
                    "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        pass\n"));
  std::string err;
  std::filesystem::path sdist = tmp.path() / "demo_pinned-1.0.tar.gz";
  REQUIRE(WriteArchive(sdist, e, &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = "demo_pinned";
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / "work";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = SharedCache();
  spec.wheelhouse = wh;
  spec.timeout_s = 300;
  JobResult r = RunJob(spec);
  INFO(r.summary << "\n" << r.log);
  // pytest (the fake one) still runs the suite: it imports, and says "no tests".
  CHECK(r.test_run.runner == "pytest");
  CHECK(r.outcome == Outcome::kNoTests);
  CHECK(r.log.find("demo_dep==1.0 pytest==9.0") != std::string::npos);
}

TEST_CASE("test modules only unittest's pattern finds (test.py, tests.py): pytest again with that pattern, then unittest") {
  // decorator 5.1.1 keeps its suite in src/tests/test.py, webencodings 0.5.1
  // in webencodings/tests.py: pytest's default python_files (test_*.py,
  // *_test.py) collect nothing there, unittest's test*.py does: pytest
  // runs again with python_files = test*.py *_test.py, then unittest if it
  // still collects none. Here a pytest that always collects nothing (exit
  // 5, an empty report), so both steps show.
  corral::Platform platform;
  if (!PlatformFor("/root/.pyenv/versions/3.12.1/bin/python", &platform)) return;
  TempDir tmp;
  std::filesystem::path wh = tmp.path() / "wheelhouse";
  std::filesystem::create_directories(wh);
  WriteWheel(wh, "pytest", "9.0", "",
             {{"pytest/__init__.py", "__version__ = '9.0'\n"},
              {"pytest/__main__.py",
               "import sys\n"
               "for a in sys.argv:\n"
               "    if a.startswith('--junitxml='):\n"
               "        with open(a.split('=', 1)[1], 'w') as f:\n"
               "            f.write('<testsuites><testsuite name=\"pytest\" tests=\"0\"/></testsuites>')\n"
               "sys.exit(5)\n"}});
  using corral::sandbox::testing::Entry;
  for (const char* layout : {"tests/test.py", "PKG/tests.py"}) {
    std::string name = std::string("demo_only") + (layout[0] == 't' ? "a" : "b");
    std::string rel = layout;
    if (rel.rfind("PKG", 0) == 0) rel = name + rel.substr(3);
    auto e = SdistEntries(name, PackageKind::kNoTests);
    if (rel.rfind("tests/", 0) == 0) e.push_back(Entry(name + "-1.0/tests/__init__.py", ""));
    e.push_back(Entry(name + "-1.0/" + rel,
                      "import unittest\nimport " + name + "\n\nclass T(unittest.TestCase):\n"
                      "    def test_add(self):\n        self.assertEqual(" + name + ".add(2, 3), 5)\n"));
    std::string err;
    std::filesystem::path sdist = tmp.path() / (name + "-1.0.tar.gz");
    REQUIRE(WriteArchive(sdist, e, &err));
    JobSpec spec;
    spec.input = sdist;
    spec.filename = sdist.filename().string();
    spec.project = name;
    spec.version = "1.0";
    spec.platform = platform;
    spec.work_dir = tmp.path() / ("work-" + name);
    std::filesystem::create_directories(spec.work_dir);
    spec.cache_dir = SharedCache();
    spec.wheelhouse = wh;
    spec.timeout_s = 300;
    JobResult r = RunJob(spec);
    INFO(layout << ": " << r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.tests_passed == 1);
    CHECK(r.test_run.runner == "unittest");
    CHECK(r.test_run.found_by.find("python_files = test*.py *_test.py (its modules are test.py / tests.py); run by "
                                   "unittest") != std::string::npos);
    CHECK(r.log.find("-o 'python_files=test*.py *_test.py'") != std::string::npos);
  }
}
