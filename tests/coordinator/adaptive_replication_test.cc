// Adaptive replication (DESIGN.md section 6): per (volunteer, platform), the
// count of consecutive validated results; from trust_after on (and, for a
// newcomer, trust_min_validated validated results in all) a fresh task may go
// out singly, never without a floor of random re-checks; any invalid result,
// error or expired lease resets the count.
#include <algorithm>
#include <catch2/catch.hpp>

#include "coordinator/reputation.h"
#include "verifier_world.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

namespace {
const std::string kP = "cp311-linux_x86_64";

// A long-established volunteer (past trust_min_validated) with `count`
// consecutive validated results on kP.
ReputationRecord Trusted(int64_t count) {
  ReputationRecord r;
  r.consecutive[kP] = count;
  r.validated = 1000;
  return r;
}

// Validated results before a newcomer's first single replica.
int FirstTrust() {
  ReputationPolicy p;
  return static_cast<int>(std::max(p.trust_after, p.trust_min_validated));
}

// Has `m` answer tasks alongside `peer` until it has `n` validated results
// (agreeing on `outcome`).
void Validate(VerifierWorld& w, Member& m, Member& peer, int n, Outcome outcome = Outcome::kPassed) {
  for (int i = 0; i < n; ++i) {
    auto a = w.Lease(m);
    auto b = w.Lease(peer);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(a[0].task_id == b[0].task_id);
    REQUIRE(w.Report(m, a[0], outcome).status == 200);
    REQUIRE(w.Report(peer, b[0], outcome).status == 200);
    REQUIRE(w.Status(a[0].task_id) == std::string(OutcomeName(outcome)));
  }
}
}  // namespace

TEST_CASE("adaptive replication: agreements on results that tested nothing earn no trust") {
  VerifierWorld w(80);
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  // A ring of wheel-only tasks (no_tests) agreed on, as many as first trust takes.
  Validate(w, alice, bob, FirstTrust(), Outcome::kNoTests);
  CHECK(w.Reputation(alice).consecutive[kWorldTag] == 0);
  CHECK(w.Reputation(alice).validated == 0);
  auto a = w.Lease(alice);
  REQUIRE(a.size() == 1);
  REQUIRE(w.Report(alice, a[0], Outcome::kPassed).status == 200);
  CHECK(w.Status(a[0].task_id) == "pending");  // still a quorum: no single replica
  // Results that ran a suite do count.
  auto b = w.Lease(bob);
  REQUIRE(b.size() == 1);
  REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);
  CHECK(w.Reputation(alice).consecutive[kWorldTag] == 1);
}

TEST_CASE("adaptive replication: the chance of a single replica") {
  ReputationPolicy policy;
  policy.trust_after = 10;  // the figures below are for 10
  CHECK(SingleReplicaProbability(Trusted(0), kP, policy) == 0);
  CHECK(SingleReplicaProbability(Trusted(9), kP, policy) == 0);
  CHECK(SingleReplicaProbability(Trusted(10), kP, policy) == Approx(0.9));
  // The floor of random re-checks: never above 1 - min_recheck.
  CHECK(SingleReplicaProbability(Trusted(1000000), kP, policy) == Approx(0.9));
  policy.min_recheck = 0.01;
  CHECK(SingleReplicaProbability(Trusted(20), kP, policy) == Approx(0.95));
  CHECK(SingleReplicaProbability(Trusted(1000000), kP, policy) == Approx(0.99));
  policy.min_recheck = 0;  // a floor of zero is still a floor above zero
  CHECK(SingleReplicaProbability(Trusted(1000000000), kP, policy) < 1.0);
  // Per platform.
  CHECK(SingleReplicaProbability(Trusted(50), "pp39-linux_x86_64", policy) == 0);
  policy.adaptive_replication = false;
  CHECK(SingleReplicaProbability(Trusted(50), kP, policy) == 0);
}

