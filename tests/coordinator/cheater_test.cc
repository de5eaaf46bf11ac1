// Cheaters (DESIGN.md section 6): a volunteer caught lying beyond what honest
// flakiness explains is suspended; its credit is clawed back; every verdict
// it helped decide is reopened and verified again; its account is flagged:
// the account's other machines get no work until the operator clears it, and
// are re-checked after; the volunteers whose results exposed it share a
// bounty.
#include <catch2/catch.hpp>

#include <random>

#include "coordinator/reputation.h"
#include "verifier_world.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

namespace {
const std::string kP = "cp311-linux_x86_64";

// Results until suspension for a volunteer contradicted with probability
// `rate` on each checked result; -1 when not suspended within `n`.
int ResultsToSuspension(double rate, int n, uint64_t seed) {
  ReputationPolicy policy;
  ReputationRecord r;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 1; i <= n; ++i) {
    RecordJudgement(&r, kP, u(rng) < rate ? Judgement::kInvalid : Judgement::kValid, policy, true);
    if (ShouldSuspend(r, policy)) return i;
  }
  return -1;
}
}  // namespace

TEST_CASE("cheaters: the threshold tolerates honest flakiness and catches liars") {
  // Contradicted every time: caught on the fifth contradiction, not before.
  ReputationPolicy policy;
  ReputationRecord r;
  for (int i = 0; i < 4; ++i) {
    RecordJudgement(&r, kP, Judgement::kInvalid, policy, true);
    CHECK_FALSE(ShouldSuspend(r, policy));
  }
  RecordJudgement(&r, kP, Judgement::kInvalid, policy, true);
  CHECK(ShouldSuspend(r, policy));

  // Honest and contradicted on 1% of 3000 checked results (flaky tests): never.
  for (uint64_t seed = 1; seed <= 20; ++seed) CHECK(ResultsToSuspension(0.01, 3000, seed) == -1);
  // Two contradictions in a row after a long clean record: still honest.
  ReputationRecord h;
  for (int i = 0; i < 200; ++i) RecordJudgement(&h, kP, Judgement::kValid, policy, true);
  RecordJudgement(&h, kP, Judgement::kInvalid, policy, true);
  RecordJudgement(&h, kP, Judgement::kInvalid, policy, true);
  CHECK_FALSE(ShouldSuspend(h, policy));
  // A liar flipping 10% of its results: caught, typically within 200.
  int caught = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    int n = ResultsToSuspension(0.10, 2000, seed);
    CHECK(n > 0);
    if (n > 0 && n <= 200) ++caught;
  }
  CHECK(caught >= 15);
  // A digest that differs alone (another compiler) is not a lie.
  ReputationRecord d;
  for (int i = 0; i < 50; ++i) RecordJudgement(&d, kP, Judgement::kDigestOnly, policy, true);
  CHECK_FALSE(ShouldSuspend(d, policy));
  CHECK(d.suspicion == 0);
}

