// Leases, replicas and verdicts through the coordinator's API.
#include <catch2/catch.hpp>

#include "coordinator/scheduler.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string kTag = "cp311-linux_x86_64";

struct World {
  World() : tc(index_with_alpha(), {kTag}, 600) {
    REQUIRE(tc.Sync());
    acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
    acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
    acct3 = std::shared_ptr<SigningKey>(SigningKey::Generate());
    alice = MakeVolunteer(acct1, "alice", "alice-1", {kTag});
    alice2 = MakeVolunteer(acct1, "alice", "alice-2", {kTag});
    bob = MakeVolunteer(acct2, "bob", "bob-1", {kTag});
    carol = MakeVolunteer(acct3, "carol", "carol-1", {kTag});
    for (auto* v : {&alice, &alice2, &bob, &carol}) REQUIRE(Enrol(*tc.c, *v, tc.now).status == 200);
  }
  TestIndex& index_with_alpha() {
    index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
    return index;
  }
  HttpResponse Report(const TestVolunteer& v, const TaskSpec& t, Outcome o, double secs = 10,
                      std::vector<std::string> failing = {}) {
    return Submit(*tc.c, v, Envelope(PayloadFor(t, v, o, secs, failing), *v.machine), tc.now);
  }
  nlohmann::json Task(const std::string& id) { return Get(*tc.c, "/api/v1/tasks/" + id); }
  nlohmann::json Volunteer(const TestVolunteer& v) {
    nlohmann::json board = Get(*tc.c, "/api/v1/leaderboard?window=all");
    for (auto& row : board["volunteers"])
      if (row["volunteer_id"] == v.id()) return row;
    return nullptr;
  }

  TestIndex index;
  TestCoordinator tc;
  std::shared_ptr<SigningKey> acct1, acct2, acct3;
  TestVolunteer alice, alice2, bob, carol;
};

// Options for a coordinator a test opens twice (a restart) on `dir`, with
// exact leases: no random known-answer checks or single replicas, and no
// prefix rule (every test volunteer speaks from 127.0.0.1).
coordinator::Options RestartableOptions(TestIndex& index, const TempDir& dir, const int64_t& now) {
  coordinator::Options o;
  o.data_dir = dir.path;
  o.index_url = index.url();
  o.platforms = {kTag};
  o.clock = [&now] { return now; };
  o.known_answer_rate = 0;
  o.adaptive_replication = false;
  o.distinct_prefix = false;
  return o;
}

}  // namespace

TEST_CASE("quorum: two agreeing results from different accounts decide the task and earn credit") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  auto b = Lease(*w.tc.c, w.bob, w.tc.now);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(a[0].task_id == b[0].task_id);  // two replicas at once
  CHECK(a[0].lease_id != b[0].lease_id);
  CHECK(Lease(*w.tc.c, w.carol, w.tc.now).empty());  // the quorum is out already
  CHECK(w.tc.c->GetProgress().leased == 2);

  REQUIRE(w.Report(w.alice, a[0], Outcome::kPassed, 10).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "pending");
  REQUIRE(w.Report(w.bob, b[0], Outcome::kPassed, 30).status == 200);
  auto t = w.Task(a[0].task_id);
  CHECK(t["status"] == "passed");
  CHECK(t["results"].size() == 2);
  CHECK(t["results"][0]["agrees"] == true);
  CHECK(w.tc.c->GetProgress().verdicts == 1);
  CHECK(w.tc.c->GetProgress().leased == 0);
  CHECK(w.Volunteer(w.alice)["credit"] == Approx(10.0));  // the lower median of 10 and 30
  CHECK(w.Volunteer(w.bob)["credit"] == Approx(10.0));
  CHECK(w.Volunteer(w.alice)["verified_results"] == 1);
  auto lb = Get(*w.tc.c, "/api/v1/leaderboard?window=day");
  CHECK(lb["volunteers"][0]["credit"] == Approx(10.0));
  CHECK(lb["accounts"].size() == 3);

  SECTION("a resubmission is a duplicate and earns nothing more") {
    auto r = w.Report(w.alice, a[0], Outcome::kPassed, 10);
    CHECK(r.status == 200);
    CHECK(Body(r)["duplicate"] == true);
    CHECK(w.Volunteer(w.alice)["credit"] == Approx(10.0));
    CHECK(w.Volunteer(w.alice)["verified_results"] == 1);
  }
  SECTION("a decided task is leased to nobody") { CHECK(Lease(*w.tc.c, w.carol, w.tc.now).empty()); }
}

