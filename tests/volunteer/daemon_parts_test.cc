// The daemon's smaller parts: which leases a heartbeat renews and when,
// lease markers for kill -9, logind's idle hint, the host description and
// the text of `corral volunteer status`.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/crypto.h"
#include "volunteer/host_environment.h"
#include "volunteer/idle_hint.h"
#include "volunteer/running_tasks.h"
#include "volunteer/status_report.h"

using namespace corral;
using namespace corral::volunteer;
namespace fs = std::filesystem;
using std::chrono::seconds;

namespace {

TaskSpec Task(const std::string& lease, int64_t deadline) {
  TaskSpec t;
  t.task_id = "task-" + lease;
  t.lease_id = lease;
  t.project = "corral-demo-pure";
  t.version = "1.0.0";
  t.platform = "cp312-linux_x86_64";
  t.sha256 = "ab" + lease;
  t.lease_deadline = deadline;
  return t;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("corral-parts-" + RandomHex(6));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("running tasks: heartbeats renew only leases whose result is not journalled yet") {
  // The cause of "lease cancelled" seconds after a lease was issued: a lease
  // whose result the coordinator had just accepted was still heartbeated,
  // and a completed lease is no longer active there.
  RunningTasks tasks("");
  auto t0 = RunningTasks::Clock::now();
  const int64_t now_unix = 1'700'000'000;
  tasks.Start(Task("aa", now_unix + 30), t0, now_unix);  // 30 s lease: renew after 10 s
  tasks.Start(Task("bb", now_unix + 30), t0, now_unix);
  CHECK(tasks.LeasesToRenew(t0 + seconds(9)).empty());
  CHECK(tasks.NextRenewal() == t0 + seconds(10));
  CHECK(tasks.LeasesToRenew(t0 + seconds(10)) == std::vector<std::string>{"aa", "bb"});

  // bb finishes its build: its result goes to the journal, then to the coordinator.
  REQUIRE(tasks.BeginJournal("bb"));
  tasks.Journalled("bb");
  tasks.SetPhase("bb", TaskPhase::kSubmitting);
  CHECK(tasks.LeasesToRenew(t0 + seconds(10)) == std::vector<std::string>{"aa"});

  // The coordinator extended aa to 30 s from now: next renewal 10 s later.
  tasks.Extended("aa", now_unix + 10 + 30, t0 + seconds(10), now_unix + 10);
  CHECK(tasks.LeasesToRenew(t0 + seconds(19)).empty());
  CHECK(tasks.LeasesToRenew(t0 + seconds(20)) == std::vector<std::string>{"aa"});

  // A failed heartbeat is retried soon, not at the next third of the lease.
  tasks.RenewalFailed(t0 + seconds(20), seconds(5));
  CHECK(tasks.LeasesToRenew(t0 + seconds(24)).empty());
  CHECK(tasks.NextRenewal() == t0 + seconds(25));

  // A cancelled lease is never renewed and its result never journalled.
  REQUIRE(tasks.Cancel("aa"));
  CHECK(tasks.LeasesToRenew(t0 + seconds(100)).empty());
  CHECK_FALSE(tasks.BeginJournal("aa"));
  CHECK(tasks.NextRenewal() == RunningTasks::Clock::time_point::max());
}

TEST_CASE("running tasks: the renewal interval is a third of the lease, between 1 s and a minute") {
  CHECK(RunningTasks::RenewAfter(1000 + 900, 1000) == std::chrono::milliseconds(60'000));
  CHECK(RunningTasks::RenewAfter(1000 + 30, 1000) == std::chrono::milliseconds(10'000));
  CHECK(RunningTasks::RenewAfter(1000 + 2, 1000) == std::chrono::milliseconds(1'000));
  CHECK(RunningTasks::RenewAfter(1000 - 50, 1000) == std::chrono::milliseconds(1'000));  // already late
  CHECK(RunningTasks::RenewAfter(0, 1000) == std::chrono::milliseconds(60'000));         // no deadline given
}

TEST_CASE("running tasks: stopping abandons exactly the tasks not yet journalled") {
  TempDir dir;
  RunningTasks tasks(dir.path);
  auto t0 = RunningTasks::Clock::now();
  tasks.Start(Task("aa", 2'000'000'000), t0, 1'700'000'000);
  tasks.Start(Task("bb", 2'000'000'000), t0, 1'700'000'000);
  tasks.Start(Task("cc", 2'000'000'000), t0, 1'700'000'000);
  tasks.SetPhase("bb", TaskPhase::kBuilding);
  REQUIRE(tasks.BeginJournal("cc"));  // cc's result is being journalled
  CHECK(RunningTasks::Leftovers(dir.path) == std::vector<std::string>{"aa", "bb", "cc"});

  auto abandoned = tasks.AbandonUnjournalled();
  CHECK(abandoned == std::vector<std::string>{"aa", "bb"});
  // A task thread that finishes its build now must not journal the result.
  CHECK_FALSE(tasks.BeginJournal("bb"));
  tasks.Finish("bb");
  // cc's marker goes once its journal entry exists; aa and bb keep theirs
  // until the coordinator took the leases back.
  tasks.Journalled("cc");
  CHECK(RunningTasks::Leftovers(dir.path) == std::vector<std::string>{"aa", "bb"});
  tasks.ForgetMarkers({"aa", "bb"});
  CHECK(RunningTasks::Leftovers(dir.path).empty());
  CHECK(tasks.AbandonUnjournalled().empty());  // once only
}

TEST_CASE("running tasks: status shows each task's phase and elapsed time") {
  RunningTasks tasks("");
  auto t0 = RunningTasks::Clock::now();
  tasks.Start(Task("aa", 0), t0, 1'700'000'000);
  tasks.SetPhase("aa", TaskPhase::kBuilding);
  auto j = tasks.ToJson(t0 + seconds(42));
  REQUIRE(j.size() == 1);
  CHECK(j[0]["phase"] == "building");
  CHECK(j[0]["project"] == "corral-demo-pure");
  CHECK(j[0]["elapsed_s"].get<double>() == Approx(42).margin(0.01));
}

TEST_CASE("logind idle hint: loginctl's answer is read, anything else is refused") {
  bool idle = false;
  std::string err;
  REQUIRE(ParseIdleHint("IdleHint=yes\n", &idle, &err));
  CHECK(idle);
  REQUIRE(ParseIdleHint("IdleSinceHint=0\nIdleHint=no\n", &idle, &err));
  CHECK_FALSE(idle);
  CHECK_FALSE(ParseIdleHint("IdleHint=maybe\n", &idle, &err));
  CHECK(err.find("maybe") != std::string::npos);
  CHECK_FALSE(ParseIdleHint("Failed to connect to bus: Host is down\n", &idle, &err));
  CHECK(err.find("Failed to connect to bus") != std::string::npos);
}

TEST_CASE("logind idle hint: a machine without logind says why, so the daemon falls back to the load") {
  // A loginctl that is not there, and the real one of this machine: either
  // logind answers (a systemd machine), or the reason is given.
  LogindIdleHint missing("/nonexistent/loginctl");
  bool idle = false;
  std::string why;
  CHECK_FALSE(missing.Read(&idle, &why));
  CHECK(why.find("/nonexistent/loginctl") != std::string::npos);

  LogindIdleHint real;
  why.clear();
  bool answered = real.Read(&idle, &why);
  if (!answered) CHECK_FALSE(why.empty());
  INFO("logind " << (answered ? "answered" : "unavailable: " + why));
  CHECK(answered == fs::exists("/run/systemd/system"));  // systemd's own test for "booted with systemd"
}

TEST_CASE("the host description names the OS, kernel, libc and bubblewrap") {
  HostEnvironment h = DescribeHost();
  CHECK_FALSE(h.os.empty());
  CHECK(h.kernel.rfind("Linux ", 0) == 0);
  CHECK(h.libc.rfind("glibc 2.", 0) == 0);
  CHECK(h.bwrap.find("bubblewrap") != std::string::npos);
  std::string line = HostEnvironmentLine(h);
  CHECK(line.find(h.libc) != std::string::npos);
}

TEST_CASE("corral volunteer status: slots, phases, reachability, isolation, credit, last results") {
  nlohmann::json s = {
      {"pid", 4242},
      {"volunteer_id", "50fe06b7f9ed69161234"},
      {"machine_name", "basement"},
      {"account", "alice"},
      {"coordinator", "http://127.0.0.1:8080"},
      {"reachable", false},
      {"unreachable_since", 1'700'000'000},
      {"last_error", "POST /api/v1/lease: coordinator unreachable: Connection refused"},
      {"slots", 2},
      {"running", {{{"project", "corral-demo-pure"}, {"version", "1.0.0"}, {"platform", "cp312-linux_x86_64"},
                    {"phase", "building"}, {"elapsed_s", 75.0}, {"phase_elapsed_s", 70.0}}}},
      {"recent_results", {{{"outcome", "passed"}, {"project", "corral-demo-notests"}, {"version", "1.0.0"},
                           {"platform", "cp312-linux_x86_64"}, {"seconds", 3.9}, {"finished_at", 1'700'000'000}}}},
      {"tasks_done", 1},
      {"isolation", "bwrap:net,pid;caps=none"},
      {"credit", {{"credit", 12.5}, {"verified_results", 3}, {"as_of", 1'700'000'000}}},
      {"journal_pending", 1},
      {"updated_at", 1'700'000'090}};
  std::string text = FormatStatus(s, true, 1'700'000'092);
  INFO(text);
  CHECK(text.find("running (pid 4242)") != std::string::npos);
  CHECK(text.find("UNREACHABLE since 2023-11-14 22:13:20 UTC, 92 s") != std::string::npos);
  CHECK(text.find("Connection refused") != std::string::npos);
  CHECK(text.find("bwrap:net,pid;caps=none") != std::string::npos);
  CHECK(text.find("12.5 (3 verified result(s))") != std::string::npos);
  CHECK(text.find("1 of 2 busy") != std::string::npos);
  CHECK(text.find("slot 1: corral-demo-pure 1.0.0 on cp312-linux_x86_64: building for 70 s (task running 75 s)") !=
        std::string::npos);
  CHECK(text.find("slot 2: idle") != std::string::npos);
  CHECK(text.find("passed") != std::string::npos);
  CHECK(text.find("1 result(s) not yet acknowledged") != std::string::npos);

  s["reachable"] = true;
  s.erase("isolation");
  s.erase("credit");
  text = FormatStatus(s, false, 1'700'000'092);
  CHECK(text.find("not running") != std::string::npos);
  CHECK(text.find("(reachable)") != std::string::npos);
  CHECK(text.find("not measured yet") != std::string::npos);
  CHECK(text.find("credit:      not known yet") != std::string::npos);
}