TEST_CASE("adaptive replication: a newcomer's first trust takes trust_min_validated results") {
  ReputationPolicy policy;
  policy.trust_after = 5;
  policy.trust_min_validated = 20;
  ReputationRecord r;
  r.consecutive[kP] = 8;
  r.validated = 12;
  CHECK(SingleReplicaProbability(r, kP, policy) == 0);
  r.validated = 19;
  CHECK(SingleReplicaProbability(r, kP, policy) == 0);
  r.validated = 20;
  CHECK(SingleReplicaProbability(r, kP, policy) == Approx(1 - 1.0 / 8));
  // Once established, a reset is earned back after trust_after, not 20.
  r.consecutive[kP] = 5;
  r.validated = 300;
  CHECK(SingleReplicaProbability(r, kP, policy) == Approx(0.8));
  r.consecutive[kP] = 4;
  CHECK(SingleReplicaProbability(r, kP, policy) == 0);
}

TEST_CASE("adaptive replication: known-answer checks count towards the re-check rate") {
  ReputationPolicy policy;  // min_recheck 0.1
  // At the floor: 10% of slots are checks in all; 2% of slots are known-answer
  // checks, so 8 of the other 98 fresh tasks are re-checked.
  CHECK(SingleReplicaProbability(Trusted(1000000), kP, policy, 0.02) == Approx(1 - 0.08 / 0.98));
  // Below the floor (count 5: one in five checked).
  CHECK(SingleReplicaProbability(Trusted(5), kP, policy, 0.02) == Approx(1 - 0.18 / 0.98));
  // Known-answer checks never take all re-checks of fresh work away: at
  // least half the floor stays.
  CHECK(SingleReplicaProbability(Trusted(1000000), kP, policy, 0.3) == Approx(0.95));
  // No known-answer checks: as before.
  CHECK(SingleReplicaProbability(Trusted(1000000), kP, policy, 0) == Approx(0.9));
}

TEST_CASE("adaptive replication: what resets the count and what does not raise it") {
  ReputationPolicy policy;
  auto after = [&](Judgement j) {
    ReputationRecord r = Trusted(12);
    RecordJudgement(&r, kP, j, policy, true);
    return r.consecutive[kP];
  };
  CHECK(after(Judgement::kValid) == 13);
  CHECK(after(Judgement::kInvalid) == 0);
  CHECK(after(Judgement::kError) == 0);
  CHECK(after(Judgement::kExpired) == 0);
  CHECK(after(Judgement::kDigestOnly) == 0);
  // A result nobody compared earns no trust.
  CHECK(after(Judgement::kUnchecked) == 12);
  // Another platform's count is untouched.
  ReputationRecord r = Trusted(12);
  RecordJudgement(&r, "pp39-linux_x86_64", Judgement::kInvalid, policy, true);
  CHECK(r.consecutive[kP] == 12);
}