TEST_CASE("quorum: a task never goes to two volunteers of the same account") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  REQUIRE(a.size() == 1);
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());
  // alice2 cannot report on alice's lease either: no verdict from one account.
  auto p = PayloadFor(a[0], w.alice2, Outcome::kPassed);
  auto r = Submit(*w.tc.c, w.alice2, Envelope(p, *w.alice2.machine), w.tc.now);
  CHECK(Body(r)["error"] == "not_leased");
  REQUIRE(w.Report(w.alice, a[0], Outcome::kPassed).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "pending");
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());
  CHECK(Lease(*w.tc.c, w.bob, w.tc.now).size() == 1);
}

TEST_CASE("quorum: disagreement issues another replica; its result decides") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  auto b = Lease(*w.tc.c, w.bob, w.tc.now);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  REQUIRE(w.Report(w.alice, a[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Report(w.bob, b[0], Outcome::kTestsFailed, 10, {"tests/test_x.py::test_y"}).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "pending");
  auto c = Lease(*w.tc.c, w.carol, w.tc.now);
  REQUIRE(c.size() == 1);
  CHECK(c[0].task_id == a[0].task_id);
  REQUIRE(w.Report(w.carol, c[0], Outcome::kTestsFailed, 10, {"tests/test_x.py::test_y"}).status == 200);
  auto t = w.Task(a[0].task_id);
  CHECK(t["status"] == "tests_failed");
  CHECK(t["results"].size() == 3);
  CHECK(w.Volunteer(w.alice)["credit"] == Approx(0.0));  // alice disagreed: no credit
  CHECK(w.Volunteer(w.carol)["credit"] == Approx(10.0));
}

TEST_CASE("quorum: infra_error does not vote and its task is re-issued elsewhere") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  auto b = Lease(*w.tc.c, w.bob, w.tc.now);
  REQUIRE(w.Report(w.alice, a[0], Outcome::kInfraError).status == 200);
  REQUIRE(w.Report(w.bob, b[0], Outcome::kPassed).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "pending");
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());  // not back to alice's account
  auto c = Lease(*w.tc.c, w.carol, w.tc.now);
  REQUIRE(c.size() == 1);
  REQUIRE(w.Report(w.carol, c[0], Outcome::kPassed).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "passed");
  CHECK(w.Volunteer(w.alice)["credit"] == Approx(0.0));
}

TEST_CASE("quorum: an account whose machine failed a task may retry it after a delay that doubles") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  REQUIRE(a.size() == 1);
  REQUIRE(w.Report(w.alice, a[0], Outcome::kInfraError).status == 200);
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());  // other accounts first
  w.tc.now += coordinator::MachineFaultRetryDelay(1) - 1;
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());
  w.tc.now += 1;
  auto again = Lease(*w.tc.c, w.alice2, w.tc.now);
  REQUIRE(again.size() == 1);
  CHECK(again[0].task_id == a[0].task_id);
  CHECK(Lease(*w.tc.c, w.alice, w.tc.now).empty());  // one retry lease at a time

  REQUIRE(w.Report(w.alice2, again[0], Outcome::kInfraError).status == 200);
  CHECK(coordinator::MachineFaultRetryDelay(2) == 2 * coordinator::MachineFaultRetryDelay(1));
  w.tc.now += coordinator::MachineFaultRetryDelay(1);
  CHECK(Lease(*w.tc.c, w.alice, w.tc.now).empty());  // the second failure waits twice as long
  w.tc.now += coordinator::MachineFaultRetryDelay(1);
  auto third = Lease(*w.tc.c, w.alice, w.tc.now);
  REQUIRE(third.size() == 1);
  CHECK(third[0].task_id == a[0].task_id);

  // A voting result ends the retries: the account has had its say.
  REQUIRE(w.Report(w.alice, third[0], Outcome::kPassed).status == 200);
  w.tc.now += 2 * 86400;
  CHECK(Lease(*w.tc.c, w.alice2, w.tc.now).empty());
  auto b = Lease(*w.tc.c, w.bob, w.tc.now);
  REQUIRE(b.size() == 1);
  REQUIRE(w.Report(w.bob, b[0], Outcome::kPassed).status == 200);
  auto t = w.Task(a[0].task_id);
  CHECK(t["status"] == "passed");
  CHECK(t["results"].size() == 4);
  CHECK(coordinator::MachineFaultRetryDelay(30) == 86400);  // never more than a day
}