TEST_CASE("cheaters: caught lying, suspended, verdicts reopened, credit clawed back, bounty paid") {
  VerifierWorld w(40);
  auto liar_account = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto& liar = w.Add("mallory", liar_account);
  auto& mate = w.Add("mallory", liar_account);  // the account's other machine
  auto& h1 = w.Add("alice");
  auto& h2 = w.Add("bob");
  auto& h3 = w.Add("carol");

  // The other machine earns trust beside carol, then decides tasks alone.
  for (int i = 0; i < 10; ++i) {
    auto a = w.Lease(mate);
    auto b = w.Lease(h3);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(w.Report(mate, a[0], Outcome::kPassed).status == 200);
    REQUIRE(w.Report(h3, b[0], Outcome::kPassed).status == 200);
  }
  std::vector<std::string> alone;
  for (int i = 0; i < 20 && alone.size() < 2; ++i) {
    auto a = w.Lease(mate);
    REQUIRE(a.size() == 1);
    REQUIRE(w.Report(mate, a[0], Outcome::kPassed).status == 200);
    if (w.Status(a[0].task_id) == "passed") {
      alone.push_back(a[0].task_id);
    } else {
      auto b = w.Lease(h3);
      REQUIRE(b.size() == 1);
      REQUIRE(w.Report(h3, b[0], Outcome::kPassed).status == 200);
    }
  }
  REQUIRE(alone.size() == 2);

  // The liar answers honestly beside alice first: three verdicts, credit 30.
  std::vector<std::string> helped;
  for (int i = 0; i < 3; ++i) {
    auto a = w.Lease(liar);
    auto b = w.Lease(h1);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(a[0].task_id == b[0].task_id);
    REQUIRE(w.Report(liar, a[0], Outcome::kPassed).status == 200);
    REQUIRE(w.Report(h1, b[0], Outcome::kPassed).status == 200);
    REQUIRE(w.Status(a[0].task_id) == "passed");
    helped.push_back(a[0].task_id);
  }
  CHECK(w.Volunteer(liar)["credit"] == Approx(30));
  CHECK(w.Volunteer(h1)["credit"] == Approx(30));

  // Then it claims "passed" without building; alice and bob say build_failed.
  int lies = 0;
  while (!w.Volunteer(liar)["suspended"].get<bool>()) {
    REQUIRE(++lies <= 5);
    auto a = w.Lease(liar);
    auto b = w.Lease(h1);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    REQUIRE(a[0].task_id == b[0].task_id);
    REQUIRE(w.Report(liar, a[0], Outcome::kPassed, "made-up").status == 200);
    REQUIRE(w.Report(h1, b[0], Outcome::kBuildFailed).status == 200);
    auto c = w.Lease(h2);
    REQUIRE(c.size() == 1);
    REQUIRE(c[0].task_id == a[0].task_id);
    REQUIRE(w.Report(h2, c[0], Outcome::kBuildFailed).status == 200);
    CHECK(w.Status(a[0].task_id) == "build_failed");
  }
  CHECK(lies == 5);

  auto v = w.Volunteer(liar);
  CHECK(v["suspended"] == true);
  CHECK(v["suspended_reason"].get<std::string>().find("5 of its results contradicted") == 0);
  CHECK(v["credit"] == 0);
  CHECK(v["clawed_back"] == Approx(30));
  CHECK(v["verdicts_reopened"] == 3);
  CHECK(w.Reputation(liar).results_at_suspension == 8);

  // Every verdict it helped decide is open again; alice's credit for them too.
  for (const auto& id : helped) CHECK(w.Status(id) == "pending");
  // The bounty: half the clawed-back 30, shared by alice and bob.
  CHECK(w.Volunteer(h1)["cheaters_exposed"] == 1);
  CHECK(w.Volunteer(h2)["cheaters_exposed"] == 1);
  CHECK(w.Volunteer(h1)["bounty"] == Approx(7.5));
  CHECK(w.Volunteer(h2)["bounty"] == Approx(7.5));
  // alice: 30 from the reopened verdicts withdrawn, 5 x 10 from exposing it, 7.5 bounty.
  CHECK(w.Volunteer(h1)["credit"] == Approx(57.5));

  // No more work, no more results.
  auto refused = w.LeaseResponseOf(liar);
  CHECK(refused.status == 403);
  CHECK(Body(refused)["error"] == "suspended");

  // The account is flagged: its other machine gets no work, and is
  // re-checked (no trust, checks owed, what it decided alone verified again).
  auto flagged = w.LeaseResponseOf(mate);
  CHECK(flagged.status == 403);
  CHECK(Body(flagged)["error"] == "account_flagged");
  auto mate_rep = w.Reputation(mate);
  CHECK(mate_rep.consecutive[kWorldTag] == 0);
  CHECK(mate_rep.review_checks > 0);
  for (const auto& id : alone) CHECK(w.Status(id) == "pending");
  CHECK(w.Volunteer(mate)["suspended"] == false);
  auto account_page = Get(w.c(), "/api/v1/accounts/" + liar_account->public_hex());
  CHECK(account_page["flagged"] == true);
  CHECK(account_page["cleared_at"].is_null());

  // Re-verification: a reopened task goes to a volunteer of another account
  // (never the liar's), and the remaining honest result plus the new one decide.
  std::set<std::string> reopened(helped.begin(), helped.end());
  int redecided = 0;
  for (int i = 0; i < 10 && redecided < 3; ++i) {
    auto t = w.Lease(h3);
    if (t.empty()) break;
    REQUIRE(w.Report(h3, t[0], Outcome::kPassed).status == 200);
    if (reopened.count(t[0].task_id)) {
      auto task = w.Task(t[0].task_id);
      CHECK(task["status"] == "passed");
      for (const auto& r : task["results"])
        if (r["volunteer_id"] == liar.id()) CHECK(r["agrees"] == false);
      ++redecided;
    }
  }
  CHECK(redecided == 3);
  CHECK(w.Volunteer(h1)["credit"] == Approx(87.5));  // alice earns the re-decided verdicts again

  // A restart keeps the flag; the operator's --clear-account lifts it: the
  // other machine works again (still owing checks), the caught one does not.
  w.Restart({});
  CHECK(Body(w.LeaseResponseOf(mate))["error"] == "account_flagged");
  w.Restart([&](coordinator::Options& o) { o.cleared_accounts = {liar_account->public_hex()}; });
  CHECK(w.LeaseResponseOf(mate).status == 200);
  CHECK(w.Reputation(mate).review_checks > 0);
  CHECK(Body(w.LeaseResponseOf(liar))["error"] == "suspended");
  account_page = Get(w.c(), "/api/v1/accounts/" + liar_account->public_hex());
  CHECK(account_page["flagged"] == false);
  CHECK(account_page["cleared_at"].is_number());
  CHECK(account_page["suspended"] == true);  // its caught machine stays suspended
}