TEST_CASE("adaptive replication: a trusted volunteer's tasks mostly go out singly and decide alone") {
  VerifierWorld w(80);
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto& carol = w.Add("carol");
  const int64_t trust = FirstTrust();
  Validate(w, alice, bob, static_cast<int>(trust));
  CHECK(w.Reputation(alice).consecutive[kWorldTag] == trust);

  int singles = 0, replicated = 0;
  for (int i = 0; i < 30; ++i) {
    auto a = w.Lease(alice);
    REQUIRE(a.size() == 1);
    w.Advance(5);  // the coordinator's own measure of the work: 5 s held
    REQUIRE(w.Report(alice, a[0], Outcome::kPassed, "d1", {}, 10).status == 200);
    auto t = w.Task(a[0].task_id);
    if (t["status"] == "passed") {
      ++singles;
      CHECK(t["results"].size() == 1);
      // The page states the rule the code applies: both thresholds, as configured.
      const std::string evidence = t["evidence"].get<std::string>();
      CHECK(evidence.find("trusted") != std::string::npos);
      const ReputationPolicy policy;  // the world runs with the defaults
      CHECK(evidence.find(std::to_string(policy.trust_after) + "+ consecutive") != std::string::npos);
      CHECK(evidence.find(std::to_string(policy.trust_min_validated) + " validated results in all") !=
            std::string::npos);
      // One claim alone is bounded by how long the lease was held.
      CHECK(t["credit_each"] == Approx(5.0));
    } else {
      // A random re-check: a peer is wanted, and its agreement decides.
      ++replicated;
      auto c = w.Lease(carol);
      REQUIRE(c.size() == 1);
      CHECK(c[0].task_id == a[0].task_id);
      REQUIRE(w.Report(carol, c[0], Outcome::kPassed).status == 200);
      CHECK(w.Status(a[0].task_id) == "passed");
    }
  }
  INFO(singles << " singles, " << replicated << " re-checked");
  CHECK(singles >= 20);     // about 90%
  CHECK(replicated >= 1);   // the floor of re-checks
  // Singles raised no trust; the re-checks did.
  CHECK(w.Reputation(alice).consecutive[kWorldTag] == trust + replicated);

  SECTION("one contradicted result and every task is replicated again") {
    auto c = w.Lease(carol);  // carol is not trusted yet: two replicas wanted
    auto a = w.Lease(alice);
    REQUIRE(c.size() == 1);
    REQUIRE(a.size() == 1);
    REQUIRE(a[0].task_id == c[0].task_id);
    REQUIRE(w.Report(alice, a[0], Outcome::kBuildFailed).status == 200);
    REQUIRE(w.Report(carol, c[0], Outcome::kPassed).status == 200);
    auto b = w.Lease(bob);
    REQUIRE(b.size() == 1);
    REQUIRE(b[0].task_id == a[0].task_id);
    REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);
    CHECK(w.Status(a[0].task_id) == "passed");
    CHECK(w.Reputation(alice).consecutive[kWorldTag] == 0);
    CHECK(w.Reputation(alice).invalid == 1);
    for (int i = 0; i < 5; ++i) {
      auto again = w.Lease(alice);
      REQUIRE(again.size() == 1);
      REQUIRE(w.Report(alice, again[0], Outcome::kPassed).status == 200);
      CHECK(w.Status(again[0].task_id) == "pending");  // no single replica now
      auto peer = w.Lease(carol);
      REQUIRE(peer.size() == 1);
      CHECK(peer[0].task_id == again[0].task_id);
      REQUIRE(w.Report(carol, peer[0], Outcome::kPassed).status == 200);
    }
  }
}

TEST_CASE("adaptive replication: an expired lease resets the count; an expired single wants a quorum again") {
  VerifierWorld w(40, {}, /*lease_seconds=*/600);
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto& carol = w.Add("carol");
  Validate(w, alice, bob, FirstTrust());
  // Lease until a task goes out singly: no second replica is then leasable.
  std::string single;
  for (int i = 0; i < 10 && single.empty(); ++i) {
    auto a = w.Lease(alice);
    REQUIRE(a.size() == 1);
    auto b = w.Lease(bob);
    if (b.empty() || b[0].task_id != a[0].task_id) {
      single = a[0].task_id;
      if (!b.empty()) REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);  // some other task
    } else {
      REQUIRE(w.Report(alice, a[0], Outcome::kPassed).status == 200);
      REQUIRE(w.Report(bob, b[0], Outcome::kPassed).status == 200);
    }
  }
  REQUIRE(!single.empty());
  w.Advance(601);
  CHECK(w.c().ExpireLeases() >= 1);
  CHECK(w.Reputation(alice).consecutive[kWorldTag] == 0);
  CHECK(w.Reputation(alice).expired == 1);
  // The task wants two replicas again, at once (from volunteers not trusted
  // yet: a trusted one could take it alone again, as a fresh task).
  auto& dave = w.Add("dave");
  auto c = w.Lease(carol);
  auto d = w.Lease(dave);
  REQUIRE(c.size() == 1);
  REQUIRE(d.size() == 1);
  CHECK(c[0].task_id == single);
  CHECK(d[0].task_id == single);
}