TEST_CASE("quorum: a network of one account finishes a task its machine failed, across a restart") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TempDir dir;
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct, "alice", "a", {kTag});
  int64_t now = 1'700'000'000;
  coordinator::Options o = RestartableOptions(index, dir, now);
  o.quorum = 1;  // a private coordinator: its own machines, one account
  std::string task_id;
  {
    coordinator::Coordinator c(o);
    std::string err;
    REQUIRE(c.Open(&err));
    REQUIRE(c.SyncOnce(&err));
    REQUIRE(Enrol(c, alice, now).status == 200);
    auto a = Lease(c, alice, now);
    REQUIRE(a.size() == 1);
    task_id = a[0].task_id;
    REQUIRE(Submit(c, alice, Envelope(PayloadFor(a[0], alice, Outcome::kInfraError), *alice.machine), now).status == 200);
    CHECK(Lease(c, alice, now).empty());
  }
  // Restarted, the coordinator forgets the delay but not that the account
  // only failed here: the task is not stranded.
  coordinator::Coordinator c(o);
  std::string err;
  REQUIRE(c.Open(&err));
  auto a = Lease(c, alice, now);
  REQUIRE(a.size() == 1);
  CHECK(a[0].task_id == task_id);
  REQUIRE(Submit(c, alice, Envelope(PayloadFor(a[0], alice, Outcome::kPassed), *alice.machine), now).status == 200);
  CHECK(Get(c, "/api/v1/tasks/" + task_id)["status"] == "passed");
}

TEST_CASE("leases: an expired lease is re-issued to someone else; a heartbeat extends it") {
  World w;
  auto a = Lease(*w.tc.c, w.alice, w.tc.now);
  auto b = Lease(*w.tc.c, w.bob, w.tc.now);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(Lease(*w.tc.c, w.carol, w.tc.now).empty());

  // bob keeps his lease alive; alice goes silent.
  w.tc.now += 500;
  HeartbeatRequest hb;
  hb.lease_ids = {b[0].lease_id};
  auto r = w.tc.c->Handle(Signed(*w.bob.machine, "POST", "/api/v1/heartbeat", nlohmann::json(hb).dump(), w.tc.now));
  REQUIRE(r.status == 200);
  HeartbeatResponse resp;
  std::string err;
  REQUIRE(ParseHeartbeatResponse(Body(r), &resp, &err));
  CHECK(resp.extended.at(b[0].lease_id) == w.tc.now + 600);
  CHECK(resp.cancelled.empty());

  w.tc.now += 200;  // alice's deadline (600 s) passed; bob's (now 1100) did not
  CHECK(w.tc.c->ExpireLeases() == 1);
  CHECK(w.tc.c->GetProgress().leased == 1);
  auto c = Lease(*w.tc.c, w.carol, w.tc.now);
  REQUIRE(c.size() == 1);
  CHECK(c[0].task_id == a[0].task_id);

  // alice's heartbeat now learns her lease is gone.
  hb.lease_ids = {a[0].lease_id, "no-such-lease"};
  r = w.tc.c->Handle(Signed(*w.alice.machine, "POST", "/api/v1/heartbeat", nlohmann::json(hb).dump(), w.tc.now));
  REQUIRE(ParseHeartbeatResponse(Body(r), &resp, &err));
  CHECK(resp.extended.empty());
  CHECK(resp.cancelled.size() == 2);

  REQUIRE(w.Report(w.bob, b[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Report(w.carol, c[0], Outcome::kPassed).status == 200);
  CHECK(w.Task(a[0].task_id)["status"] == "passed");
  // A late result for a decided task is refused and stores nothing.
  auto late = w.Report(w.alice, a[0], Outcome::kPassed);
  CHECK(late.status == 409);
  CHECK(w.Task(a[0].task_id)["results"].size() == 2);
}

TEST_CASE("leases: restarting the coordinator keeps leases, results and the queue") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}, {"alpha-2.0.tar.gz", "two", ""}});
  TempDir dir;
  auto acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct1, "alice", "a", {kTag});
  auto bob = MakeVolunteer(acct2, "bob", "b", {kTag});
  int64_t now = 1'700'000'000;
  coordinator::Options o = RestartableOptions(index, dir, now);
  std::vector<TaskSpec> a;
  {
    coordinator::Coordinator c(o);
    std::string err;
    REQUIRE(c.Open(&err));
    REQUIRE(c.SyncOnce(&err));
    REQUIRE(Enrol(c, alice, now).status == 200);
    REQUIRE(Enrol(c, bob, now).status == 200);
    a = Lease(c, alice, now, 2);
    REQUIRE(a.size() == 2);
    REQUIRE(Submit(c, alice, Envelope(PayloadFor(a[0], alice, Outcome::kPassed), *alice.machine), now).status == 200);
  }
  coordinator::Coordinator c(o);
  std::string err;
  REQUIRE(c.Open(&err));
  auto p = c.GetProgress();
  CHECK(p.tasks == 2);
  CHECK(p.results == 1);
  CHECK(p.leased == 1);
  // alice's remaining lease is still valid after the restart.
  CHECK(Submit(c, alice, Envelope(PayloadFor(a[1], alice, Outcome::kPassed), *alice.machine), now).status == 200);
  auto b = Lease(c, bob, now, 5);
  CHECK(b.size() == 2);
}

