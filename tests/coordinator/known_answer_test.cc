// Known-answer tasks (DESIGN.md section 6): settled verdicts re-issued
// unannounced, in the same shape as fresh tasks; a contradiction counts
// against the volunteer at once, without waiting for a peer.
#include "coordinator/known_answer.h"

#include <catch2/catch.hpp>

#include <set>

#include "verifier_world.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

TEST_CASE("known answers: only unanimous verdicts of built tasks are settled") {
  VerdictRecord v;
  v.status = "passed";
  v.agreeing = 2;
  v.results = 2;
  CHECK(IsSettledVerdict(v));
  v.results = 3;  // someone dissented: maybe flaky
  CHECK_FALSE(IsSettledVerdict(v));
  v.results = 2;
  v.status = "inconclusive";
  CHECK_FALSE(IsSettledVerdict(v));
  v.status = "unsupported";  // decided without building
  CHECK_FALSE(IsSettledVerdict(v));
  v.status = "tests_failed";
  v.agreeing = v.results = 1;  // one trusted replica: nobody reproduced it
  CHECK_FALSE(IsSettledVerdict(v));
}

TEST_CASE("known answers: the pool is a bounded uniform sample per platform") {
  KnownAnswerPool pool(/*per_platform=*/10, /*seed=*/7);
  for (int i = 0; i < 1000; ++i) pool.Add("a", "t" + std::to_string(i));
  pool.Add("b", "only-b");
  CHECK(pool.size() == 11);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i)
    for (const auto& id : pool.Candidates({"a"}, 3)) seen.insert(id);
  CHECK(seen.size() <= 10);
  CHECK(seen.count("only-b") == 0);
  // Later tasks get in too (reservoir sampling, not "the first ten").
  bool late = false;
  for (const auto& id : seen) late = late || std::stoi(id.substr(1)) >= 10;
  CHECK(late);
  CHECK(pool.Candidates({"b"}, 3) == std::vector<std::string>{"only-b"});
  pool.Remove("only-b");
  CHECK(pool.Candidates({"b"}, 3).empty());
  CHECK(pool.Candidates({"c"}, 3).empty());
}

namespace {
// alice and bob settle the first task: passed, wheel "d1".
std::string Settle(VerifierWorld& w, Member& alice, Member& bob, TaskSpec* spec) {
  auto a = w.Lease(alice);
  auto b = w.Lease(bob);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  REQUIRE(w.Report(alice, a[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Status(a[0].task_id) == "passed");
  *spec = a[0];
  return a[0].task_id;
}
}  // namespace

TEST_CASE("known answers: a settled task comes back unannounced and a contradiction counts at once") {
  VerifierWorld w(5, [](coordinator::Options& o) { o.known_answer_rate = 1.0; });
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto& carol = w.Add("carol");
  TaskSpec original;
  std::string settled = Settle(w, alice, bob, &original);

  auto c = w.Lease(carol);
  REQUIRE(c.size() == 1);
  // Same task, same shape: only the lease differs.
  CHECK(c[0].task_id == settled);
  CHECK(c[0].lease_id != original.lease_id);
  CHECK(c[0].url == original.url);
  CHECK(c[0].sha256 == original.sha256);
  CHECK(c[0].platform == original.platform);
  CHECK(c[0].project == original.project);
  CHECK(c[0].lease_deadline == w.now() + 900);
  // A fresh task went back to the queue in its place.
  CHECK(w.c().GetProgress().leased == 1);

  SECTION("a contradiction counts against the volunteer at once") {
    REQUIRE(w.Report(carol, c[0], Outcome::kBuildFailed).status == 200);
    auto rep = w.Reputation(carol);
    CHECK(rep.invalid == 1);
    CHECK(rep.checks == 1);
    CHECK(rep.checks_failed == 1);
    CHECK(rep.exposed_by.count(alice.id()) == 1);
    CHECK(rep.exposed_by.count(bob.id()) == 1);
    // The verdict stands; the check is on the task page, disagreeing.
    auto t = w.Task(settled);
    CHECK(t["status"] == "passed");
    CHECK(t["results"].size() == 3);
    for (const auto& r : t["results"])
      if (r["volunteer_id"] == carol.id()) {
        CHECK(r["known_answer_check"] == true);
        CHECK(r["agrees"] == false);
      }
    CHECK(w.Volunteer(carol)["credit"] == 0);
  }
  SECTION("a true answer earns trust but no credit") {
    REQUIRE(w.Report(carol, c[0], Outcome::kPassed, "d1").status == 200);
    auto rep = w.Reputation(carol);
    CHECK(rep.validated == 1);
    CHECK(rep.consecutive[kWorldTag] == 1);
    CHECK(rep.invalid == 0);
    CHECK(w.Volunteer(carol)["credit"] == 0);
    CHECK(w.Status(settled) == "passed");
  }
  SECTION("never to the accounts that decided it, never to an idle network") {
    auto a = w.Lease(alice);
    REQUIRE(a.size() == 1);
    CHECK(a[0].task_id != settled);
    // Drain the fresh work: once there is none, nobody gets a check.
    std::vector<Member*> everyone{&alice, &bob, &carol};
    for (int round = 0; round < 20; ++round)
      for (auto* m : everyone)
        for (const auto& t : w.Lease(*m, 5)) REQUIRE(w.Report(*m, t, Outcome::kPassed).status == 200);
    auto& dave = w.Add("dave");
    CHECK(w.Lease(dave, 3).empty());
  }
}
