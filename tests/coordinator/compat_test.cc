#include <catch2/catch.hpp>

#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string k311 = "cp311-linux_x86_64";
const std::string k312 = "cp312-linux_x86_64";
const std::string k27 = "cp27-linux_x86_64";

}  // namespace

TEST_CASE("compat: yes, no, unknown and unsupported, with evidence and the newest working version") {
  TestIndex index;
  index.SetProject("widget", {{"widget-1.0.tar.gz", "w1", ">=3.6", "2023-01-01T00:00:00Z"},
                              {"widget-2.0.tar.gz", "w2", ">=3.6", "2024-01-01T00:00:00Z"}});
  TestCoordinator tc(index, {k311, k312, k27});
  REQUIRE(tc.Sync());
  auto a1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto a2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto x = MakeVolunteer(a1, "x", "x", {k311});
  auto y = MakeVolunteer(a2, "y", "y", {k311});
  REQUIRE(Enrol(*tc.c, x, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, y, tc.now).status == 200);
  // Newer uploads go first: 2.0 fails its tests, then 1.0 passes.
  for (int round = 0; round < 2; ++round) {
    auto tx = Lease(*tc.c, x, tc.now);
    auto ty = Lease(*tc.c, y, tc.now);
    REQUIRE(tx.size() == 1);
    REQUIRE(ty.size() == 1);
    REQUIRE(tx[0].task_id == ty[0].task_id);
    Outcome o = tx[0].version == "2.0" ? Outcome::kTestsFailed : Outcome::kPassed;
    CHECK(tx[0].version == (round == 0 ? "2.0" : "1.0"));
    std::vector<std::string> failing;
    if (o == Outcome::kTestsFailed) failing = {"test_a"};
    REQUIRE(Submit(*tc.c, x, Envelope(PayloadFor(tx[0], x, o, 5, failing), *x.machine), tc.now).status == 200);
    REQUIRE(Submit(*tc.c, y, Envelope(PayloadFor(ty[0], y, o, 5, failing), *y.machine), tc.now).status == 200);
  }

  auto no = Get(*tc.c, "/api/v1/compat?project=Widget&os=linux&python=3.11");
  CHECK(no["answer"] == "no");
  CHECK(no["newest_working_version"] == "1.0");
  CHECK(no["sentence"].get<std::string>().rfind("No: widget 2.0 fails with CPython 3.11 on linux", 0) == 0);
  CHECK(no["sentence"].get<std::string>().find("newest version that works there is 1.0") != std::string::npos);
  REQUIRE(no["evidence"].size() == 1);
  CHECK(no["evidence"][0]["status"] == "tests_failed");
  CHECK(no["evidence"][0]["agreeing"] == 2);

  auto yes = Get(*tc.c, "/api/v1/compat?project=widget&os=linux&python=3.11&version=1.0");
  CHECK(yes["answer"] == "yes");
  CHECK(yes["sentence"] == "Yes: widget 1.0 passes its tests with CPython 3.11 on linux (2 volunteers agreed).");

  auto unknown = Get(*tc.c, "/api/v1/compat?project=widget&os=linux&python=3.12");
  CHECK(unknown["answer"] == "unknown");
  CHECK(unknown["newest_working_version"].is_null());
  auto windows = Get(*tc.c, "/api/v1/compat?project=widget&os=windows&python=3.11");
  CHECK(windows["answer"] == "unknown");
  CHECK(windows["sentence"].get<std::string>().find("no volunteer offers that platform") != std::string::npos);

  auto unsupported = Get(*tc.c, "/api/v1/compat?project=widget&os=linux&python=2.7");
  CHECK(unsupported["answer"] == "unsupported");
  CHECK(unsupported["sentence"] == "No: widget 2.0 declares Requires-Python >=3.6, which excludes Python 2.7.");
  // Even where no volunteer runs that platform, Requires-Python answers.
  CHECK(Get(*tc.c, "/api/v1/compat?project=widget&os=macos&python=2.7")["answer"] == "unsupported");

  SECTION("bad questions are answered 400 with what is accepted; unknown projects 404") {
    auto r = tc.c->Handle(Request("GET", "/api/v1/compat?project=widget&os=beos&python=3.11"));
    CHECK(r.status == 400);
    CHECK(Body(r)["detail"].get<std::string>().find("linux, windows, macos") != std::string::npos);
    r = tc.c->Handle(Request("GET", "/api/v1/compat?project=widget&os=linux&python=three"));
    CHECK(r.status == 400);
    CHECK(Body(r)["detail"].get<std::string>().find("X.Y") != std::string::npos);
    r = tc.c->Handle(Request("GET", "/api/v1/compat?project=nope&os=linux&python=3.11"));
    CHECK(r.status == 404);
    CHECK(Body(r)["error"] == "unknown_project");
    r = tc.c->Handle(Request("GET", "/api/v1/compat?project=widget&os=linux&python=3.11&version=9.9"));
    CHECK(r.status == 404);
  }
  SECTION("the project matrix and the site show the same verdicts") {
    auto p = Get(*tc.c, "/api/v1/projects/widget");
    CHECK(p["platforms"] == nlohmann::json{k27, k311, k312});
    CHECK(p["versions"][0]["cells"][k311]["status"] == "tests_failed");
    CHECK(p["versions"][1]["cells"][k311]["status"] == "passed");
    CHECK(p["versions"][1]["cells"][k311]["agreeing"] == 2);
    auto page = tc.c->Handle(Request("GET", "/projects/widget"));
    CHECK(page.status == 200);
    CHECK(page.body.find("widget") != std::string::npos);
    auto lookup = tc.c->Handle(Request("GET", "/lookup?project=widget&os=linux&python=3.11"));
    CHECK(lookup.status == 200);
    CHECK(lookup.body.find("widget 2.0 fails") != std::string::npos);
    CHECK(tc.c->Handle(Request("GET", "/projects/nope")).status == 404);
    CHECK(tc.c->Handle(Request("GET", "/api/v1/projects/nope")).status == 404);
    auto metrics = tc.c->Handle(Request("GET", "/metrics"));
    CHECK(metrics.body.find("corral_tasks{state=\"decided\"} 4") != std::string::npos);
  }
}