TEST_CASE("requires-python: an excluded platform gets an unsupported verdict and no leasable task") {
  TestIndex index;
  index.SetProject("modern", {{"modern-1.0.tar.gz", "m", ">=3.8"}});
  TestCoordinator tc(index, {"cp27-linux_x86_64", "cp311-linux_x86_64"});
  REQUIRE(tc.Sync());
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto old = MakeVolunteer(acct, "old", "py27", {"cp27-linux_x86_64"});
  REQUIRE(Enrol(*tc.c, old, tc.now).status == 200);
  CHECK(Lease(*tc.c, old, tc.now, 4).empty());
  auto project = Get(*tc.c, "/api/v1/projects/modern");
  auto cell = project["versions"][0]["cells"]["cp27-linux_x86_64"];
  CHECK(cell["status"] == "unsupported");
  auto task = Get(*tc.c, "/api/v1/tasks/" + cell["task_id"].get<std::string>());
  CHECK(task["summary"] == "Requires-Python >=3.8 excludes Python 2.7");
  CHECK(task["results"].empty());
  CHECK(project["versions"][0]["cells"]["cp311-linux_x86_64"]["status"] == "pending");
  auto progress = tc.c->GetProgress();
  CHECK(progress.tasks == 2);
  CHECK(progress.verdicts == 1);
  CHECK(progress.pending == 1);
}

TEST_CASE("platforms: a tag offered at enrolment by two accounts creates tasks for every known file") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  index.SetProject("beta", {{"beta-1.0.tar.gz", "beta one", ""}});
  TestCoordinator tc(index, {});
  REQUIRE(tc.Sync());
  CHECK(tc.c->GetProgress().tasks == 0);
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto pypy = MakeVolunteer(acct, "p", "pypy-box", {"pp39-linux_x86_64"});
  REQUIRE(Enrol(*tc.c, pypy, tc.now).status == 200);
  // One account's machines are not enough: one enrolment must not grow the store.
  auto pypy2 = MakeVolunteer(acct, "p", "pypy-box-2", {"pp39-linux_x86_64"});
  REQUIRE(Enrol(*tc.c, pypy2, tc.now).status == 200);
  CHECK(tc.c->GetProgress().tasks == 0);
  auto other = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "q", "q-box",
                             {"pp39-linux_x86_64"});
  REQUIRE(Enrol(*tc.c, other, tc.now).status == 200);
  CHECK(tc.c->GetProgress().tasks == 2);
  CHECK(Lease(*tc.c, pypy, tc.now, 5).size() == 2);
  CHECK(Get(*tc.c, "/api/v1/projects/alpha")["platforms"] == nlohmann::json{"pp39-linux_x86_64"});
}

// Each verdict rewrites its project's record to count it; the engine keeps
// the parsed record between verdicts, and must notice when someone else
// (here the index sync, adding a release) rewrote it in between.
TEST_CASE("verdicts: a project's count stays right when its record changes between verdicts") {
  World w;
  auto project_row = [&]() {
    nlohmann::json list = Get(*w.tc.c, "/api/v1/projects");
    for (auto& row : list["projects"])
      if (row["project"] == "alpha") return row;
    return nlohmann::json();
  };
  auto decide = [&]() {
    auto a = Lease(*w.tc.c, w.alice, w.tc.now);
    auto b = Lease(*w.tc.c, w.bob, w.tc.now);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(a[0].task_id == b[0].task_id);
    REQUIRE(w.Report(w.alice, a[0], Outcome::kPassed).status == 200);
    REQUIRE(w.Report(w.bob, b[0], Outcome::kPassed).status == 200);
    CHECK(w.Task(a[0].task_id)["status"] == "passed");
  };
  decide();
  CHECK(project_row()["verdicts"] == 1);
  CHECK(project_row()["versions"] == 1);
  w.index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}, {"alpha-2.0.tar.gz", "alpha two", ""}});
  REQUIRE(w.tc.Sync());
  CHECK(project_row()["versions"] == 2);
  decide();
  // Both the sync's change and both verdicts are in the record.
  CHECK(project_row()["versions"] == 2);
  CHECK(project_row()["verdicts"] == 2);
  CHECK(project_row()["pending"] == 0);
}
