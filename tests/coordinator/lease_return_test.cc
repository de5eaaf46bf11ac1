// POST /api/v1/leases/return: a volunteer that stops mid-task gives its
// leases back, so their tasks go out again at once instead of after the
// deadline, and no result is taken for a returned lease.
#include <catch2/catch.hpp>

#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string kTag = "cp311-linux_x86_64";

LeaseReturnResponse Return(coordinator::Coordinator& c, const TestVolunteer& v,
                           const std::vector<std::string>& ids, int64_t now, int* status) {
  LeaseReturnRequest req;
  req.lease_ids = ids;
  HttpResponse r = c.Handle(Signed(*v.machine, "POST", "/api/v1/leases/return", nlohmann::json(req).dump(), now));
  *status = r.status;
  LeaseReturnResponse out;
  std::string err;
  if (r.status == 200) REQUIRE(ParseLeaseReturnResponse(Body(r), &out, &err));
  return out;
}

}  // namespace

TEST_CASE("lease return: the task is re-issued at once, also to the same account; its result is refused") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag}, 600);
  REQUIRE(tc.Sync());
  auto acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto acct3 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct1, "alice", "alice-1", {kTag});
  auto bob = MakeVolunteer(acct2, "bob", "bob-1", {kTag});
  auto carol = MakeVolunteer(acct3, "carol", "carol-1", {kTag});
  for (auto* v : {&alice, &bob, &carol}) REQUIRE(Enrol(*tc.c, *v, tc.now).status == 200);

  auto a = Lease(*tc.c, alice, tc.now);
  auto b = Lease(*tc.c, bob, tc.now);
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(Lease(*tc.c, carol, tc.now).empty());  // both replicas are out
  CHECK(tc.c->GetProgress().leased == 2);

  // Someone else's lease and an unknown id are not returned.
  int status = 0;
  auto r = Return(*tc.c, bob, {a[0].lease_id, "no-such-lease"}, tc.now + 1, &status);
  REQUIRE(status == 200);
  CHECK(r.returned.empty());
  CHECK(r.unknown.size() == 2);
  CHECK(tc.c->GetProgress().leased == 2);

  r = Return(*tc.c, alice, {a[0].lease_id}, tc.now + 1, &status);
  REQUIRE(status == 200);
  REQUIRE(r.returned.size() == 1);
  CHECK(r.returned[0] == a[0].lease_id);
  CHECK(tc.c->GetProgress().leased == 1);

  SECTION("the same account (a restarted daemon) may take it again, long before the deadline") {
    auto again = Lease(*tc.c, alice, tc.now + 2);
    REQUIRE(again.size() == 1);
    CHECK(again[0].task_id == a[0].task_id);
    CHECK(again[0].lease_id != a[0].lease_id);
  }
  SECTION("or someone else") {
    auto c = Lease(*tc.c, carol, tc.now + 2);
    REQUIRE(c.size() == 1);
    CHECK(c[0].task_id == a[0].task_id);
  }
  SECTION("a result for the returned lease is refused and stores nothing") {
    auto late = Submit(*tc.c, alice, Envelope(PayloadFor(a[0], alice, Outcome::kPassed, 10, {}), *alice.machine),
                       tc.now + 3);
    CHECK(late.status == 409);
    CHECK(Body(late)["error"] == "lease_returned");
    CHECK(Get(*tc.c, "/api/v1/tasks/" + a[0].task_id)["results"].size() == 0);
    // Returning it twice is harmless.
    r = Return(*tc.c, alice, {a[0].lease_id}, tc.now + 3, &status);
    CHECK(status == 200);
    CHECK(r.unknown.size() == 1);
  }
}

TEST_CASE("lease return: unsigned or malformed requests are refused") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag}, 600);
  REQUIRE(tc.Sync());
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct, "alice", "alice-1", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  auto unsigned_req = tc.c->Handle(Request("POST", "/api/v1/leases/return", "{\"lease_ids\": []}"));
  CHECK(unsigned_req.status == 401);
  auto bad = tc.c->Handle(Signed(*alice.machine, "POST", "/api/v1/leases/return", "{\"lease\": 1}", tc.now));
  CHECK(bad.status == 422);
}
