#include "coordinator/quorum.h"

#include <catch2/catch.hpp>

#include "coordinator/credit.h"

using namespace corral;
using namespace corral::coordinator;

namespace {
Vote V(const std::string& account, Outcome o, std::vector<std::string> failing = {},
       std::string digest = "", double secs = 10) {
  static int n = 0;
  Vote v;
  v.lease_id = "lease" + std::to_string(++n);
  v.volunteer_id = "vol-" + v.lease_id;
  v.account = account;
  v.outcome = o;
  v.failing_tests = std::move(failing);
  v.wheel_content_digest = std::move(digest);
  v.total_seconds = secs;
  return v;
}
}  // namespace

TEST_CASE("quorum: two agreeing results from different accounts make a verdict") {
  auto d = Decide({V("a", Outcome::kPassed, {}, "d1"), V("b", Outcome::kPassed, {}, "d1")}, {});
  CHECK(d.kind == QuorumDecision::Kind::kVerdict);
  CHECK(d.outcome == Outcome::kPassed);
  CHECK(d.agreeing.size() == 2);
}

TEST_CASE("quorum: two agreeing results from the same account are not enough") {
  auto d = Decide({V("a", Outcome::kPassed), V("a", Outcome::kPassed)}, {});
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.wanted == 1);
}

TEST_CASE("quorum: results disagree on outcome, failing tests or wheel digest") {
  CHECK_FALSE(Agree(V("a", Outcome::kPassed), V("b", Outcome::kTestsFailed, {"t1"})));
  CHECK_FALSE(Agree(V("a", Outcome::kTestsFailed, {"t1"}), V("b", Outcome::kTestsFailed, {"t2"})));
  CHECK(Agree(V("a", Outcome::kTestsFailed, {"t2", "t1"}), V("b", Outcome::kTestsFailed, {"t1", "t2"})));
  CHECK_FALSE(Agree(V("a", Outcome::kPassed, {}, "x"), V("b", Outcome::kPassed, {}, "y")));
  // A built outcome without a digest differs from one with a digest.
  CHECK_FALSE(Agree(V("a", Outcome::kPassed, {}, "x"), V("b", Outcome::kPassed, {}, "")));
  CHECK(Compare(V("a", Outcome::kPassed, {}, "x"), V("b", Outcome::kPassed, {}, "y")) ==
        Difference::kDigestOnly);
  CHECK(Compare(V("a", Outcome::kPassed, {}, "x"), V("b", Outcome::kNoTests, {}, "x")) ==
        Difference::kResult);
  // Outcomes without a wheel ignore the digest.
  CHECK(Agree(V("a", Outcome::kBuildFailed, {}, "x"), V("b", Outcome::kBuildFailed, {}, "")));
  auto d = Decide({V("a", Outcome::kPassed), V("b", Outcome::kTestsFailed, {"t"})}, {});
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.wanted == 1);
  auto d3 = Decide({V("a", Outcome::kPassed), V("b", Outcome::kTestsFailed, {"t"}), V("c", Outcome::kPassed)}, {});
  CHECK(d3.kind == QuorumDecision::Kind::kVerdict);
  CHECK(d3.outcome == Outcome::kPassed);
}

TEST_CASE("quorum: infra_error never votes") {
  CHECK_FALSE(Agree(V("a", Outcome::kInfraError), V("b", Outcome::kInfraError)));
  auto d = Decide({V("a", Outcome::kInfraError), V("b", Outcome::kInfraError), V("c", Outcome::kPassed)}, {});
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.voting == 1);
  CHECK(d.wanted == 1);
}

TEST_CASE("quorum: no agreement after max results is inconclusive") {
  std::vector<Vote> votes;
  for (int i = 0; i < 5; ++i)
    votes.push_back(V("acct" + std::to_string(i), Outcome::kTestsFailed, {"t" + std::to_string(i)}));
  QuorumPolicy policy;
  auto d4 = Decide(std::vector<Vote>(votes.begin(), votes.begin() + 4), policy);
  CHECK(d4.kind == QuorumDecision::Kind::kNeedMore);
  auto d5 = Decide(votes, policy);
  CHECK(d5.kind == QuorumDecision::Kind::kInconclusive);
}

TEST_CASE("credit is the capped lower median of the agreeing replicas' durations") {
  CHECK(CreditForVerdict({10, 1000, 20}) == Approx(20));
  // The lower median: one replica inflating its claim raises nobody's credit.
  CHECK(CreditForVerdict({10, 30}) == Approx(10));
  CHECK(CreditForVerdict({10, 3600}) == Approx(10));
  CHECK(CreditForVerdict({40, 10, 30, 20}) == Approx(20));
  CHECK(CreditForVerdict({99999, 99999}) == Approx(kCreditCapSeconds));
  CHECK(CreditForVerdict({-5, -1}) == 0);
  CHECK(CreditForVerdict({}) == 0);
}
