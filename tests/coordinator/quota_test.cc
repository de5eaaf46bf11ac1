// Per-volunteer limits (DESIGN.md section 3): tasks in flight, and tasks per
// day, a quota that grows with validated results and shrinks with errors.
#include "coordinator/quota.h"

#include <catch2/catch.hpp>

#include "verifier_world.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

TEST_CASE("quota: a new volunteer's day, and what raises and lowers the limit") {
  QuotaPolicy policy;
  policy.initial_per_day = 10;
  policy.min_per_day = 2;
  policy.max_per_day = 12;
  DailyQuota q;
  const int64_t day1 = 1'700'000'000 - 1'700'000'000 % 86400 + 3600;
  CHECK(QuotaRemaining(q, day1, policy) == 10);
  UseQuota(&q, day1, 7, policy);
  CHECK(QuotaRemaining(q, day1, policy) == 3);
  UseQuota(&q, day1 + 60, 3, policy);
  CHECK(QuotaRemaining(q, day1 + 60, policy) == 0);
  // A new UTC day starts from zero.
  CHECK(QuotaRemaining(q, day1 + 86400, policy) == 10);
  CHECK(SecondsToNextDay(day1) == 86400 - 3600);
  // Validated results raise the limit, up to the maximum.
  for (int i = 0; i < 5; ++i) QuotaOnValid(&q, policy);
  CHECK(QuotaLimit(q, policy) == 12);
  CHECK(QuotaRemaining(q, day1, policy) == 2);
  // Errors lower it, down to the minimum.
  QuotaOnFailure(&q, policy);
  CHECK(QuotaLimit(q, policy) == 8);
  for (int i = 0; i < 5; ++i) QuotaOnFailure(&q, policy);
  CHECK(QuotaLimit(q, policy) == 2);
}

TEST_CASE("quota: no more tasks in flight than the limit") {
  VerifierWorld w(10, [](coordinator::Options& o) { o.max_in_flight = 3; });
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto a = w.Lease(alice, 5);
  CHECK(a.size() == 3);
  CHECK(w.Lease(alice, 5).empty());
  REQUIRE(w.Report(alice, a[0], Outcome::kPassed).status == 200);
  CHECK(w.Lease(alice, 5).size() == 1);
  CHECK(w.Lease(bob, 5).size() == 3);
}

TEST_CASE("quota: tasks per day start small, grow with validated results, shrink with errors") {
  VerifierWorld w(40, [](coordinator::Options& o) { o.initial_daily_quota = 4; });
  auto& alice = w.Add("alice");
  auto& bob = w.Add("bob");
  auto a = w.Lease(alice, 10);
  CHECK(a.size() == 4);
  auto refused = w.LeaseResponseOf(alice, 10);
  REQUIRE(refused.status == 200);
  CHECK(Body(refused)["tasks"].empty());
  CHECK(Body(refused)["next_poll_s"].get<int>() > 60);  // come back later, not every second
  // Four validated results: four more tasks today.
  auto b = w.Lease(bob, 4);
  REQUIRE(b.size() == 4);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(w.Report(alice, a[i], Outcome::kPassed).status == 200);
    REQUIRE(w.Report(bob, b[i], Outcome::kPassed).status == 200);
  }
  CHECK(w.Reputation(alice).quota.limit == 8);
  CHECK(w.Lease(alice, 10).size() == 4);
  // Errors cost more than successes earn.
  auto more = w.Lease(bob, 4);
  REQUIRE(more.size() == 4);
  for (const auto& t : more) REQUIRE(w.Report(bob, t, Outcome::kInfraError).status == 200);
  CHECK(w.Reputation(bob).quota.limit == 4);  // 8 - 4 x 4, held at the minimum of 4
  // The next UTC day begins afresh (with the limit earned).
  w.Advance(86400);
  CHECK(w.Lease(alice, 10).size() == 8);
}

TEST_CASE("quota: the operator's trusted builders have no daily limit") {
  auto trusted = std::shared_ptr<SigningKey>(SigningKey::Generate());
  VerifierWorld w(40, [&](coordinator::Options& o) {
    o.initial_daily_quota = 4;
    o.trusted_accounts = {trusted->public_hex()};
  });
  auto& alice = w.Add("alice", trusted);
  auto& bob = w.Add("bob");
  CHECK(w.Lease(alice, 10).size() == 10);
  CHECK(w.Lease(alice, 10).size() == 10);
  CHECK(w.Lease(bob, 10).size() == 4);  // a newcomer's first day
}