TEST_CASE("cheaters: results of a suspended volunteer are refused") {
  VerifierWorld w(10);
  auto& liar = w.Add("mallory");
  auto& h1 = w.Add("alice");
  auto& h2 = w.Add("bob");
  std::vector<TaskSpec> held;
  for (int i = 0; i < 6 && !w.Volunteer(liar)["suspended"].get<bool>(); ++i) {
    // On the last lie it holds a second task it never answers.
    auto a = w.Lease(liar, i == 4 ? 2 : 1);
    REQUIRE(a.size() == (i == 4 ? 2u : 1u));
    if (i == 4) held.push_back(a[1]);
    REQUIRE(w.Report(liar, a[0], Outcome::kPassed, "made-up").status == 200);
    auto b = w.Lease(h1);
    REQUIRE(b.size() == 1);
    REQUIRE(b[0].task_id == a[0].task_id);
    REQUIRE(w.Report(h1, b[0], Outcome::kBuildFailed).status == 200);
    auto c = w.Lease(h2);
    REQUIRE(c.size() == 1);
    REQUIRE(c[0].task_id == a[0].task_id);
    REQUIRE(w.Report(h2, c[0], Outcome::kBuildFailed).status == 200);
  }
  REQUIRE(w.Volunteer(liar)["suspended"] == true);
  REQUIRE(held.size() == 1);
  // Its leases ended at the suspension: the held task is someone else's now.
  CHECK(w.c().GetProgress().leased == 0);
  auto r = w.Report(liar, held.back(), Outcome::kPassed);
  CHECK(r.status == 403);
  CHECK(Body(r)["error"] == "suspended");
  // Its account enrols no fresh machine (a new key would start a clean
  // record); another account still can.
  CHECK_THROWS_WITH(w.Add("mallory-new-box", liar.v.account), "enrolment failed");
  CHECK_NOTHROW(w.Add("carol"));
}
