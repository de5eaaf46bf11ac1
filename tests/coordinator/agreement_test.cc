// Agreement (DESIGN.md section 6): a verdict needs agreeing results from
// volunteers of different accounts and different network prefixes; the
// scheduler never gives two replicas of a task to one account or prefix;
// excluded results (suspended volunteers, known-answer checks) never vote.
#include <catch2/catch.hpp>

#include "coordinator/quorum.h"
#include "verifier_world.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

namespace {
Vote V(const std::string& account, const std::string& prefix, Outcome o, std::string digest = "d") {
  static int n = 0;
  Vote v;
  v.lease_id = "lease" + std::to_string(++n);
  v.volunteer_id = "vol-" + v.lease_id;
  v.account = account;
  v.prefix = prefix;
  v.outcome = o;
  v.wheel_content_digest = OutcomeHasWheel(o) ? digest : "";
  return v;
}
}  // namespace

TEST_CASE("agreement: two agreeing results from one network prefix are not a quorum") {
  QuorumPolicy policy;
  auto d = Decide({V("a", "198.51.100.0/24", Outcome::kPassed), V("b", "198.51.100.0/24", Outcome::kPassed)},
                  policy);
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.wanted == 1);
  auto d3 = Decide({V("a", "198.51.100.0/24", Outcome::kPassed), V("b", "198.51.100.0/24", Outcome::kPassed),
                    V("c", "203.0.113.0/24", Outcome::kPassed)},
                   policy);
  CHECK(d3.kind == QuorumDecision::Kind::kVerdict);
  CHECK(d3.reason == "2 volunteers of different accounts and networks agreed");
  SECTION("unless the policy lets one network agree (the demo)") {
    policy.distinct_prefix = false;
    auto d2 = Decide({V("a", "127.0.0.0/24", Outcome::kPassed), V("b", "127.0.0.0/24", Outcome::kPassed)},
                     policy);
    CHECK(d2.kind == QuorumDecision::Kind::kVerdict);
  }
  SECTION("a Sybil ring on one /24 never outvotes the honest") {
    std::vector<Vote> votes;
    for (int i = 0; i < 4; ++i) votes.push_back(V("sybil" + std::to_string(i), "192.0.2.0/24", Outcome::kPassed, "fake"));
    votes.push_back(V("honest", "203.0.113.0/24", Outcome::kBuildFailed));
    auto ds = Decide(votes, policy);
    CHECK(ds.kind != QuorumDecision::Kind::kVerdict);
  }
}

TEST_CASE("agreement: excluded results never vote") {
  auto liar = V("x", "192.0.2.0/24", Outcome::kPassed);
  liar.excluded = true;
  auto d = Decide({liar, V("b", "203.0.113.0/24", Outcome::kPassed)}, {});
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.voting == 1);
  CHECK(d.wanted == 1);
}

TEST_CASE("agreement: a task's replicas never go to one account or one network prefix") {
  VerifierWorld w(1);
  auto& alice = w.Add("alice", nullptr, "198.51.100.7");
  auto& alice2 = w.Add("alice", alice.v.account, "203.0.113.50");  // same account, other network
  auto& neighbour = w.Add("nell", nullptr, "198.51.100.200");      // other account, alice's /24
  auto& bob = w.Add("bob", nullptr, "203.0.113.9");
  auto a = w.Lease(alice);
  REQUIRE(a.size() == 1);
  CHECK(w.Lease(alice2).empty());
  CHECK(w.Lease(neighbour).empty());
  auto b = w.Lease(bob);
  REQUIRE(b.size() == 1);
  CHECK(b[0].task_id == a[0].task_id);
  REQUIRE(w.Report(alice, a[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);
  auto t = w.Task(a[0].task_id);
  CHECK(t["status"] == "passed");
  CHECK(t["evidence"] == "2 volunteers of different accounts and networks agreed");
}

TEST_CASE("agreement: a volunteer's prefix is that of its lease request, not of its enrolment") {
  VerifierWorld w(1);
  auto& alice = w.Add("alice", nullptr, "198.51.100.7");
  auto& bob = w.Add("bob", nullptr, "203.0.113.9");
  auto a = w.Lease(alice);
  REQUIRE(a.size() == 1);
  // bob enrolled elsewhere but now asks from alice's network.
  CHECK(w.Lease(bob, 1, "198.51.100.99").empty());
  CHECK(w.Lease(bob).size() == 1);
}

TEST_CASE("agreement: a built outcome needs the same wheel digest; a missing one never agrees") {
  VerifierWorld w(1);
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto& carol = w.Add("carol");
  auto a = w.Lease(alice);
  auto b = w.Lease(bob);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  REQUIRE(w.Report(alice, a[0], Outcome::kPassed, "digest-1").status == 200);
  REQUIRE(w.Report(bob, b[0], Outcome::kPassed, "").status == 200);  // "passed" without a wheel
  CHECK(w.Status(a[0].task_id) == "pending");
  auto c = w.Lease(carol);
  REQUIRE(c.size() == 1);
  REQUIRE(w.Report(carol, c[0], Outcome::kPassed, "digest-1").status == 200);
  auto t = w.Task(a[0].task_id);
  CHECK(t["status"] == "passed");
  for (const auto& r : t["results"]) CHECK(r["agrees"] == (r["volunteer_id"] != bob.id()));
}
