// Refusals of bad results: each is answered with the right JSON error code
// and leaves the store unchanged.
#include <catch2/catch.hpp>

#include "coordinator/store.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string kTag = "cp311-linux_x86_64";

int64_t StoredResults(TestCoordinator& tc, const std::string& task_id) {
  auto t = Get(*tc.c, "/api/v1/tasks/" + task_id);
  return static_cast<int64_t>(t["results"].size()) * 1000 + tc.c->GetProgress().results;
}

}  // namespace

TEST_CASE("results: bad input is refused with a named reason and changes nothing") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag});
  REQUIRE(tc.Sync());
  auto acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct1, "alice", "alice-box", {kTag});
  auto bob = MakeVolunteer(acct2, "bob", "bob-box", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, bob, tc.now).status == 200);
  auto tasks = Lease(*tc.c, alice, tc.now);
  REQUIRE(tasks.size() == 1);
  const TaskSpec& task = tasks[0];
  CHECK(task.url == index.url().substr(0, index.url().size() - 8) + "/files/alpha-1.0.tar.gz");
  CHECK(task.lease_deadline == tc.now + 900);
  int64_t before = StoredResults(tc, task.task_id);
  std::string good = Envelope(PayloadFor(task, alice, Outcome::kPassed), *alice.machine);

  auto expect_refused = [&](const HttpResponse& r, int status, const std::string& code) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(Body(r)["error"] == code);
    CHECK(Body(r)["detail"].is_string());
    CHECK(StoredResults(tc, task.task_id) == before);
  };

  SECTION("an envelope whose signature does not verify") {
    auto env = nlohmann::json::parse(good);
    auto other = SigningKey::Generate();
    env["signatures"][0]["sig"] = Base64Encode(other->Sign("something else"));
    expect_refused(Submit(*tc.c, alice, env.dump(), tc.now), 401, "bad_signature");
  }
  SECTION("a tampered payload") {
    auto env = nlohmann::json::parse(good);
    auto p = PayloadFor(task, alice, Outcome::kTestsFailed);
    env["payload"] = Base64Encode(nlohmann::json(p).dump());
    expect_refused(Submit(*tc.c, alice, env.dump(), tc.now), 401, "bad_signature");
  }
  SECTION("a request whose signature does not verify") {
    HttpRequest r = Signed(*alice.machine, "POST", "/api/v1/results", good, tc.now);
    r.body = Envelope(PayloadFor(task, alice, Outcome::kTestsFailed), *alice.machine);
    expect_refused(tc.c->Handle(r), 401, "bad_signature");
  }
  SECTION("an unknown volunteer") {
    auto stranger = MakeVolunteer(acct2, "bob", "stranger", {kTag});
    auto p = PayloadFor(task, stranger, Outcome::kPassed);
    expect_refused(Submit(*tc.c, stranger, Envelope(p, *stranger.machine), tc.now), 401,
                   "unknown_volunteer");
  }
  SECTION("a task not leased to this volunteer") {
    auto p = PayloadFor(task, bob, Outcome::kPassed);  // alice's lease, bob's result
    expect_refused(Submit(*tc.c, bob, Envelope(p, *bob.machine), tc.now), 409, "not_leased");
    p.lease_id = "0123456789abcdef";
    expect_refused(Submit(*tc.c, bob, Envelope(p, *bob.machine), tc.now), 409, "not_leased");
  }
  SECTION("the wrong input sha256") {
    auto p = PayloadFor(task, alice, Outcome::kPassed);
    p.input_sha256 = Sha256Hex("something else");
    expect_refused(Submit(*tc.c, alice, Envelope(p, *alice.machine), tc.now), 422, "wrong_input");
  }
  SECTION("an envelope signed by another key than the request") {
    expect_refused(Submit(*tc.c, bob, good, tc.now), 403, "key_mismatch");
  }
  SECTION("a replayed nonce") {
    HttpRequest r = Signed(*alice.machine, "POST", "/api/v1/results",
                           Envelope(PayloadFor(task, alice, Outcome::kInfraError), *alice.machine), tc.now);
    REQUIRE(tc.c->Handle(r).status == 200);  // the infra_error result is stored
    before = StoredResults(tc, task.task_id);
    expect_refused(tc.c->Handle(r), 401, "replayed_nonce");
  }
  SECTION("a stale date") {
    expect_refused(Submit(*tc.c, alice, good, tc.now - 301), 401, "stale_date");
    expect_refused(Submit(*tc.c, alice, good, tc.now + 301), 401, "stale_date");
  }
  SECTION("a body that is not an envelope") {
    expect_refused(Submit(*tc.c, alice, "{\"hello\": 1}", tc.now), 422, "bad_payload");
    expect_refused(Submit(*tc.c, alice, "not json", tc.now), 422, "bad_payload");
  }
  SECTION("a good result is accepted, and its resubmission is a duplicate") {
    auto r = Submit(*tc.c, alice, good, tc.now);
    REQUIRE(r.status == 200);
    CHECK(Body(r)["duplicate"] == false);
    int64_t after = StoredResults(tc, task.task_id);
    CHECK(after == before + 1001);
    auto again = Submit(*tc.c, alice, good, tc.now);
    CHECK(again.status == 200);
    CHECK(Body(again)["duplicate"] == true);
    CHECK(StoredResults(tc, task.task_id) == after);
  }
}

