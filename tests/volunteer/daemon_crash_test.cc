// The volunteer daemon as a person leaves it running, on the real binary:
// `corral index` serves a few demo sdists, `corral serve` coordinates with
// short leases, `corral volunteer` builds and tests them in bubblewrap on one
// real interpreter. The tests then do to the daemon what happens to it in
// life: kill -9 in the middle of a build and in the middle of a submission
// (through the test-only CORRAL_TEST_CRASH hook, see volunteer/daemon.h),
// the coordinator going away for a while, SIGTERM mid-task, a corrupt
// journal entry, SIGHUP after the configuration changed. What is checked is
// what the coordinator ends up with: every result exactly once per lease, no
// double credit, no lease left hanging.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"

namespace fs = std::filesystem;
using namespace corral;
using Clock = std::chrono::steady_clock;

namespace {

// Small sdists of the demo corpus that build fast on any CPython 3.
const std::vector<std::string> kSdists = {"corral_demo_notests-1.0.0.tar.gz", "corral_demo_pure-0.9.0.tar.gz",
                                          "corral_demo_refcount-1.0.0.tar.gz", "corral_demo_pure-1.0.0.tar.gz"};

std::string Python() {
  for (const char* p : {"/root/.pyenv/versions/3.12.1/bin/python", "/root/.pyenv/versions/3.11.7/bin/python",
                        "/usr/bin/python3.11", "/usr/bin/python3"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

// A second interpreter, for the reload test.
std::string OtherPython(const std::string& first) {
  for (const char* p : {"/root/.pyenv/versions/3.11.7/bin/python", "/root/.pyenv/versions/3.10.13/bin/python",
                        "/usr/bin/python3.11"})
    if (access(p, X_OK) == 0 && p != first) return p;
  return "";
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

std::string Tail(const fs::path& p, size_t bytes = 6000) {
  std::string s = Slurp(p);
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

bool WaitFor(const std::function<bool()>& done, double seconds) {
  auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// A process this test started, with its output in `log`.
struct Proc {
  pid_t pid = -1;
  fs::path log;
  int status = 0;
  bool reaped = false;

  bool Running() {
    if (pid <= 0 || reaped) return false;
    if (waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    return !reaped;
  }
  // Waits up to `seconds` for the process to end by itself.
  bool WaitExit(double seconds) {
    return WaitFor([&] { return !Running(); }, seconds);
  }
  void Kill(int sig) {
    if (Running()) kill(pid, sig);
  }
  void KillAndReap() {
    if (!Running()) return;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    reaped = true;
  }
  bool KilledBy(int sig) const { return reaped && WIFSIGNALED(status) && WTERMSIG(status) == sig; }
  bool ExitedWith(int code) const { return reaped && WIFEXITED(status) && WEXITSTATUS(status) == code; }
};

Proc Spawn(const std::vector<std::string>& args, const fs::path& log,
           const std::vector<std::pair<std::string, std::string>>& env = {}) {
  Proc p;
  p.log = log;
  p.pid = fork();
  if (p.pid == 0) {
    FILE* f = std::fopen(log.c_str(), "a");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return p;
}

// The demo corpus, written once per test process by `corral index --demo`
// and removed when the process exits.
fs::path DemoCorpus() {
  static fs::path dir;
  struct RemoveAtExit {
    fs::path path;
    ~RemoveAtExit() {
      std::error_code ec;
      if (!path.empty()) fs::remove_all(path, ec);
    }
  };
  static RemoveAtExit cleanup;
  if (!dir.empty()) return dir;
  fs::path d = fs::temp_directory_path() / ("corral-crash-corpus-" + RandomHex(4));
  fs::create_directories(d);
  cleanup.path = d;
  Proc index = Spawn({CORRAL_BINARY, "index", (d / "files").string(), "--demo", "--listen", "127.0.0.1:0"},
                     d / "index.log");
  bool written = WaitFor([&] { return Slurp(d / "index.log").find("index of") != std::string::npos; }, 120);
  index.KillAndReap();
  INFO(Slurp(d / "index.log"));
  REQUIRE(written);
  dir = d / "files";
  return dir;
}

// One coordinator with its index, and the volunteers of a test, all under
// one temporary folder; everything is killed when the test ends.
class Network {
 public:
  // `sdists`: how many of kSdists the index serves (0: no index at all).
  Network(size_t sdists, int lease_seconds)
      : dir_(fs::temp_directory_path() / ("corral-crash-" + RandomHex(4))), lease_seconds_(lease_seconds) {
    fs::create_directories(dir_);
    InitCrypto();
    if (sdists > 0) {
      fs::path corpus = DemoCorpus();
      fs::create_directories(dir_ / "index");
      for (size_t i = 0; i < sdists && i < kSdists.size(); ++i)
        fs::copy_file(corpus / kSdists[i], dir_ / "index" / kSdists[i]);
      int port = corral::FreeLoopbackPort();
      index_url_ = "http://127.0.0.1:" + std::to_string(port) + "/simple/";
      procs_.push_back(Spawn({CORRAL_BINARY, "index", (dir_ / "index").string(), "--listen",
                              "127.0.0.1:" + std::to_string(port)},
                             dir_ / "index.log"));
      REQUIRE(WaitFor([&] { return HttpClient().Get(index_url_).ok(); }, 30));
    }
    coordinator_port_ = corral::FreeLoopbackPort();
    url = "http://127.0.0.1:" + std::to_string(coordinator_port_);
    StartCoordinator();
  }
  ~Network() {
    coordinator_.KillAndReap();
    for (auto& p : procs_) p.KillAndReap();
    for (auto& [name, p] : volunteers_) p.KillAndReap();
    std::error_code ec;
    if (std::uncaught_exceptions() == 0 && !std::getenv("CORRAL_KEEP_TEST_FILES")) {
      fs::remove_all(dir_, ec);
      return;
    }
    // A REQUIRE failed (or CORRAL_KEEP_TEST_FILES is set): keep everything
    // and show the logs' ends.
    std::fprintf(stderr, "daemon test failed; its files stay in %s\n", dir_.c_str());
    for (const auto& e : fs::directory_iterator(dir_, ec))
      if (e.path().extension() == ".log")
        std::fprintf(stderr, "==== %s (end)\n%s\n", e.path().c_str(), Tail(e.path(), 3000).c_str());
  }

  void StartCoordinator() {
    std::vector<std::string> args = {CORRAL_BINARY, "serve", "--data", (dir_ / "coordinator").string(),
                                     "--listen", "127.0.0.1:" + std::to_string(coordinator_port_),
                                     "--lease-seconds", std::to_string(lease_seconds_),
                                     // every volunteer of the test is on 127.0.0.1
                                     "--one-network",
                                     // and most tests have one account, whose tags are the platforms
                                     "--platform-accounts", "1",
                                     // accounts are made after the coordinator starts: these tests are
                                     // about crash safety, not standing (tests/coordinator/standing_test.cc)
                                     "--no-standing"};
    if (!index_url_.empty()) args.insert(args.end(), {"--index", index_url_});
    coordinator_ = Spawn(args, dir_ / "coordinator.log");
    INFO(Tail(dir_ / "coordinator.log"));
    REQUIRE(WaitFor([&] { return HttpClient().Get(url + "/api/v1/projects").ok(); }, 60));
  }
  Proc& coordinator() { return coordinator_; }

  fs::path Account(const std::string& name) {
    fs::path accounts = dir_ / "accounts";
    Proc p = Spawn({CORRAL_BINARY, "account", "create", name, "--dir", accounts.string()}, dir_ / "account.log");
    REQUIRE(p.WaitExit(30));
    REQUIRE(p.ExitedWith(0));
    return accounts / (name + ".key");
  }

  fs::path DataOf(const std::string& name) const { return dir_ / ("volunteer-" + name); }
  fs::path LogOf(const std::string& name) const { return dir_ / ("volunteer-" + name + ".log"); }

  // Starts (or restarts: same data folder, log appended) a volunteer. The
  // network owns the process (killed at the end of the test, if still running).
  Proc& StartVolunteer(const std::string& name, const fs::path& account, const std::string& crash = "",
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {CORRAL_BINARY, "volunteer", "--coordinator", url, "--account",
                                     account.string(), "--data", DataOf(name).string(), "--name", name,
                                     "--interpreter", Python(), "--ionice", "best-effort"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::pair<std::string, std::string>> env;
    if (!crash.empty()) env.push_back({"CORRAL_TEST_CRASH", crash});
    std::ofstream(LogOf(name), std::ios::app) << "---- test: starting the volunteer" << (crash.empty() ? "" : " with CORRAL_TEST_CRASH=" + crash) << "\n";
    return Adopt(name, Spawn(args, LogOf(name), env));
  }
  Proc& Adopt(const std::string& name, Proc p) {
    Proc& slot = volunteers_[name];
    slot.KillAndReap();  // a restart replaces a process that has ended
    slot = p;
    return slot;
  }

  nlohmann::json Get(const std::string& path) const {
    HttpResult r = HttpClient().Get(url + path, {{"Accept", "application/json"}});
    return r.ok() ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
  }
  // Every task of the index's projects on the one platform: id -> cell.
  std::map<std::string, nlohmann::json> Tasks() const {
    std::map<std::string, nlohmann::json> out;
    nlohmann::json list = Get("/api/v1/projects");
    if (!list.is_object()) return out;
    for (const auto& p : list.value("projects", nlohmann::json::array())) {
      nlohmann::json m = Get("/api/v1/projects/" + p.value("project", ""));
      if (!m.is_object()) continue;
      for (const auto& v : m.value("versions", nlohmann::json::array())) {
        const nlohmann::json cells = v.value("cells", nlohmann::json::object());
        for (const auto& [tag, cell] : cells.items())
          if (cell.contains("task_id") && cell["task_id"].is_string()) out[cell["task_id"]] = cell;
      }
    }
    return out;
  }
  nlohmann::json Results(const std::string& task_id) const {
    nlohmann::json t = Get("/api/v1/tasks/" + task_id);
    return t.is_object() ? t.value("results", nlohmann::json::array()) : nlohmann::json::array();
  }
  // Every task has at least `per_task` results.
  bool AllHaveResults(size_t per_task, size_t tasks) const {
    auto all = Tasks();
    if (all.size() < tasks) return false;
    for (const auto& [id, cell] : all)
      if (Results(id).size() < per_task) return false;
    return true;
  }
  int64_t ActiveLeases() const {
    HttpResult r = HttpClient().Get(url + "/metrics");
    size_t pos = r.body.find("\ncorral_leases_outstanding ");
    return pos == std::string::npos ? -1 : std::atoll(r.body.c_str() + pos + 27);
  }

  std::string url;

 private:
  fs::path dir_;
  int lease_seconds_;
  int coordinator_port_ = 0;
  std::string index_url_;
  Proc coordinator_;
  std::vector<Proc> procs_;
  std::map<std::string, Proc> volunteers_;
};

nlohmann::json Status(const fs::path& data) {
  return nlohmann::json::parse(Slurp(data / "status.json"), nullptr, false);
}

// The slot of a task being built, once there is one.
nlohmann::json BuildingSlot(const fs::path& data) {
  nlohmann::json s = Status(data);
  if (!s.is_object()) return nullptr;
  for (const auto& r : s.value("running", nlohmann::json::array()))
    if (r.value("phase", "") == "building") return r;
  return nullptr;
}

std::vector<fs::path> JournalEntries(const fs::path& data) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(data / "journal", ec))
    if (e.path().extension() == ".json") out.push_back(e.path());
  return out;
}

// Checks that hold after every test: one result per lease, at most one per
// volunteer and task, and no lease reported cancelled while it ran.
void CheckExactlyOnce(const Network& net, const std::vector<fs::path>& logs) {
  for (const auto& [id, cell] : net.Tasks()) {
    std::set<std::string> leases, volunteers;
    for (const auto& r : net.Results(id)) {
      CHECK(leases.insert(r.value("lease_id", "")).second);
      CHECK(volunteers.insert(r.value("volunteer_id", "")).second);
    }
  }
  for (const auto& log : logs) {
    std::string text = Slurp(log);
    INFO(log.string());
    CHECK(Count(text, "was cancelled by the coordinator") == 0);
  }
}

}  // namespace

TEST_CASE("daemon: kill -9 during a build, restart: the lease is returned and the task redone at once",
          "[daemon-crash]") {
  REQUIRE_FALSE(Python().empty());
  Network net(3, 90);
  fs::path alice_key = net.Account("alice");
  Proc& alice = net.StartVolunteer("alice", alice_key);
  fs::path data = net.DataOf("alice");

  nlohmann::json slot;
  REQUIRE(WaitFor([&] { return !(slot = BuildingSlot(data)).is_null(); }, 180));
  std::string lease = slot["lease_id"], task = slot["task_id"];
  int64_t deadline = slot["lease_deadline"];
  alice.KillAndReap();
  CHECK(fs::exists(data / "leases" / (lease + ".lease")));  // what the restart finds
  CHECK(net.Results(task).empty());

  net.StartVolunteer("alice", alice_key);
  REQUIRE(WaitFor([&] { return Slurp(net.LogOf("alice")).find("returned 1 lease(s) a previous run") != std::string::npos; },
                  60));
  CHECK_FALSE(fs::exists(data / "leases" / (lease + ".lease")));
  REQUIRE(WaitFor([&] { return net.AllHaveResults(1, 3); }, 240));

  auto results = net.Results(task);
  REQUIRE(results.size() == 1);
  CHECK(results[0]["lease_id"] != lease);  // a new lease, not the killed one
  // Re-issued on return, long before the killed lease would have expired.
  CHECK(results[0]["received_at"].get<int64_t>() < deadline);
  REQUIRE(WaitFor([&] { return JournalEntries(data).empty(); }, 30));
  CheckExactlyOnce(net, {net.LogOf("alice")});
  CHECK(alice.Running());

  // What `corral volunteer status` shows of it, once the last task's thread is done.
  REQUIRE(WaitFor([&] {
    nlohmann::json st = Status(data);
    return st.is_object() && st.value("running", nlohmann::json::array()).empty();
  }, 30));
  fs::path shown_file = data.parent_path() / "status.txt";
  Proc status = Spawn({CORRAL_BINARY, "volunteer", "status", "--data", data.string()}, shown_file);
  REQUIRE(status.WaitExit(30));
  CHECK(status.ExitedWith(0));
  std::string shown = Slurp(shown_file);
  INFO(shown);
  CHECK(shown.find("running (pid " + std::to_string(alice.pid) + ")") != std::string::npos);
  CHECK(shown.find("(reachable)") != std::string::npos);
  CHECK(shown.find("isolation:   bwrap:") != std::string::npos);
  CHECK(shown.find("verified result(s)), as the coordinator said at") != std::string::npos);
  CHECK(shown.find("slot 1: idle") != std::string::npos);
  CHECK(shown.find("corral-demo-") != std::string::npos);  // the last results
}

TEST_CASE("daemon: a data folder the sandbox could see is refused before a key is written there", "[daemon]") {
  REQUIRE_FALSE(Python().empty());
  // The interpreter's own prefix is bound into every sandbox read-only.
  fs::path prefix = fs::canonical(Python()).parent_path().parent_path();
  fs::path inside = prefix / ("corral-test-data-" + RandomHex(4));
  Network net(0, 90);
  fs::path key = net.Account("alice");
  fs::path log = net.LogOf("alice");
  Proc p = Spawn({CORRAL_BINARY, "volunteer", "--coordinator", net.url, "--account", key.string(), "--data",
                  inside.string(), "--interpreter", Python()},
                 log);
  REQUIRE(p.WaitExit(60));
  INFO(Slurp(log));
  CHECK(p.ExitedWith(2));
  CHECK(Slurp(log).find("would be visible inside the sandbox, which binds " + prefix.string()) != std::string::npos);
  CHECK_FALSE(fs::exists(inside));
}

TEST_CASE("daemon: kill -9 between journal and acknowledgement, restart: delivered exactly once, credit once; "
          "a corrupt journal entry is set aside",
          "[daemon-crash]") {
  REQUIRE_FALSE(Python().empty());
  Network net(2, 90);
  fs::path alice_key = net.Account("alice"), bob_key = net.Account("bob");
  net.StartVolunteer("bob", bob_key);
  fs::path data = net.DataOf("alice");

  // 1. The first result is journalled, then the daemon dies before submitting it.
  Proc& alice = net.StartVolunteer("alice", alice_key, "after-journal");
  REQUIRE(alice.WaitExit(240));
  REQUIRE(alice.KilledBy(SIGKILL));
  auto entries = JournalEntries(data);
  REQUIRE(entries.size() == 1);
  std::string lease = entries[0].stem().string();
  nlohmann::json entry = nlohmann::json::parse(Slurp(entries[0]), nullptr, false);
  std::string payload_text;
  REQUIRE(Base64Decode(entry["envelope"]["payload"].get<std::string>(), &payload_text));
  std::string task = nlohmann::json::parse(payload_text)["task_id"];
  auto for_lease = [&] {
    size_t n = 0;
    for (const auto& r : net.Results(task)) n += r.value("lease_id", "") == lease;
    return n;
  };
  CHECK(for_lease() == 0);

  // A corrupt entry beside it: set aside with an error at the next start, never fatal.
  std::ofstream(data / "journal" / "0123abcd.json") << "{\"lease_id\": \"0123abcd\", \"envel";

  // 2. Restarted, it submits the journalled result and dies once the
  //    coordinator acknowledged it, before forgetting it.
  net.StartVolunteer("alice", alice_key, "after-submit");
  REQUIRE(alice.WaitExit(120));
  REQUIRE(alice.KilledBy(SIGKILL));
  CHECK(for_lease() == 1);
  CHECK(fs::exists(data / "journal" / (lease + ".json")));  // not known to be delivered yet

  // 3. Restarted again: it resubmits, the coordinator says it had it, and
  //    the journal empties; then it works on normally.
  net.StartVolunteer("alice", alice_key);
  REQUIRE(WaitFor([&] { return !fs::exists(data / "journal" / (lease + ".json")); }, 60));
  CHECK(for_lease() == 1);
  std::string log = Slurp(net.LogOf("alice"));
  CHECK(log.find("it had it already") != std::string::npos);
  CHECK(log.find("0123abcd.json is unreadable or incomplete; moved to") != std::string::npos);
  CHECK(fs::exists(data / "journal" / "corrupt" / "0123abcd.json"));

  // Both tasks reach a verdict from alice and bob.
  REQUIRE(WaitFor([&] {
    auto tasks = net.Tasks();
    if (tasks.size() < 2) return false;
    for (const auto& [id, cell] : tasks)
      if (cell.value("status", "pending") == "pending") return false;
    return true;
  }, 240));
  CHECK(alice.Running());
  CheckExactlyOnce(net, {net.LogOf("alice"), net.LogOf("bob")});

  // No double credit: alice and bob agreed on the same two tasks, so they
  // earned the same; a resubmission counted twice would show in alice's.
  nlohmann::json board = net.Get("/api/v1/leaderboard?window=all");
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& v : board.value("volunteers", nlohmann::json::array())) by_name[v.value("name", "")] = v;
  REQUIRE(by_name.count("alice"));
  REQUIRE(by_name.count("bob"));
  CHECK(by_name["alice"]["verified_results"] == 2);
  CHECK(by_name["bob"]["verified_results"] == 2);
  CHECK(by_name["alice"]["credit"].get<double>() == Approx(by_name["bob"]["credit"].get<double>()));
  CHECK(by_name["alice"]["credit"].get<double>() > 0);
}

TEST_CASE("daemon: the coordinator down for a while, then back: the daemon says so, backs off, resumes, "
          "loses nothing",
          "[daemon-crash]") {
  REQUIRE_FALSE(Python().empty());
  Network net(3, 90);
  fs::path alice_key = net.Account("alice");
  Proc& alice = net.StartVolunteer("alice", alice_key);
  fs::path data = net.DataOf("alice");

  nlohmann::json slot;
  REQUIRE(WaitFor([&] { return !(slot = BuildingSlot(data)).is_null(); }, 180));
  std::string task = slot["task_id"];
  net.coordinator().KillAndReap();

  // The build finishes while the coordinator is away: the result waits in
  // the journal; the daemon keeps running and says the coordinator is away.
  REQUIRE(WaitFor([&] {
    nlohmann::json s = Status(data);
    return s.is_object() && !s.value("reachable", true) && s.value("journal_pending", 0) >= 1;
  }, 120));
  REQUIRE(WaitFor([&] { return Count(Slurp(net.LogOf("alice")), "next try in") >= 3; }, 60));
  std::string log = Slurp(net.LogOf("alice"));
  CHECK(log.find("unreachable") != std::string::npos);
  CHECK(alice.Running());
  Proc status = Spawn({CORRAL_BINARY, "volunteer", "status", "--data", data.string()}, data.parent_path() / "status.txt");
  REQUIRE(status.WaitExit(30));
  CHECK(status.ExitedWith(0));
  std::string shown = Slurp(data.parent_path() / "status.txt");
  INFO(shown);
  CHECK(shown.find("UNREACHABLE") != std::string::npos);
  CHECK(shown.find("1 result(s) not yet acknowledged") != std::string::npos);

  // Backoff grows: the waits logged are not all short.
  double longest = 0;
  for (size_t pos = log.find("next try in "); pos != std::string::npos; pos = log.find("next try in ", pos + 1))
    longest = std::max(longest, std::atof(log.c_str() + pos + 12));
  CHECK(longest > 1.0);

  net.StartCoordinator();
  REQUIRE(WaitFor([&] { return net.AllHaveResults(1, 3); }, 240));
  REQUIRE(WaitFor([&] {
    nlohmann::json s = Status(data);
    return s.is_object() && s.value("reachable", false) && s.value("journal_pending", 1) == 0;
  }, 30));
  CHECK(Slurp(net.LogOf("alice")).find("reachable again") != std::string::npos);
  CHECK(net.Results(task).size() == 1);
  CheckExactlyOnce(net, {net.LogOf("alice")});
}

TEST_CASE("daemon: SIGTERM mid-task exits 0 promptly and returns the lease; the task goes out again at once",
          "[daemon-crash]") {
  REQUIRE_FALSE(Python().empty());
  Network net(2, 600);  // leases far longer than the test: only a return frees the task
  fs::path alice_key = net.Account("alice");
  Proc& alice = net.StartVolunteer("alice", alice_key);
  fs::path data = net.DataOf("alice");

  nlohmann::json slot;
  REQUIRE(WaitFor([&] { return !(slot = BuildingSlot(data)).is_null(); }, 180));
  std::string lease = slot["lease_id"], task = slot["task_id"];
  CHECK(net.ActiveLeases() == 1);
  auto t0 = Clock::now();
  alice.Kill(SIGTERM);
  REQUIRE(alice.WaitExit(15));
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  CHECK(alice.ExitedWith(0));
  CHECK(took < 10);
  CHECK(Slurp(net.LogOf("alice")).find("returned 1 lease(s); the coordinator re-issues") != std::string::npos);
  CHECK(net.ActiveLeases() == 0);
  CHECK_FALSE(fs::exists(data / "leases" / (lease + ".lease")));
  CHECK(net.Results(task).empty());

  // The returned task is leased again right away (here to the restarted daemon).
  net.StartVolunteer("alice", alice_key);
  REQUIRE(WaitFor([&] { return net.Results(task).size() == 1; }, 180));
  CHECK(net.Results(task)[0]["lease_id"] != lease);
  CheckExactlyOnce(net, {net.LogOf("alice")});
}

TEST_CASE("daemon: SIGHUP reapplies slots, interpreters and politeness; a bad file is refused and kept out",
          "[daemon-crash]") {
  std::string py = Python(), other = OtherPython(py);
  REQUIRE_FALSE(py.empty());
  REQUIRE_FALSE(other.empty());
  Network net(0, 90);  // no index: no work, only configuration
  fs::path alice_key = net.Account("alice");
  fs::path data = net.DataOf("alice");
  fs::create_directories(data);
  fs::path config = data.parent_path() / "alice.toml";
  auto write = [&](const std::string& body) {
    std::ofstream(config) << "coordinator = \"" << net.url << "\"\naccount = \"" << alice_key.string() << "\"\n"
                          << body;
  };
  write("slots = 1\nnice = 5\nuse = [\"" + py + "\"]\n");
  Proc& alice = net.Adopt("alice", Spawn({CORRAL_BINARY, "volunteer", "--config", config.string(), "--data",
                                          data.string(), "--name", "alice", "--ionice", "best-effort"},
                                         net.LogOf("alice")));
  REQUIRE(WaitFor([&] {
    nlohmann::json s = Status(data);
    return s.is_object() && s.value("reachable", false) && s.value("slots", 0) == 1;
  }, 60));
  CHECK(Status(data)["offering"].size() == 1);

  // Every thread of the daemon has the configured niceness.
  auto nice_of_threads = [&] {
    std::set<int> nices;
    std::error_code ec;
    for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(alice.pid) + "/task", ec)) {
      std::string stat = Slurp(t.path() / "stat");
      size_t close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream fields(stat.substr(close + 2));
      std::string f;
      for (int i = 3; i <= 19 && fields >> f; ++i)
        if (i == 19) nices.insert(std::stoi(f));
    }
    return nices;
  };
  CHECK(nice_of_threads() == std::set<int>{5});

  write("slots = 3\nnice = 12\nuse = [\"" + py + "\", \"" + other + "\"]\nmax_load = 50\nidle_only = true\n");
  alice.Kill(SIGHUP);
  REQUIRE(WaitFor([&] {
    nlohmann::json s = Status(data);
    return s.is_object() && s.value("slots", 0) == 3;
  }, 30));
  nlohmann::json s = Status(data);
  CHECK(s["offering"].size() == 2);
  CHECK(s["politeness"]["nice"] == 12);
  CHECK(s["politeness"]["idle_only"] == true);
  CHECK(s["politeness"]["max_load"] == 50.0);
  CHECK(nice_of_threads() == std::set<int>{12});
  CHECK(Slurp(net.LogOf("alice")).find("SIGHUP: reloaded") != std::string::npos);
  // The coordinator now knows both platforms of this machine.
  REQUIRE(WaitFor([&] { return net.Get("/api/v1/volunteers/" + s.value("volunteer_id", ""))["platforms"].size() == 2; }, 10));
  // idle_only says how it decides (logind or the load), once evaluated.
  REQUIRE(WaitFor([&] { return !Status(data)["politeness"].value("idle_source", "").empty(); }, 15));

  // A bad value: an error naming the file, the line and the key; the
  // running configuration stays.
  write("slots = \"many\"\n");
  alice.Kill(SIGHUP);
  REQUIRE(WaitFor([&] { return Slurp(net.LogOf("alice")).find("SIGHUP: keeping the current configuration") != std::string::npos; }, 30));
  std::string log = Slurp(net.LogOf("alice"));
  CHECK(log.find(config.string() + ":3: slots must be an integer from 1 to 64") != std::string::npos);
  CHECK(alice.Running());
  CHECK(Status(data)["slots"] == 3);

  alice.Kill(SIGTERM);
  REQUIRE(alice.WaitExit(15));
  CHECK(alice.ExitedWith(0));
}

TEST_CASE("daemon: --source-address is the address the coordinator sees; a malformed one is refused", "[daemon]") {
  REQUIRE_FALSE(Python().empty());
  Network net(0, 90);
  fs::path key = net.Account("alice");
  // A stand-in coordinator that only notes who speaks to it.
  std::mutex mu;
  std::set<std::string> seen;
  HttpServer spy([&](const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert(r.remote_addr);
    HttpResponse res;
    res.status = 503;
    res.body = "{\"error\":\"unavailable\",\"detail\":\"spy\"}";
    return res;
  });
  std::string err;
  REQUIRE(spy.Start("127.0.0.1", 0, &err));
  fs::path log = net.LogOf("alice");
  Proc p = Spawn({CORRAL_BINARY, "volunteer", "--coordinator", "http://127.0.0.1:" + std::to_string(spy.port()),
                  "--account", key.string(), "--data", net.DataOf("alice").string(), "--interpreter", Python(),
                  "--source-address", "127.0.0.2"},
                 log);
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!seen.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  p.KillAndReap();
  spy.Stop();
  INFO(Slurp(log));
  CHECK(seen == std::set<std::string>{"127.0.0.2"});

  Proc bad = Spawn({CORRAL_BINARY, "volunteer", "--coordinator", net.url, "--account", key.string(), "--data",
                    net.DataOf("bob").string(), "--source-address", "not-an-address"},
                   net.LogOf("bob"));
  REQUIRE(bad.WaitExit(30));
  INFO(Slurp(net.LogOf("bob")));
  CHECK(bad.ExitedWith(2));
  CHECK(Slurp(net.LogOf("bob")).find("--source-address 'not-an-address' is not an IP address") != std::string::npos);
}
