#include "demo/demo_network.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_server.h"
#include "common/pep440.h"
#include "coordinator/coordinator.h"
#include "demo/corpus.h"
#include "demo/local_index.h"
#include "sandbox/interpreters.h"
#include "volunteer/platform_choice.h"

namespace corral::demo {

namespace fs = std::filesystem;

namespace {

// Keeps only the newest wheel of each build tool: the index serves them for
// sandboxes that need them, and one release each is enough to test.
void KeepNewestToolWheels(const fs::path& dir) {
  std::map<std::string, std::pair<std::string, fs::path>> newest;
  std::vector<fs::path> drop;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    std::string name = de.path().filename().string(), project, version;
    bool is_wheel = false;
    if (!ParseDistFilename(name, &project, &version, &is_wheel) || !is_wheel) continue;
    if (project.rfind("corral-demo", 0) == 0) continue;
    auto it = newest.find(project);
    Version a, b;
    std::string err;
    if (it == newest.end()) {
      newest[project] = {version, de.path()};
    } else if (ParseVersion(version, &a, &err) && ParseVersion(it->second.first, &b, &err) &&
               CompareVersions(a, b) > 0) {
      drop.push_back(it->second.second);
      it->second = {version, de.path()};
    } else {
      drop.push_back(de.path());
    }
  }
  for (const auto& p : drop) fs::remove(p, ec);
}

struct Child {
  std::string name;
  pid_t pid = -1;
  fs::path log;
};

bool SpawnVolunteer(const DemoOptions& o, const std::string& coordinator, const std::string& name,
                    const fs::path& account_key, Child* child, std::string* err) {
  fs::path dir = o.data_dir / "volunteers" / name;
  fs::path log = o.data_dir / "logs" / (name + ".log");
  if (!EnsureDir(dir, err) || !EnsureDir(log.parent_path(), err)) return false;
  std::vector<std::string> args = {o.self.string(), "volunteer",     "--coordinator", coordinator,
                                   "--data",        dir.string(),    "--account",     account_key.string(),
                                   "--name",        name,            "--slots",       std::to_string(o.slots)};
  for (const auto& i : o.interpreters) {
    args.push_back("--interpreter");
    args.push_back(i);
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("cannot start a volunteer process: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    // The child must not inherit the demo's blocked signal mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  *child = {name, pid, log};
  return true;
}

void StopChildren(std::vector<Child>& children) {
  for (auto& c : children)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& c : children) {
    while (c.pid > 0) {
      int status;
      pid_t r = waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) {
        c.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        c.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

// The cells no demo volunteer can decide: the corpus expects infra_error
// there (the machine lacks what the package needs, e.g. Python.h for a C
// extension), which never votes, so the task stays pending until a capable
// volunteer comes. The matrix is complete without them.
int64_t StalledCells(const fs::path& index_dir, const DemoOptions& o) {
  std::vector<ExpectedPackage> pkgs;
  std::string err;
  if (!LoadExpected(index_dir / "expected.json", &pkgs, &err)) return 0;
  auto platforms = volunteer::ChoosePlatforms(sandbox::DiscoverInterpreters(nullptr), o.interpreters, {});
  int64_t n = 0;
  for (const auto& pkg : pkgs)
    for (const auto& [tag, p] : platforms) n += ExpectedOutcome(pkg, p) == "infra_error";
  return n;
}

// Prints the finished matrix the way the site shows it.
void PrintMatrix(coordinator::Coordinator& coord) {
  HttpRequest list_req;
  list_req.method = "GET";
  list_req.path = list_req.target = "/api/v1/projects";
  nlohmann::json list = nlohmann::json::parse(coord.Handle(list_req).body, nullptr, false);
  if (!list.is_object()) return;
  for (const auto& p : list.value("projects", nlohmann::json::array())) {
    std::string name = p.value("project", "");
    HttpRequest req;
    req.method = "GET";
    req.path = req.target = "/api/v1/projects/" + name;
    nlohmann::json proj = nlohmann::json::parse(coord.Handle(req).body, nullptr, false);
    if (!proj.is_object()) continue;
    for (const auto& v : proj.value("versions", nlohmann::json::array())) {
      std::string line = "  " + name + " " + v.value("version", "") + ":";
      for (const auto& plat : proj.value("platforms", nlohmann::json::array())) {
        const auto& cells = v.value("cells", nlohmann::json::object());
        std::string status = cells.contains(plat) ? cells[plat].value("status", "?") : "-";
        std::string tag = plat.get<std::string>();
        line += " " + tag.substr(0, tag.find('-')) + "=" + status;
      }
      std::printf("%s\n", line.c_str());
    }
  }
  std::fflush(stdout);
}

// The console shows progress and the matrix; the coordinator's and the
// index's lines (a line per published wheel, each sync) go to `log_file`,
// and only errors reach the console too (warnings, such as the demo index's
// deliberate 503s, stay in the file). Returns false (and
// leaves the logger as it was) when the file cannot be opened.
bool LogToFile(const fs::path& log_file, std::string* err) {
  try {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), /*truncate=*/false);
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_level(spdlog::level::err);
    auto logger = std::make_shared<spdlog::logger>("corral", spdlog::sinks_init_list{file, console});
    logger->set_level(spdlog::default_logger()->level());
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    return true;
  } catch (const spdlog::spdlog_ex& e) {
    *err = std::string("cannot open the demo's log ") + log_file.string() + ": " + e.what();
    return false;
  }
}

}  // namespace

int RunDemo(const DemoOptions& o, std::atomic<bool>* stop) {
  InitCrypto();
  std::string err;
  fs::path index_dir = o.data_dir / "index";
  if (!EnsureDir(index_dir, &err) || !WriteDemoCorpus(index_dir, &err) ||
      !CopyBuildToolWheels(index_dir, &err)) {
    spdlog::error("demo corpus: {}", err);
    return 2;
  }
  KeepNewestToolWheels(index_dir);
  const fs::path log_file = o.data_dir / "demo.log";
  if (!LogToFile(log_file, &err)) spdlog::warn("{}; the coordinator's lines stay on the console", err);

  LocalIndex index;
  if (!index.Load(index_dir, &err)) {
    spdlog::error("local index: {}", err);
    return 2;
  }
  std::atomic<int> flaky_refusals{0};
  HttpServer index_server([&](const HttpRequest& r) {
    if (r.path == std::string("/simple/") + kFlakyIndexProject + "/" && flaky_refusals++ < kFlakyIndexRefusals)
      return HttpResponse::Error(503, "maintenance", "the index is in maintenance; try again soon");
    return index.Handle(r);
  });
  // A stable port (the site's + 1): the coordinator stores absolute file
  // URLs, so a demo restarted on the same data must find its index again.
  int index_port = o.port > 0 && o.port < 65535 ? o.port + 1 : 0;
  if (!index_server.Start("127.0.0.1", index_port, &err) && index_port != 0) {
    spdlog::warn("local index: {}; using any free port instead (tasks stored by an earlier run on "
                 "this data folder will not find their files)", err);
    index_port = 0;
  }
  if (index_port == 0 && index_server.port() == 0 && !index_server.Start("127.0.0.1", 0, &err)) {
    spdlog::error("local index: {}", err);
    return 2;
  }
  std::string index_url = "http://127.0.0.1:" + std::to_string(index_server.port()) + "/simple/";

  // The site's port is known only once it listens, and the coordinator needs
  // it for the reproduce commands it prints: listen first, serve 503 until
  // the coordinator is open.
  std::atomic<coordinator::Coordinator*> serving{nullptr};
  HttpServerOptions site_http;
  site_http.route_body_limit = coordinator::Coordinator::BodyLimitFor;
  site_http.check_headers = [&](const HttpRequest& r) -> std::optional<HttpResponse> {
    coordinator::Coordinator* c = serving.load();
    return c ? c->CheckHeaders(r) : std::nullopt;
  };
  HttpServer site([&](const HttpRequest& r) {
    coordinator::Coordinator* c = serving.load();
    return c ? c->Handle(r) : HttpResponse::Error(503, "starting", "the coordinator is starting");
  }, site_http);
  if (!site.Start("127.0.0.1", o.port, &err)) {
    spdlog::error("site: {}", err);
    return 2;
  }
  std::string url = "http://127.0.0.1:" + std::to_string(site.port());
  coordinator::Options copts;
  copts.data_dir = o.data_dir / "coordinator";
  copts.index_url = index_url;
  copts.public_url = url;
  copts.sync_interval_s = 30;
  // Every demo volunteer runs on this machine, from 127.0.0.1: the rule that
  // agreeing results come from distinct networks would never let them agree.
  // Every verdict shows its two agreeing results (no single replicas), and
  // the two local volunteers are not held back by a new volunteer's quota.
  copts.distinct_prefix = false;
  copts.adaptive_replication = false;
  copts.initial_daily_quota = 100000;
  // A machine fault (the flaky index's infra_error) is retried by the same
  // account after 15 s instead of ten minutes: the demo has only two.
  copts.machine_fault_retry_s = 15;
  // The demo's two accounts are the operator's own builders: trusted, and
  // verdicts need standing as on `corral serve`.
  copts.require_standing = true;
  for (const char* account : {"alice", "bob"}) {
    fs::path key_file = o.data_dir / "accounts" / (std::string(account) + ".key");
    bool created = false;
    auto key = SigningKey::LoadOrCreate(key_file, &created, &err);
    if (!key) {
      spdlog::error("account {}: {}", account, err);
      return 2;
    }
    copts.trusted_accounts.push_back(key->public_hex());
  }
  coordinator::Coordinator coord(copts);
  if (!coord.Open(&err)) {
    spdlog::error("coordinator: {}", err);
    return 2;
  }
  serving = &coord;
  if (!coord.SyncOnce(&err)) spdlog::warn("first index sync: {}", err);
  coord.StartBackground();

  std::printf("Corral demo\n  local index: %s (%zu projects)\n  site:        %s/\n", index_url.c_str(),
              index.ProjectNames().size(), url.c_str());
  std::printf("  data:        %s\n  log:         %s (the coordinator and the index: syncs, verdicts, "
              "published wheels)\n  Ctrl-C stops everything the demo started.\n",
              o.data_dir.c_str(), log_file.c_str());
  std::fflush(stdout);

  std::vector<Child> children;
  for (const char* account : {"alice", "bob"}) {
    fs::path key_file = o.data_dir / "accounts" / (std::string(account) + ".key");
    Child child;
    if (!SpawnVolunteer(o, url, account, key_file, &child, &err)) {
      spdlog::error("{}", err);
      StopChildren(children);
      return 2;
    }
    std::printf("  volunteer %-6s pid %d, log %s\n", account, child.pid, child.log.c_str());
    children.push_back(child);
  }
  std::fflush(stdout);

  const int64_t stalled = StalledCells(index_dir, o);
  bool tty = isatty(1);
  bool done_reported = false;
  int rc = 0;
  auto started = std::chrono::steady_clock::now();
  auto last_line = started - std::chrono::seconds(60);
  while (!stop->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto p = coord.GetProgress();
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - started).count();
    bool complete = p.tasks > 0 && p.pending <= stalled;
    if (tty || now - last_line > std::chrono::seconds(10) || (complete && !done_reported)) {
      std::printf("%s[%5.0f s] tasks %lld, verdicts %lld, pending %lld, leased %lld, results %lld%s",
                  tty ? "\r" : "", elapsed, static_cast<long long>(p.tasks),
                  static_cast<long long>(p.verdicts), static_cast<long long>(p.pending),
                  static_cast<long long>(p.leased), static_cast<long long>(p.results), tty ? "   " : "\n");
      std::fflush(stdout);
      last_line = now;
    }
    if (complete && !done_reported) {
      done_reported = true;
      std::printf("%severy task has a verdict after %.0f s%s:\n", tty ? "\n" : "", elapsed,
                  stalled ? (" (but " + std::to_string(stalled) +
                             " that no volunteer here can build: they wait for one that can)")
                                .c_str()
                          : "");
      PrintMatrix(coord);
      std::printf("The matrix is at %s/ - Ctrl-C stops the demo.\n", url.c_str());
      std::fflush(stdout);
      if (o.exit_when_done) break;
    }
    for (auto& c : children) {
      int status;
      if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) {
        spdlog::error("volunteer {} exited (status {}); see {}", c.name, status, c.log.string());
        c.pid = -1;
        rc = 1;
      }
    }
    bool any_alive = false;
    for (auto& c : children) any_alive = any_alive || c.pid > 0;
    if (!any_alive && !complete) {
      spdlog::error("every volunteer stopped before the matrix was complete");
      break;
    }
  }
  std::printf("%sstopping: volunteers, coordinator, index\n", tty ? "\n" : "");
  std::fflush(stdout);
  StopChildren(children);
  site.Stop();
  coord.Stop();
  index_server.Stop();
  return rc;
}

}  // namespace corral::demo
