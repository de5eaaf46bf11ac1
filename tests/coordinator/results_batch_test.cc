// POST /api/v1/results/batch: several signed envelopes in one signed request,
// each accepted, duplicate or refused on its own.
#include <catch2/catch.hpp>

#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {
const std::string kTag = "cp311-linux_x86_64";

HttpResponse SubmitBatch(coordinator::Coordinator& c, const TestVolunteer& v,
                         const std::vector<std::string>& envelopes, int64_t now) {
  ResultBatchRequest b;
  for (const auto& e : envelopes) b.envelopes.push_back(nlohmann::json::parse(e));
  return c.Handle(Signed(*v.machine, "POST", "/api/v1/results/batch", nlohmann::json(b).dump(), now));
}
}  // namespace

TEST_CASE("results batch: each envelope is accepted, a duplicate or refused on its own") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "a", "", "2024-03-01T00:00:00Z"}});
  index.SetProject("beta", {{"beta-1.0.tar.gz", "b", "", "2024-02-01T00:00:00Z"}});
  index.SetProject("gamma", {{"gamma-1.0.tar.gz", "g", "", "2024-01-01T00:00:00Z"}});
  TestCoordinator tc(index, {kTag});
  REQUIRE(tc.Sync());
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "a", {kTag});
  auto mallory = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "mallory", "m", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, mallory, tc.now).status == 200);
  auto leased = Lease(*tc.c, alice, tc.now, 3);
  REQUIRE(leased.size() == 3);

  std::string first = Envelope(PayloadFor(leased[0], alice, Outcome::kPassed), *alice.machine);
  REQUIRE(Submit(*tc.c, alice, first, tc.now).status == 200);  // sent before, alone
  std::string second = Envelope(PayloadFor(leased[1], alice, Outcome::kPassed), *alice.machine);
  auto wrong = PayloadFor(leased[2], alice, Outcome::kPassed);
  wrong.input_sha256 = std::string(64, '0');
  std::string third = Envelope(wrong, *alice.machine);
  std::string foreign = Envelope(PayloadFor(leased[2], mallory, Outcome::kPassed), *mallory.machine);

  auto r = SubmitBatch(*tc.c, alice, {first, second, third, foreign}, tc.now);
  REQUIRE(r.status == 200);
  ResultBatchResponse resp;
  std::string err;
  REQUIRE(ParseResultBatchResponse(Body(r), &resp, &err));
  REQUIRE(resp.results.size() == 4);
  CHECK(resp.results[0].status == "duplicate");
  CHECK(resp.results[0].lease_id == leased[0].lease_id);
  CHECK(resp.results[1].status == "accepted");
  CHECK(resp.results[1].task_id == leased[1].task_id);
  CHECK(resp.results[2].status == "refused");
  CHECK(resp.results[2].error == "wrong_input");
  CHECK(resp.results[3].status == "refused");
  CHECK(resp.results[3].error == "key_mismatch");
  auto p = tc.c->GetProgress();
  CHECK(p.results == 2);  // the first (once) and the second
  CHECK(p.leased == 1);   // the third's lease is still open: the wrong input changed nothing
  CHECK(Get(*tc.c, "/api/v1/tasks/" + leased[1].task_id)["results"].size() == 1);

  // Sending the same batch again changes nothing.
  r = SubmitBatch(*tc.c, alice, {first, second}, tc.now);
  REQUIRE(ParseResultBatchResponse(Body(r), &(resp = {}), &err));
  CHECK(resp.results[0].status == "duplicate");
  CHECK(resp.results[1].status == "duplicate");
  CHECK(tc.c->GetProgress().results == 2);
}

TEST_CASE("results batch: malformed batches are refused whole, malformed entries one by one") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "a", ""}});
  TestCoordinator tc(index, {kTag});
  REQUIRE(tc.Sync());
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "a", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  auto post = [&](const std::string& body) {
    return tc.c->Handle(Signed(*alice.machine, "POST", "/api/v1/results/batch", body, tc.now));
  };
  CHECK(Body(post("{\"results\": []}"))["error"] == "bad_payload");
  CHECK(Body(post("[1, 2]"))["error"] == "bad_payload");
  nlohmann::json many = {{"results", nlohmann::json::array()}};
  for (size_t i = 0; i <= kMaxResultBatch; ++i) many["results"].push_back(nlohmann::json::object());
  auto r = post(many.dump());
  CHECK(r.status == 422);
  CHECK(Body(r)["detail"].get<std::string>().find("at most 100") != std::string::npos);
  // Unsigned: refused before anything is read.
  CHECK(tc.c->Handle(Request("POST", "/api/v1/results/batch", "{\"results\": [{}]}")).status == 401);
  r = post("{\"results\": [{\"payload\": 1}, \"text\"]}");
  REQUIRE(r.status == 200);
  ResultBatchResponse resp;
  std::string err;
  REQUIRE(ParseResultBatchResponse(Body(r), &resp, &err));
  REQUIRE(resp.results.size() == 2);
  CHECK(resp.results[0].error == "bad_payload");
  CHECK(resp.results[1].error == "bad_payload");
}
