// The verdict state machine's retry paths: a disagreement asks for one more
// replica at a time; no agreement after the maximum is `inconclusive`, shown
// as such and held against nobody; an expired lease's replica goes to
// someone else (adaptive_replication_test.cc); a verdict a cheater helped
// decide is reopened and verified again (cheater_test.cc).
#include <catch2/catch.hpp>

#include "verifier_world.h"

using namespace corral;
using namespace corral::testing;

TEST_CASE("retry paths: disagreement issues replicas one at a time, up to inconclusive") {
  VerifierWorld w(1);
  std::vector<Member*> m;
  for (const char* name : {"v1", "v2", "v3", "v4", "v5", "v6"}) m.push_back(&w.Add(name));
  auto t0 = w.Lease(*m[0]);
  auto t1 = w.Lease(*m[1]);
  REQUIRE(t0.size() == 1);
  REQUIRE(t1.size() == 1);
  CHECK(w.Lease(*m[2]).empty());  // two replicas at first
  REQUIRE(w.Report(*m[0], t0[0], Outcome::kTestsFailed, "d", {"test_a"}).status == 200);
  REQUIRE(w.Report(*m[1], t1[0], Outcome::kTestsFailed, "d", {"test_b"}).status == 200);
  std::string id = t0[0].task_id;
  for (int i = 2; i < 5; ++i) {
    CHECK(w.Status(id) == "pending");
    auto t = w.Lease(*m[i]);
    REQUIRE(t.size() == 1);
    CHECK(w.Lease(*m[i + 1]).empty());  // then one more at a time
    REQUIRE(w.Report(*m[i], t[0], Outcome::kTestsFailed, "d", {"test_" + std::to_string(i)}).status == 200);
  }
  auto task = w.Task(id);
  CHECK(task["status"] == "inconclusive");
  CHECK(task["summary"] == "replicas disagreed: tests_failed x5");
  // Shown as such in the matrix, never as a pass or a failure.
  auto project = Get(w.c(), "/api/v1/projects/" + task["project"].get<std::string>());
  CHECK(project["versions"][0]["cells"][kWorldTag]["status"] == "inconclusive");
  // Nobody was proven wrong: no contradiction counted, no credit granted.
  for (int i = 0; i < 5; ++i) {
    CHECK(w.Reputation(*m[i]).invalid == 0);
    CHECK(w.Volunteer(*m[i])["credit"] == 0);
  }
  CHECK(w.Lease(*m[5]).empty());
}

TEST_CASE("retry paths: the dissenting replica is judged invalid, the agreeing ones valid") {
  VerifierWorld w(1);
  auto& a = w.Add("a");
  auto& b = w.Add("b");
  auto& c = w.Add("c");
  auto ta = w.Lease(a);
  auto tb = w.Lease(b);
  REQUIRE(w.Report(a, ta[0], Outcome::kPassed).status == 200);
  REQUIRE(w.Report(b, tb[0], Outcome::kImportFailed).status == 200);
  auto tc = w.Lease(c);
  REQUIRE(tc.size() == 1);
  REQUIRE(w.Report(c, tc[0], Outcome::kPassed).status == 200);
  CHECK(w.Status(ta[0].task_id) == "passed");
  CHECK(w.Reputation(a).validated == 1);
  CHECK(w.Reputation(c).validated == 1);
  CHECK(w.Reputation(b).invalid == 1);
  CHECK(w.Reputation(b).exposed_by.size() == 2);
  CHECK(w.Reputation(b).suspicion > 0);
}
