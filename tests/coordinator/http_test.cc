// The whole path over real HTTP: a volunteer enrols, leases, uploads its log,
// submits a signed result; a bad result is refused over the wire; results
// stay sealed until the verdict; the network prefix rule sees each request's
// real peer address (volunteers speak from distinct 127.a.b.c addresses).
#include <catch2/catch.hpp>

#include "common/fs_util.h"
#include "common/http_client.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

HttpResult SignedPost(const HttpClient& client, const std::string& base, const SigningKey& key,
                      const std::string& method, const std::string& path, const std::string& body) {
  Headers h;
  for (auto& kv : SignRequest(key, method, path, body, NowSeconds())) h.push_back(kv);
  h.push_back({"Content-Type", "application/json"});
  return method == "PUT" ? client.Put(base + path, body, h) : client.Post(base + path, body, h);
}

}  // namespace

TEST_CASE("http: enrol, lease, upload, submit and read back over loopback") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
  TempDir dir;
  coordinator::Options o;
  o.data_dir = dir.path;
  o.index_url = index.url();
  o.platforms = {"cp311-linux_x86_64"};
  // No random known-answer checks or single replicas: the test expects exact leases.
  o.known_answer_rate = 0;
  o.adaptive_replication = false;
  coordinator::Coordinator coord(o);
  std::string err;
  REQUIRE(coord.Open(&err));
  REQUIRE(coord.SyncOnce(&err));
  HttpServer server([&](const HttpRequest& r) { return coord.Handle(r); });
  REQUIRE(server.Start("127.0.0.1", 0, &err));
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  HttpClient client;

  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto v = MakeVolunteer(acct, "dana", "dana-box", {"cp311-linux_x86_64"});
  EnrolRequest e;
  e.account_key = acct->public_hex();
  e.account_name = "dana";
  e.machine_key = v.id();
  e.machine_name = "dana-box";
  e.account_signature = Base64Encode(acct->Sign(EnrolmentMessage(e.machine_key, "dana", "dana-box")));
  e.platforms = v.platforms;
  auto r = SignedPost(client, base, *v.machine, "POST", "/api/v1/volunteers", nlohmann::json(e).dump());
  REQUIRE(r.ok());

  LeaseRequest lr{{"cp311-linux_x86_64"}, 1};
  r = SignedPost(client, base, *v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump());
  REQUIRE(r.ok());
  LeaseResponse lease;
  nlohmann::json j;
  REQUIRE(ParseJson(r.body, &j, &err));
  REQUIRE(ParseLeaseResponse(j, &lease, &err));
  REQUIRE(lease.tasks.size() == 1);
  CHECK(lease.next_poll_s <= 2);
  // The input URL points at the index and serves the file.
  auto input = client.Get(lease.tasks[0].url);
  REQUIRE(input.ok());
  CHECK(Sha256Hex(input.body) == lease.tasks[0].sha256);

  std::string log = "building alpha\nall good\n";
  r = SignedPost(client, base, *v.machine, "PUT",
                 "/api/v1/artifacts/" + Sha256Hex(log) + "?lease=" + lease.tasks[0].lease_id, log);
  REQUIRE(r.ok());
  r = SignedPost(client, base, *v.machine, "PUT",
                 "/api/v1/artifacts/" + Sha256Hex("other") + "?lease=" + lease.tasks[0].lease_id, log);
  CHECK(r.status == 422);
  auto got = client.Get(base + "/api/v1/artifacts/" + Sha256Hex(log));
  CHECK(got.body == log);
  CHECK(got.headers["content-type"].find("text/plain") == 0);

  auto payload = PayloadFor(lease.tasks[0], v, Outcome::kPassed);
  payload.log_sha256 = Sha256Hex(log);
  std::string envelope = Envelope(payload, *v.machine);

  // Tampered on the way: refused with a JSON error, nothing stored.
  auto tampered = nlohmann::json::parse(envelope);
  payload.outcome = Outcome::kTestsFailed;
  tampered["payload"] = Base64Encode(nlohmann::json(payload).dump());
  r = SignedPost(client, base, *v.machine, "POST", "/api/v1/results", tampered.dump());
  CHECK(r.status == 401);
  REQUIRE(ParseJson(r.body, &j, &err));
  CHECK(j["error"] == "bad_signature");
  CHECK(coord.GetProgress().results == 0);

  r = SignedPost(client, base, *v.machine, "POST", "/api/v1/results", envelope);
  REQUIRE(r.ok());
  CHECK(coord.GetProgress().results == 1);
  auto task = client.Get(base + "/api/v1/tasks/" + lease.tasks[0].task_id);
  REQUIRE(ParseJson(task.body, &j, &err));
  // Sealed while pending: nobody holding a replica can copy it.
  CHECK(j["results"][0]["sealed"] == true);
  CHECK(j["results"][0]["outcome"] == "pending");
  CHECK_FALSE(j["results"][0].contains("envelope"));
  CHECK(task.body.find(Sha256Hex(log)) == std::string::npos);

  // A second machine on the first one's /24 (127.0.0.0/24) gets no replica
  // of the task; one from another /24 (127.0.1.0/24) does.
  auto enrol_from = [&](const TestVolunteer& who, const HttpClient& from) {
    EnrolRequest er;
    er.account_key = who.account->public_hex();
    er.account_name = who.account_name;
    er.machine_key = who.id();
    er.machine_name = who.machine_name;
    er.account_signature = Base64Encode(
        who.account->Sign(EnrolmentMessage(er.machine_key, er.account_name, er.machine_name)));
    er.platforms = who.platforms;
    return SignedPost(from, base, *who.machine, "POST", "/api/v1/volunteers", nlohmann::json(er).dump());
  };
  HttpClientOptions near_opts, far_opts;
  near_opts.local_address = "127.0.0.9";
  far_opts.local_address = "127.0.1.7";
  HttpClient near(near_opts), far(far_opts);
  auto neighbour = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "nell", "nell-box",
                                 {"cp311-linux_x86_64"});
  auto stranger = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "sam", "sam-box",
                                {"cp311-linux_x86_64"});
  REQUIRE(enrol_from(neighbour, near).ok());
  REQUIRE(enrol_from(stranger, far).ok());
  r = SignedPost(near, base, *neighbour.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump());
  REQUIRE(r.ok());
  REQUIRE(ParseJson(r.body, &j, &err));
  LeaseResponse near_lease;
  REQUIRE(ParseLeaseResponse(j, &near_lease, &err));
  CHECK(near_lease.tasks.empty());
  r = SignedPost(far, base, *stranger.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump());
  REQUIRE(r.ok());
  LeaseResponse far_lease;
  REQUIRE(ParseJson(r.body, &j, &err));
  REQUIRE(ParseLeaseResponse(j, &far_lease, &err));
  REQUIRE(far_lease.tasks.size() == 1);
  auto second = PayloadFor(far_lease.tasks[0], stranger, Outcome::kPassed);
  r = SignedPost(far, base, *stranger.machine, "POST", "/api/v1/results",
                 Envelope(second, *stranger.machine));
  REQUIRE(r.ok());
  CHECK(coord.GetProgress().verdicts == 1);

  // Decided: the results are open, with their logs.
  task = client.Get(base + "/api/v1/tasks/" + far_lease.tasks[0].task_id);
  REQUIRE(ParseJson(task.body, &j, &err));
  CHECK(j["status"] == "passed");
  CHECK(j["evidence"].get<std::string>().find("different accounts and networks") != std::string::npos);
  nlohmann::json mine;
  for (const auto& res : j["results"])
    if (res["volunteer_id"] == v.id()) mine = res;
  REQUIRE(mine.is_object());
  CHECK(mine["log_url"] == "/api/v1/artifacts/" + Sha256Hex(log));
  CHECK(j["reproduce"].get<std::string>().find("corral reproduce " + far_lease.tasks[0].task_id) == 0);

  // The stored envelope is the submitted one: still verifiable by anyone.
  std::string verified;
  CHECK(mine["envelope"].dump() == nlohmann::json::parse(envelope).dump());
  CHECK(DsseVerify(mine["envelope"], kResultPayloadType, v.id(), &verified, &err));
  auto page = client.Get(base + "/");
  CHECK(page.status == 200);
  CHECK(client.Get(base + "/api/v1/leaderboard?window=year").status == 400);
  server.Stop();
}
