// A coordinator that requires an isolation level (Options::min_isolation)
// leases nothing to a volunteer whose advertised level lacks a feature, and
// tells it why; the tasks it leases carry the requirement.
#include <catch2/catch.hpp>

#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string kTag = "cp311-linux_x86_64";
constexpr const char kStrong[] =
    "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs=512M;rlimits;timeouts;"
    "seccomp=denylist;cgroups=memory,pids,cpu;disk-cap";
constexpr const char kNoSeccomp[] =
    "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs=512M;rlimits;timeouts;seccomp=none";

HttpResponse LeaseWith(coordinator::Coordinator& c, const TestVolunteer& v, const std::string& isolation,
                       int64_t now) {
  LeaseRequest lr;
  lr.platforms = v.platforms;
  lr.isolation = isolation;
  return c.Handle(Signed(*v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), now));
}

}  // namespace

TEST_CASE("isolation: a volunteer below the coordinator's minimum gets no work and learns why") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag}, 600, [](coordinator::Options& o) {
    o.min_isolation = "bwrap:net;seccomp=denylist";
  });
  REQUIRE(tc.Sync());
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "a-1", {kTag});
  auto bob = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "bob", "b-1", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, bob, tc.now).status == 200);

  HttpResponse weak = LeaseWith(*tc.c, alice, kNoSeccomp, tc.now);
  CHECK(weak.status == 403);
  CHECK(Body(weak)["error"] == "insufficient_isolation");
  CHECK(Body(weak)["detail"].get<std::string>().find("seccomp=denylist") != std::string::npos);
  // Not advertising a level at all is no better.
  CHECK(LeaseWith(*tc.c, alice, "", tc.now).status == 403);
  CHECK(tc.c->GetProgress().leased == 0);

  HttpResponse strong = LeaseWith(*tc.c, bob, kStrong, tc.now);
  REQUIRE(strong.status == 200);
  LeaseResponse resp;
  std::string err;
  REQUIRE(ParseLeaseResponse(Body(strong), &resp, &err));
  REQUIRE(resp.tasks.size() == 1);
  CHECK(resp.tasks[0].min_isolation == "bwrap:net;seccomp=denylist");
}

TEST_CASE("isolation: without a minimum every volunteer is served, levels or not") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TestCoordinator tc(index, {kTag}, 600);
  REQUIRE(tc.Sync());
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "a-1", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  HttpResponse r = LeaseWith(*tc.c, alice, "", tc.now);
  REQUIRE(r.status == 200);
  LeaseResponse resp;
  std::string err;
  REQUIRE(ParseLeaseResponse(Body(r), &resp, &err));
  REQUIRE(resp.tasks.size() == 1);
  CHECK(resp.tasks[0].min_isolation.empty());
}
