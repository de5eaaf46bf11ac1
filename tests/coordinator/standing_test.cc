// Standing (issue 17, "verdicts a colluding ring cannot forge"): a verdict
// needs an established volunteer among the agreeing results, disagreeing
// groups are ranked by standing before head count, standing is earned only
// from established volunteers of other accounts, and a wheel needs two
// established accounts behind its digest.
#include <catch2/catch.hpp>

#include "coordinator/quorum.h"
#include "coordinator/reputation.h"
#include "coordinator/wheel_index.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;
using coordinator::Decide;
using coordinator::QuorumDecision;
using coordinator::QuorumPolicy;
using coordinator::Vote;

namespace {

Vote V(const std::string& account, Outcome o, bool established, const std::string& digest = "") {
  Vote v;
  v.account = account;
  v.volunteer_id = account + "-box";
  v.lease_id = account + "-lease";
  v.outcome = o;
  v.established = established;
  v.wheel_content_digest = digest;
  return v;
}

QuorumPolicy Standing() {
  QuorumPolicy p;
  p.distinct_prefix = false;
  p.require_established = true;
  return p;
}

}  // namespace

TEST_CASE("standing: newcomers agreeing among themselves never decide") {
  std::vector<Vote> votes{V("ring1", Outcome::kPassed, false, "lie"), V("ring2", Outcome::kPassed, false, "lie")};
  QuorumDecision d = Decide(votes, Standing());
  CHECK(d.kind == QuorumDecision::Kind::kNeedMore);
  CHECK(d.needs_established);
  CHECK(d.wanted == 1);
  // Without the rule the same two decide: what the rule prevents.
  QuorumPolicy plain = Standing();
  plain.require_established = false;
  CHECK(Decide(votes, plain).kind == QuorumDecision::Kind::kVerdict);

  SECTION("a ring of four is outranked by two established volunteers: standing, not head count") {
    votes.push_back(V("ring3", Outcome::kPassed, false, "lie"));
    votes.push_back(V("ring4", Outcome::kPassed, false, "lie"));
    votes.push_back(V("alice", Outcome::kBuildFailed, true));
    d = Decide(votes, Standing());
    CHECK(d.kind == QuorumDecision::Kind::kNeedMore);  // five results, yet not inconclusive
    CHECK(d.needs_established);
    votes.push_back(V("bob", Outcome::kBuildFailed, true));
    d = Decide(votes, Standing());
    REQUIRE(d.kind == QuorumDecision::Kind::kVerdict);
    CHECK(d.outcome == Outcome::kBuildFailed);
  }
  SECTION("an established volunteer agreeing with a newcomer decides, itself kept in the quorum") {
    votes = {V("newbie", Outcome::kPassed, false, "d"), V("ring", Outcome::kTestsFailed, false),
             V("alice", Outcome::kPassed, true, "d")};
    d = Decide(votes, Standing());
    REQUIRE(d.kind == QuorumDecision::Kind::kVerdict);
    CHECK(d.outcome == Outcome::kPassed);
    CHECK(votes[d.agreeing[0]].account == "alice");
  }
  SECTION("established volunteers that keep disagreeing end inconclusive as before") {
    votes = {V("a", Outcome::kPassed, true, "d"), V("b", Outcome::kTestsFailed, true),
             V("c", Outcome::kBuildFailed, true), V("e", Outcome::kImportFailed, true),
             V("f", Outcome::kInstallFailed, true)};
    CHECK(Decide(votes, Standing()).kind == QuorumDecision::Kind::kInconclusive);
  }
}

TEST_CASE("standing: a wheel needs two established accounts behind its digest") {
  std::vector<Vote> votes{V("alice", Outcome::kPassed, true, "d1"), V("newbie", Outcome::kPassed, false, "d1")};
  CHECK(coordinator::AgreedWheelDigest(votes, {0, 1}) == "d1");
  CHECK(coordinator::AgreedWheelDigest(votes, {0, 1}, true).empty());
  votes.push_back(V("bob", Outcome::kPassed, true, "d1"));
  CHECK(coordinator::AgreedWheelDigest(votes, {0, 1}, true) == "d1");  // bob counts, though not in the quorum kept
}

