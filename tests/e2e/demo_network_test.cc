// End to end on the real binary: `corral demo` starts the local index, the
// coordinator and two volunteer processes under two accounts; they build and
// test every demo package in bubblewrap on real interpreters, sign their
// results, and the coordinator turns agreeing pairs into verdicts. The test
// then reads the matrix over HTTP and checks every cell against the
// package's known behaviour (expected.json, written by the corpus generator).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <set>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "demo/corpus.h"
#include "sandbox/interpreters.h"
#include "tests/e2e/e2e_checks.h"

namespace fs = std::filesystem;
using namespace corral;

namespace {

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string Tail(const fs::path& file, size_t bytes = 4000) {
  FILE* f = std::fopen(file.c_str(), "r");
  if (!f) return "";
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

// The interpreters the test runs on: an old one, a modern one with headers,
// and PyPy, as far as the machine has them (at least three here).
std::vector<Platform> PickInterpreters() {
  std::vector<std::string> wanted = {"/root/.pyenv/versions/2.7.18/bin/python",
                                     "/root/.pyenv/versions/3.6.15/bin/python",
                                     "/root/.pyenv/versions/3.12.1/bin/python", "/usr/bin/pypy3"};
  std::vector<Platform> out;
  for (const auto& path : wanted) {
    Platform p;
    std::string err;
    if (fs::exists(path) && sandbox::ProbeInterpreter(path, &p, &err)) out.push_back(p);
  }
  if (out.size() < 3) {
    // Another machine: take whatever is there.
    std::vector<std::string> notes;
    out = sandbox::DiscoverInterpreters(&notes);
  }
  return out;
}

}  // namespace

TEST_CASE("corral demo: every demo package's verdict matches its known behaviour on each interpreter",
          "[e2e]") {
  InitCrypto();
  std::vector<Platform> platforms = PickInterpreters();
  REQUIRE(platforms.size() >= 2);
  std::map<std::string, Platform> by_tag;
  for (const auto& p : platforms) by_tag.emplace(p.Tag().ToString(), p);

  fs::path data = fs::temp_directory_path() / ("corral-e2e-" + RandomHex(4));
  fs::create_directories(data);
  int port = corral::FreeLoopbackPort();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {CORRAL_BINARY, "demo", "--port", std::to_string(port), "--data",
                                   (data / "demo").string()};
  for (const auto& [tag, p] : by_tag) {
    args.push_back("--interpreter");
    args.push_back(p.interpreter_path);
  }
  fs::path log = data / "demo.log";
  pid_t demo = Spawn(args, log);
  REQUIRE(demo > 0);

  HttpClient http;
  auto get = [&](const std::string& path) {
    HttpResult r = http.Get(base + path, {{"Accept", "application/json"}});
    return r.ok() ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
  };

  // Cells whose task can get no verdict from these volunteers (expected
  // "infra_error": the machine lacks what it needs, e.g. Python.h): they
  // stay pending, waiting for a capable volunteer.
  auto stalled = [&]() {
    std::vector<ExpectedPackage> pkgs;
    std::string e;
    long long n = 0;
    if (LoadExpected(data / "demo" / "index" / "expected.json", &pkgs, &e))
      for (const auto& pkg : pkgs)
        for (const auto& [tag, platform] : by_tag) n += ExpectedOutcome(pkg, platform) == "infra_error";
    return n;
  };
  // Wait until every other task has a verdict (or the demo dies, or 20 minutes).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(20);
  bool complete = false;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(demo, &status, WNOHANG) == demo) FAIL("corral demo exited early:\n" << Tail(log));
    nlohmann::json list = get("/api/v1/projects");
    if (list.is_object() && list.contains("stats")) {
      auto stats = list["stats"];
      long long pending = 0;
      for (const auto& p : list["projects"]) pending += p.value("pending", 0);
      if (stats.value("tasks", 0) > 0 && pending <= stalled()) {
        complete = true;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  INFO("demo log:\n" << Tail(log));
  REQUIRE(complete);

  std::vector<ExpectedPackage> expected;
  std::string err;
  REQUIRE(LoadExpected(data / "demo" / "index" / "expected.json", &expected, &err));
  REQUIRE(expected.size() >= 7);

  int checked = 0;
  for (const auto& pkg : expected) {
    nlohmann::json proj = get("/api/v1/projects/" + pkg.project);
    INFO(pkg.project << " " << pkg.version << ": " << pkg.behaviour);
    REQUIRE(proj.is_object());
    const nlohmann::json* version = nullptr;
    for (const auto& v : proj["versions"])
      if (v.value("version", "") == pkg.version) version = &v;
    REQUIRE(version != nullptr);
    for (const auto& [tag, platform] : by_tag) {
      INFO("platform " << tag << " (" << platform.interpreter_path << ")");
      REQUIRE((*version)["cells"].contains(tag));
      const auto& cell = (*version)["cells"][tag];
      std::string want = ExpectedOutcome(pkg, platform);
      if (want == "infra_error") want = "pending";  // never a verdict: see stalled()
      CHECK(cell.value("status", "") == want);
      if (want != "unsupported" && want != "pending") CHECK(cell.value("agreeing", 0) >= 2);
      ++checked;
    }
  }
  CHECK(checked == static_cast<int>(expected.size() * by_tag.size()));

  // A verdict's evidence: two volunteers of different accounts, signed results, logs.
  nlohmann::json pure = get("/api/v1/projects/corral-demo-pure");
  std::string some_task = pure["versions"][0]["cells"].begin().value().value("task_id", "");
  nlohmann::json task = get("/api/v1/tasks/" + some_task);
  REQUIRE(task.is_object());
  std::set<std::string> accounts;
  for (const auto& r : task["results"]) {
    accounts.insert(r.value("account", ""));
    CHECK(!r.value("log_sha256", "").empty());
  }
  CHECK(accounts.size() >= 2);
  CHECK(task.value("reproduce", "").find("corral reproduce") != std::string::npos);

  // The lookup, as JSON and from the command line.
  std::string py = "";
  for (const auto& [tag, p] : by_tag)
    if (p.implementation == "cpython" && p.python_version.rfind("3.", 0) == 0) py = p.Tag().PythonVersion();
  if (!py.empty()) {
    nlohmann::json compat = get("/api/v1/compat?project=corral-demo-pure&os=linux&python=" + py);
    CHECK(compat.value("answer", "") == "yes");
    std::string cmd = std::string(CORRAL_BINARY) + " lookup corral-demo-badimport --os linux --python " + py +
                      " --coordinator " + base + " > " + (data / "lookup.txt").string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    CHECK(WEXITSTATUS(rc) == 1);  // "no": it does not import
    CHECK(Tail(data / "lookup.txt").find("No") != std::string::npos);
  }

  // Anyone can rerun a verdict's task locally and see the same outcome.
  {
    nlohmann::json bad = get("/api/v1/projects/corral-demo-badimport");
    std::string bad_task = bad["versions"][0]["cells"].begin().value().value("task_id", "");
    std::string cmd = std::string(CORRAL_BINARY) + " reproduce " + bad_task + " --coordinator " + base +
                      " --data " + (data / "reproduce").string() + " > " + (data / "reproduce.txt").string() +
                      " 2>&1";
    int rc = std::system(cmd.c_str());
    std::string out = Tail(data / "reproduce.txt", 100000);
    INFO(out.substr(out.size() > 3000 ? out.size() - 3000 : 0));
    CHECK(WEXITSTATUS(rc) == 0);
    CHECK(out.find("== outcome here: import_failed") != std::string::npos);
    CHECK(out.find("bwrap") != std::string::npos);  // the exact commands are shown
  }
  // The flaky index: a volunteer met its refusal and said infra_error
  // (which never voted); the verdicts are right all the same (checked above).
  {
    nlohmann::json flaky = get("/api/v1/projects/corral-demo-flaky");
    int infra = 0;
    for (const auto& [tag, cell] : flaky["versions"][0]["cells"].items()) {
      nlohmann::json task = get("/api/v1/tasks/" + cell.value("task_id", ""));
      for (const auto& res : task.value("results", nlohmann::json::array()))
        if (res.value("outcome", "") == "infra_error") {
          ++infra;
          CHECK(res.value("summary", "").find("fetching from the index failed") != std::string::npos);
        }
    }
    CHECK(infra >= 1);
  }
  // A package whose runtime dependencies come from the index: reproduce
  // fetches them through its own prepare rounds, as the daemon did.
  {
    nlohmann::json app = get("/api/v1/projects/corral-demo-app");
    std::string app_task = app["versions"][0]["cells"].begin().value().value("task_id", "");
    std::string cmd = std::string(CORRAL_BINARY) + " reproduce " + app_task + " --coordinator " + base +
                      " --data " + (data / "reproduce").string() + " > " + (data / "reproduce-app.txt").string() +
                      " 2>&1";
    int rc = std::system(cmd.c_str());
    std::string out = Tail(data / "reproduce-app.txt", 200000);
    INFO(out.substr(out.size() > 4000 ? out.size() - 4000 : 0));
    CHECK(WEXITSTATUS(rc) == 0);
    CHECK(out.find("== outcome here: passed") != std::string::npos);
    CHECK(out.find("prepare round 1 (online, through the index proxy only)") != std::string::npos);
    CHECK(out.find("runtime: the dependencies of corral_demo_app-1.0.0") != std::string::npos);
  }

  // The site shows the matrix.
  HttpResult page = http.Get(base + "/projects/corral-demo-refcount");
  CHECK(page.ok());
  CHECK(page.body.find("tests failed") != std::string::npos);

  // What the public sees of the finished network: pip installing from the
  // wheel index, and the site in a real browser.
  DemoRun run{base, data, data / "demo", E2eOutputDir(), by_tag};
  CheckWheelIndex(run);
  CheckSiteInBrowser(run);

  // The console shows progress and the matrix; the line per published wheel
  // is in the demo's log file.
  {
    std::string console = Tail(log, 1 << 20);
    std::string demo_log = Tail(data / "demo" / "demo.log", 1 << 22);
    CHECK(console.find("tasks ") != std::string::npos);
    CHECK(console.find("wheel index: published") == std::string::npos);
    CHECK(demo_log.find("wheel index: published") != std::string::npos);
  }

  // Ctrl-C stops everything the demo started.
  kill(demo, SIGINT);
  int status = 0;
  auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  pid_t r = 0;
  while ((r = waitpid(demo, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < stop_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(r == demo);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(http.Get(base + "/api/v1/projects").ok());

  // The stopped network's data, exported as static files and served by nginx.
  CheckStaticExport(run);
  std::error_code ec;
  fs::remove_all(data, ec);
}
