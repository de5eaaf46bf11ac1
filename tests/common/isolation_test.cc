#include "common/isolation.h"

#include <catch2/catch.hpp>

#include "common/protocol.h"

using namespace corral;

namespace {

constexpr const char kFull[] =
    "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs=512M;rlimits;timeouts;"
    "seccomp=denylist;cgroups=memory,pids,cpu;disk-cap";
constexpr const char kNoNetNoSeccomp[] =
    "bwrap:pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs;rlimits;timeouts;seccomp=none";

}  // namespace

TEST_CASE("IsolationFeatures names every part of a sandbox's level") {
  auto f = IsolationFeatures(kFull);
  for (const char* want : {"bwrap", "ns:net", "ns:pid", "ns:user", "caps=none", "ro-host", "tmpfs",
                           "rlimits", "timeouts", "seccomp=denylist", "cgroup:memory",
                           "cgroup:pids", "cgroup:cpu", "disk-cap"}) {
    CAPTURE(want);
    CHECK(f.count(want) == 1);
  }
  CHECK(f.size() == 17);
  auto weak = IsolationFeatures(kNoNetNoSeccomp);
  CHECK(weak.count("ns:net") == 0);
  CHECK(weak.count("seccomp=none") == 0);  // "none" is the absence of a filter
  CHECK(weak.count("tmpfs") == 1);
  CHECK(IsolationFeatures("").empty());
}

TEST_CASE("IsolationSatisfies compares presence, says what is missing") {
  std::string missing;
  CHECK(IsolationSatisfies(kFull, "", &missing));
  CHECK(IsolationSatisfies("", "", &missing));
  CHECK(IsolationSatisfies(kFull, "bwrap:net;seccomp=denylist;cgroups=pids", &missing));
  CHECK(missing.empty());
  // Sizes are not compared: any capped tmpfs is a tmpfs.
  CHECK(IsolationSatisfies(kFull, "tmpfs=64M", &missing));
  CHECK_FALSE(IsolationSatisfies(kNoNetNoSeccomp, "bwrap:net;seccomp=denylist;cgroups=pids",
                                 &missing));
  CHECK(missing == "cgroup:pids,ns:net,seccomp=denylist");
  CHECK_FALSE(IsolationSatisfies("", "bwrap", &missing));
  CHECK(missing == "bwrap");
  // A different filter is not the one required.
  CHECK_FALSE(IsolationSatisfies("bwrap:net;seccomp=bpf", "seccomp=denylist", nullptr));
}

TEST_CASE("isolation travels in enrolment, lease requests and tasks, and stays optional") {
  LeaseRequest lr;
  lr.platforms = {"cp312-linux_x86_64"};
  lr.isolation = kFull;
  LeaseRequest back;
  std::string err;
  REQUIRE(ParseLeaseRequest(nlohmann::json(lr), &back, &err));
  CHECK(back.isolation == kFull);
  LeaseRequest old;
  REQUIRE(ParseLeaseRequest(nlohmann::json{{"platforms", {"cp312-linux_x86_64"}}}, &old, &err));
  CHECK(old.isolation.empty());

  TaskSpec t;
  t.task_id = "t";
  t.lease_id = "l";
  t.project = "p";
  t.version = "1";
  t.filename = "p-1.tar.gz";
  t.url = "http://x/p-1.tar.gz";
  t.sha256 = "00";
  t.platform = "cp312-linux_x86_64";
  CHECK_FALSE(nlohmann::json(t).contains("min_isolation"));
  t.min_isolation = "bwrap:net;seccomp=denylist";
  TaskSpec t2;
  REQUIRE(ParseTaskSpec(nlohmann::json(t), &t2, &err));
  CHECK(t2.min_isolation == "bwrap:net;seccomp=denylist");

  EnrolRequest e;
  e.account_key = e.account_name = e.machine_key = e.machine_name = e.account_signature = "x";
  e.isolation = kNoNetNoSeccomp;
  EnrolRequest e2;
  REQUIRE(ParseEnrolRequest(nlohmann::json(e), &e2, &err));
  CHECK(e2.isolation == kNoNetNoSeccomp);
}