TEST_CASE("enrolment: refused without the account's signature; idempotent otherwise") {
  TestIndex index;
  TestCoordinator tc(index, {});
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto v = MakeVolunteer(acct, "carol", "carol-box", {"cp312-linux_x86_64"});
  SECTION("a forged account signature") {
    auto forger = std::shared_ptr<SigningKey>(SigningKey::Generate());
    TestVolunteer bad = MakeVolunteer(forger, "carol", "carol-box", {});
    EnrolRequest e;
    e.account_key = acct->public_hex();  // claims carol's account
    e.account_name = "carol";
    e.machine_key = bad.id();
    e.machine_name = "x";
    e.account_signature = Base64Encode(forger->Sign(EnrolmentMessage(e.machine_key, "carol", "x")));
    auto r = tc.c->Handle(Signed(*bad.machine, "POST", "/api/v1/volunteers", nlohmann::json(e).dump(), tc.now));
    CHECK(r.status == 401);
    CHECK(Body(r)["error"] == "bad_signature");
    CHECK(Get(*tc.c, "/api/v1/leaderboard")["volunteers"].empty());
  }
  SECTION("enrolling twice changes nothing and adds the platform once") {
    auto r1 = Enrol(*tc.c, v, tc.now);
    REQUIRE(r1.status == 200);
    CHECK(Body(r1)["volunteer_id"] == v.id());
    CHECK(Body(r1)["account"] == acct->public_hex());
    auto r2 = Enrol(*tc.c, v, tc.now);
    CHECK(r2.status == 200);
    auto lb = Get(*tc.c, "/api/v1/leaderboard?window=all");
    CHECK(lb["volunteers"].size() == 1);
    CHECK(lb["accounts"].size() == 1);
    CHECK(lb["accounts"][0]["name"] == "carol");
    CHECK(Get(*tc.c, "/api/v1/projects")["stats"]["volunteers"] == 1);
  }
}

TEST_CASE("a signed request captured before a restart is a replay after it") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag});
  REQUIRE(tc.Sync());
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "alice-box", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  LeaseRequest lr;
  lr.platforms = {kTag};
  HttpRequest captured = Signed(*alice.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), tc.now);
  REQUIRE(tc.c->Handle(captured).status == 200);
  CHECK(Body(tc.c->Handle(captured))["error"] == "replayed_nonce");

  // The coordinator restarts on the same data, a minute later.
  tc.c.reset();
  tc.now += 60;
  coordinator::Options o;
  o.data_dir = tc.dir.path;
  o.index_url = index.url();
  o.platforms = {kTag};
  o.clock = [&tc] { return tc.now.load(); };
  o.distinct_prefix = false;
  o.adaptive_replication = false;
  o.known_answer_rate = 0;
  tc.c = std::make_unique<coordinator::Coordinator>(o);
  std::string err;
  REQUIRE(tc.c->Open(&err));
  HttpResponse again = tc.c->Handle(captured);
  CHECK(again.status == 401);
  CHECK(Body(again)["error"] == "replayed_nonce");
  // A fresh request from the same machine is served.
  CHECK(tc.c->Handle(Signed(*alice.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), tc.now)).status ==
        200);
  // Nonces older than the skew window are forgotten on the next start: the
  // journal does not grow without end.
  tc.now += 3600;
  REQUIRE(tc.c->Handle(Signed(*alice.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), tc.now)).status ==
          200);
  int journal = 0;
  tc.c->store().Scan(coordinator::Cf::kMeta, std::string("nonce") + '\0', "",
                     [&](std::string_view, std::string_view) { return ++journal, true; });
  CHECK(journal == 1);
}