TEST_CASE("standing: earned only from established vouchers of at least two accounts") {
  coordinator::ReputationPolicy policy;
  coordinator::ReputationRecord r;
  for (int i = 0; i < 20; ++i) coordinator::RecordIndependentValidation(&r, "alice");
  CHECK_FALSE(coordinator::EarnedStanding(r, policy));  // one voucher account, however often
  coordinator::RecordIndependentValidation(&r, "bob");
  CHECK(coordinator::EarnedStanding(r, policy));
  r.suspicion = policy.suspend_at;
  CHECK_FALSE(coordinator::EarnedStanding(r, policy));
}

TEST_CASE("standing through the API: a ring of four fresh accounts cannot publish its lie") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  const std::string tag = "cp311-linux_x86_64";
  auto alice_account = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto bob_account = std::shared_ptr<SigningKey>(SigningKey::Generate());
  TestCoordinator tc(index, {tag}, 900, [&](coordinator::Options& o) {
    o.require_standing = true;
    o.trusted_accounts = {alice_account->public_hex(), bob_account->public_hex()};
  });
  REQUIRE(tc.Sync());
  TestVolunteer alice = MakeVolunteer(alice_account, "alice", "alice-box", {tag});
  TestVolunteer bob = MakeVolunteer(bob_account, "bob", "bob-box", {tag});
  std::vector<TestVolunteer> ring;
  for (int i = 0; i < 4; ++i)
    ring.push_back(MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "ring" + std::to_string(i),
                                 "ring-box" + std::to_string(i), {tag}));
  for (auto* v : {&alice, &bob}) REQUIRE(Enrol(*tc.c, *v, tc.now).status == 200);
  for (auto& v : ring) REQUIRE(Enrol(*tc.c, v, tc.now).status == 200);

  auto lie = [&](const TestVolunteer& v, const TaskSpec& t) {
    return Submit(*tc.c, v, Envelope(PayloadFor(t, v, Outcome::kPassed, 10, {}, std::string(64, 'e')), *v.machine),
                  tc.now);
  };
  // Two of the ring take the task first and agree on their lie.
  for (int i = 0; i < 2; ++i) {
    auto got = Lease(*tc.c, ring[i], tc.now);
    REQUIRE(got.size() == 1);
    REQUIRE(lie(ring[i], got[0]).status == 200);
  }
  std::string task_id;
  {
    nlohmann::json project = Get(*tc.c, "/api/v1/projects/alpha");
    INFO(project.dump());
    CHECK(project.dump().find("\"passed\"") == std::string::npos);
  }
  // The rest of the ring gets nothing more of it: only standing may add a replica.
  CHECK(Lease(*tc.c, ring[2], tc.now).empty());
  // The trusted builders find the truth.
  auto a = Lease(*tc.c, alice, tc.now);
  REQUIRE(a.size() == 1);
  task_id = a[0].task_id;
  REQUIRE(Submit(*tc.c, alice, Envelope(PayloadFor(a[0], alice, Outcome::kBuildFailed), *alice.machine), tc.now)
              .status == 200);
  CHECK(Get(*tc.c, "/api/v1/tasks/" + task_id)["status"] != "passed");
  auto b = Lease(*tc.c, bob, tc.now);
  REQUIRE(b.size() == 1);
  REQUIRE(Submit(*tc.c, bob, Envelope(PayloadFor(b[0], bob, Outcome::kBuildFailed), *bob.machine), tc.now).status ==
          200);
  nlohmann::json task = Get(*tc.c, "/api/v1/tasks/" + task_id);
  INFO(task.dump());
  CHECK(task["status"] == "build_failed");
  // Nothing of the ring's reaches /simple/.
  CHECK(tc.c->Handle(Request("GET", "/simple/alpha/")).status == 404);
  // Its members earned no standing, and the trusted show as such.
  nlohmann::json page = Get(*tc.c, "/api/v1/volunteers/" + ring[0].id());
  CHECK(page["standing"] == "newcomer");
  CHECK(Get(*tc.c, "/api/v1/volunteers/" + alice.id())["standing"] == "trusted");
}
