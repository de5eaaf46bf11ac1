// Issue 18, "the coordinator survives anything a client sends": each input
// that once killed or bloated the coordinator is sent to a real one, which
// answers 4xx with a named error code and keeps serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/http_client.h"
#include "coordinator/records.h"
#include "coordinator/static_export.h"
#include "coordinator/store.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;

namespace {

const std::string kTag = "cp311-linux_x86_64";

// `envelope` (a JSON object's text) with one more field, an array nested
// `depth` levels deep.
std::string WithNestedField(const std::string& envelope, int depth) {
  return envelope.substr(0, envelope.rfind('}')) + ",\"x\":" + std::string(depth, '[') +
         std::string(depth, ']') + "}";
}

// A store over one project, two volunteers of two accounts holding a lease
// each on its one task.
struct Net {
  explicit Net(const std::function<void(coordinator::Options&)>& configure = {})
      : tc(WithAlpha(), {kTag}, 900, configure) {
    REQUIRE(tc.Sync());
    alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "alice-box", {kTag});
    bob = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "bob", "bob-box", {kTag});
    REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
    REQUIRE(Enrol(*tc.c, bob, tc.now).status == 200);
    auto a = Lease(*tc.c, alice, tc.now), b = Lease(*tc.c, bob, tc.now);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    alice_task = a[0];
    bob_task = b[0];
  }
  TestIndex& WithAlpha() {
    index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}});
    return index;
  }
  std::string Good(const TestVolunteer& v, const TaskSpec& t, Outcome o = Outcome::kPassed) {
    return Envelope(PayloadFor(t, v, o), *v.machine);
  }
  // The coordinator still answers, and still takes a good result.
  void ExpectAlive() {
    CHECK(tc.c->Handle(Request("GET", "/api/v1/projects")).status == 200);
    CHECK(Get(*tc.c, "/api/v1/tasks/" + alice_task.task_id)["task_id"] == alice_task.task_id);
  }
  TestIndex index;
  TestCoordinator tc;
  TestVolunteer alice, bob;
  TaskSpec alice_task, bob_task;
};

void ExpectRefused(const HttpResponse& r, int status, const std::string& code) {
  INFO(r.body.substr(0, 300));
  CHECK(r.status == status);
  CHECK(Body(r)["error"] == code);
  CHECK(Body(r)["detail"].is_string());
}

// Sends `bytes` to 127.0.0.1:port as they are (no client would send them)
// and returns what the server answers before it closes or 10 s pass.
std::string RawExchange(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

}  // namespace

TEST_CASE("hostile input: an envelope nested 100,000 deep is refused; the coordinator stays up") {
  Net n;
  std::string deep = WithNestedField(n.Good(n.alice, n.alice_task), 100'000);
  SECTION("POST /api/v1/results") {
    HttpResponse r = Submit(*n.tc.c, n.alice, deep, n.tc.now);
    ExpectRefused(r, 422, "bad_payload");
    CHECK(Body(r)["detail"].get<std::string>().find("deeper than 64") != std::string::npos);
  }
  SECTION("POST /api/v1/results/batch, with no lease needed") {
    std::string body = "{\"results\":[" + deep + "]}";
    ExpectRefused(n.tc.c->Handle(Signed(*n.alice.machine, "POST", "/api/v1/results/batch", body, n.tc.now)),
                  422, "bad_payload");
  }
  SECTION("a payload nested deep inside a well-formed envelope") {
    ResultPayload p = PayloadFor(n.alice_task, n.alice, Outcome::kPassed);
    std::string payload = WithNestedField(nlohmann::json(p).dump(), 100'000);
    std::string env = DsseSign(kResultPayloadType, payload, *n.alice.machine).dump();
    ExpectRefused(Submit(*n.tc.c, n.alice, env, n.tc.now), 422, "bad_payload");
  }
  n.ExpectAlive();
  CHECK(Submit(*n.tc.c, n.alice, n.Good(n.alice, n.alice_task), n.tc.now).status == 200);
}

TEST_CASE("hostile input: only the checked fields of an envelope are stored") {
  Net n;
  // Within the bounds, an extra field is no reason to refuse a result; it is
  // not stored either.
  std::string extra = WithNestedField(n.Good(n.alice, n.alice_task), 10);
  REQUIRE(Submit(*n.tc.c, n.alice, extra, n.tc.now).status == 200);
  REQUIRE(Submit(*n.tc.c, n.bob, n.Good(n.bob, n.bob_task), n.tc.now).status == 200);
  nlohmann::json task = Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id);
  REQUIRE(task["status"] == "passed");
  REQUIRE(task["results"].size() == 2);
  for (const auto& r : task["results"]) {
    CHECK(r["envelope"].is_object());
    CHECK_FALSE(r["envelope"].contains("x"));
    CHECK(r["envelope"]["signatures"].size() == 1);
  }
}

TEST_CASE("hostile input: a stored record nested deep is skipped by the task pages and export-static") {
  Net n;
  REQUIRE(Submit(*n.tc.c, n.alice, n.Good(n.alice, n.alice_task), n.tc.now).status == 200);
  REQUIRE(Submit(*n.tc.c, n.bob, n.Good(n.bob, n.bob_task), n.tc.now).status == 200);
  const std::string id = n.alice_task.task_id;
  REQUIRE(Get(*n.tc.c, "/api/v1/tasks/" + id)["status"] == "passed");

  // The record a coordinator before this fix stored verbatim from the
  // request: planted in the store directly, as an older version left it.
  coordinator::ResultRecord planted{id, "ffffffffffffffff", n.alice.id(), n.alice.account->public_hex(),
                                    n.tc.now, WithNestedField(n.Good(n.alice, n.alice_task), 100'000)};
  coordinator::WriteSet w;
  w.PutJson(coordinator::Cf::kResults, coordinator::Key({id, planted.lease_id}), nlohmann::json(planted));
  std::string err;
  REQUIRE(const_cast<coordinator::Store&>(n.tc.c->store()).Write(w, true, &err));

  HttpResponse api = n.tc.c->Handle(Request("GET", "/api/v1/tasks/" + id));
  CHECK(api.status == 200);
  CHECK(Body(api)["results"].size() == 2);  // the planted one left out
  CHECK(n.tc.c->Handle(Request("GET", "/tasks/" + id)).status == 200);
  CHECK(n.tc.c->Handle(Request("GET", "/projects/alpha")).status == 200);

  TempDir out;
  coordinator::StaticExportOptions o;
  o.data_dir = n.tc.dir.path;
  o.out_dir = out.path / "site";
  coordinator::StaticExportStats st;
  CHECK(coordinator::ExportStatic(o, &st, &err));
  INFO(err);
  CHECK(st.html_pages >= 3);
  n.ExpectAlive();
}

TEST_CASE("hostile input: one enrolment cannot grow the store with made-up platforms") {
  Net n;
  const int64_t tasks = n.tc.c->GetProgress().tasks;
  REQUIRE(tasks == 1);
  auto mallory = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "m", "m-box", {});
  SECTION("2,000 tags in one enrolment") {
    for (int i = 0; i < 2000; ++i) mallory.platforms.push_back("cp30-linux_fake" + std::to_string(i));
    ExpectRefused(Enrol(*n.tc.c, mallory, n.tc.now), 422, "bad_payload");
  }
  SECTION("a made-up tag") {
    for (const char* bad : {"cp30-linux_fake0", "cp41-linux_x86_64", "xx311-linux_x86_64", "cp311-plan9_x86_64"}) {
      mallory.platforms = {bad};
      CAPTURE(bad);
      ExpectRefused(Enrol(*n.tc.c, mallory, n.tc.now), 422, "bad_payload");
    }
  }
  SECTION("32 well-formed tags no other account offers") {
    for (int i = 0; i < 32; ++i) mallory.platforms.push_back("cp3" + std::to_string(13 + i) + "-linux_x86_64");
    REQUIRE(Enrol(*n.tc.c, mallory, n.tc.now).status == 200);
    // A second machine of the same account changes nothing either.
    auto mallory2 = MakeVolunteer(mallory.account, "m", "m-box-2", mallory.platforms);
    REQUIRE(Enrol(*n.tc.c, mallory2, n.tc.now).status == 200);
    CHECK(Get(*n.tc.c, "/api/v1/projects/alpha")["platforms"] == nlohmann::json{kTag});
  }
  CHECK(n.tc.c->GetProgress().tasks == tasks);
  n.ExpectAlive();
}

TEST_CASE("hostile input: a second, different result for one lease is refused; the same one is a duplicate") {
  Net n;
  std::string first = n.Good(n.alice, n.alice_task, Outcome::kPassed);
  REQUIRE(Submit(*n.tc.c, n.alice, first, n.tc.now).status == 200);
  ExpectRefused(Submit(*n.tc.c, n.alice, n.Good(n.alice, n.alice_task, Outcome::kTestsFailed), n.tc.now),
                409, "conflicting_result");
  HttpResponse again = Submit(*n.tc.c, n.alice, first, n.tc.now);
  CHECK(again.status == 200);
  CHECK(Body(again)["duplicate"] == true);
  nlohmann::json task = Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id);
  CHECK(task["results"].size() == 1);
}

TEST_CASE("hostile input: artifacts are stored only for a lease of their volunteer, two per lease, within a daily quota") {
  Net n([](coordinator::Options& o) { o.artifact_mb_per_day = 1; });
  auto put = [&](const TestVolunteer& v, const std::string& lease, const std::string& bytes) {
    std::string target = "/api/v1/artifacts/" + Sha256Hex(bytes) + (lease.empty() ? "" : "?lease=" + lease);
    return n.tc.c->Handle(Signed(*v.machine, "PUT", target, bytes, n.tc.now));
  };
  auto stored = [&](const std::string& bytes) {
    return n.tc.c->Handle(Request("GET", "/api/v1/artifacts/" + Sha256Hex(bytes))).status == 200;
  };
  const std::string& lease = n.alice_task.lease_id;

  SECTION("an upload that names no lease, or a lease that is not its volunteer's, stores nothing") {
    ExpectRefused(put(n.alice, "", "a log"), 422, "bad_payload");
    ExpectRefused(put(n.alice, n.bob_task.lease_id, "a log"), 409, "not_leased");
    ExpectRefused(put(n.alice, std::string(32, '0'), "a log"), 409, "not_leased");
    CHECK_FALSE(stored("a log"));
  }
  SECTION("the attack of the issue: one key, ten unrelated artifacts: a lease takes a log and a wheel") {
    int ok = 0;
    for (int i = 0; i < 10; ++i) {
      HttpResponse r = put(n.alice, lease, "unrelated artifact " + std::to_string(i));
      if (r.status == 200) {
        ++ok;
      } else {
        ExpectRefused(r, 409, "too_many_artifacts");
      }
    }
    CHECK(ok == 2);
    CHECK(stored("unrelated artifact 1"));
    CHECK_FALSE(stored("unrelated artifact 2"));
    // Content already stored costs nothing: a resend after a restart, or
    // the same wheel built by another volunteer.
    CHECK(put(n.alice, lease, "unrelated artifact 0").status == 200);
    CHECK(put(n.bob, n.bob_task.lease_id, "unrelated artifact 1").status == 200);
    CHECK(put(n.bob, n.bob_task.lease_id, "bob's log").status == 200);
    CHECK(put(n.bob, n.bob_task.lease_id, "bob's wheel").status == 200);
  }
  SECTION("the day's bytes: 429 with Retry-After, free again the next UTC day") {
    std::string big(700 << 10, 'a'), more(700 << 10, 'b');
    CHECK(put(n.alice, lease, big).status == 200);
    HttpResponse r = put(n.alice, lease, more);
    ExpectRefused(r, 429, "artifact_quota");
    std::string retry;
    for (const auto& [k, v] : r.headers)
      if (k == "Retry-After") retry = v;
    const int64_t to_midnight = 86400 - n.tc.now % 86400;
    CHECK(retry == std::to_string(to_midnight));
    CHECK_FALSE(stored(more));
    n.tc.now += to_midnight;
    CHECK(put(n.alice, lease, more).status == 200);
  }
  SECTION("a returned lease takes no artifacts") {
    std::string body = "{\"lease_ids\":[\"" + lease + "\"]}";
    REQUIRE(n.tc.c->Handle(Signed(*n.alice.machine, "POST", "/api/v1/leases/return", body, n.tc.now)).status == 200);
    ExpectRefused(put(n.alice, lease, "a log"), 409, "lease_returned");
  }
  n.ExpectAlive();
}

TEST_CASE("hostile input: bodies over their route's limit and bytes that are not UTF-8 get 4xx over HTTP") {
  Net n;
  HttpServerOptions so;
  so.route_body_limit = coordinator::Coordinator::BodyLimitFor;
  HttpServer server([&](const HttpRequest& r) { return n.tc.c->Handle(r); }, so);
  std::string err;
  REQUIRE(server.Start("127.0.0.1", 0, &err));
  const int port = server.port();
  const std::string host = "Host: 127.0.0.1\r\nConnection: close\r\n";

  SECTION("a lease announcing 1 MiB is refused before its body is sent") {
    // Only the headers go out: the answer must come without the body.
    std::string r = RawExchange(port, "POST /api/v1/lease HTTP/1.1\r\n" + host +
                                          "Content-Length: 1048576\r\n\r\n");
    CHECK(StatusLine(r) == "HTTP/1.1 413 Payload Too Large");
    CHECK(r.find("body_too_large") != std::string::npos);
  }
  SECTION("a result announcing 64 MiB is refused before its body is sent") {
    std::string r = RawExchange(port, "POST /api/v1/results HTTP/1.1\r\n" + host +
                                          "Content-Length: 67108864\r\n\r\n");
    CHECK(StatusLine(r) == "HTTP/1.1 413 Payload Too Large");
  }
  SECTION("an enrolment announcing 100 KiB, just over its route's 64 KiB") {
    std::string r = RawExchange(port, "POST /api/v1/volunteers HTTP/1.1\r\n" + host +
                                          "Content-Length: 102400\r\n\r\n");
    CHECK(StatusLine(r) == "HTTP/1.1 413 Payload Too Large");
  }
  SECTION("a result of 100 KiB, within its route's 4 MiB, is read and judged") {
    std::string body = n.Good(n.alice, n.alice_task);
    body.insert(body.size() - 1, ",\"pad\":\"" + std::string(100 << 10, 'a') + "\"");
    HttpClient client;
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    Headers headers;
    for (auto& kv : SignRequest(*n.alice.machine, "POST", "/api/v1/results", body, n.tc.now)) headers.push_back(kv);
    HttpResult r = client.Post(url + "/api/v1/results", body, headers);
    INFO(r.body);
    CHECK(r.status == 200);
  }
  SECTION("invalid UTF-8 in the path, the query or a header") {
    for (const std::string& req :
         {"GET /api/v1/tasks/%ff%fe HTTP/1.1\r\n" + host + "\r\n",
          "GET /projects/\xff HTTP/1.1\r\n" + host + "\r\n",
          "GET /api/v1/leaderboard?window=%c3%28 HTTP/1.1\r\n" + host + "\r\n",
          "POST /api/v1/lease HTTP/1.1\r\n" + host + "Corral-Key: \xc3\x28\r\nContent-Length: 2\r\n\r\n{}"}) {
      CAPTURE(req);
      std::string r = RawExchange(port, req);
      CHECK(StatusLine(r).substr(0, 10) == "HTTP/1.1 4");
      CHECK(r.find("\"error\"") != std::string::npos);
    }
  }
  // Still serving.
  HttpClient client;
  CHECK(client.Get("http://127.0.0.1:" + std::to_string(port) + "/api/v1/projects").ok());
  server.Stop();
}

TEST_CASE("serve --platforms restricts: a tag outside the operator's list never becomes a column") {
  Net n;  // the operator named kTag only
  for (const char* who : {"carol", "dave"}) {
    auto v = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), who, std::string(who) + "-box",
                           {kTag, "cp312-linux_x86_64"});
    REQUIRE(Enrol(*n.tc.c, v, n.tc.now).status == 200);
  }
  // Two accounts offer cp312, which would make it a platform without the list.
  CHECK(Get(*n.tc.c, "/api/v1/projects/alpha")["platforms"] == nlohmann::json{kTag});
  CHECK(n.tc.c->GetProgress().tasks == 1);
}

namespace {

// Resident memory of this process, from /proc (kB).
long RssKb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  long kb = 0;
  char line[256];
  while (f && std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  if (f) std::fclose(f);
  return kb;
}

// A connection that sends `head` and the first `body_bytes` of a body, then
// holds; Answer() reads what came back within `wait_s`.
struct HeldConnection {
  HeldConnection(int port, const std::string& head, size_t body_bytes) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    std::string chunk(body_bytes, 'x');
    send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);  // may stop short once refused
  }
  ~HeldConnection() { close(fd); }
  std::string Answer() {
    std::string out;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  int fd = -1;
};

}  // namespace

TEST_CASE("hostile input: bodies are bounded before authentication completes; 30 held uploads stay in budget") {
  Net n;
  HttpServerOptions so;
  so.route_body_limit = coordinator::Coordinator::BodyLimitFor;
  so.check_headers = [&](const HttpRequest& r) { return n.tc.c->CheckHeaders(r); };
  so.max_buffered_bytes = size_t{96} << 20;  // room for one 60 MiB upload at a time
  HttpServer server([&](const HttpRequest& r) { return n.tc.c->Handle(r); }, so);
  std::string err;
  REQUIRE(server.Start("127.0.0.1", 0, &err));
  const int port = server.port();
  const std::string sha(64, 'a');
  auto head = [&](const std::vector<std::pair<std::string, std::string>>& extra) {
    std::string h = "PUT /api/v1/artifacts/" + sha + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                    std::to_string(60 << 20) + "\r\n";
    for (const auto& [k, v] : extra) h += k + ": " + v + "\r\n";
    return h + "\r\n";
  };

  SECTION("a signed route without signature headers is refused before its body") {
    HeldConnection c(port, head({}), 0);
    std::string r = c.Answer();
    CHECK(StatusLine(r) == "HTTP/1.1 401 Unauthorized");
    CHECK(r.find("missing_signature") != std::string::npos);
  }
  SECTION("an unknown key, a stale date and a replayed nonce are refused before the body") {
    auto stranger = SigningKey::Generate();
    auto headers = SignRequest(*stranger, "PUT", "/api/v1/artifacts/" + sha, "", n.tc.now);
    CHECK(HeldConnection(port, head(headers), 0).Answer().find("unknown_volunteer") != std::string::npos);
    auto stale = SignRequest(*n.alice.machine, "PUT", "/api/v1/artifacts/" + sha, "", n.tc.now - 3600);
    CHECK(HeldConnection(port, head(stale), 0).Answer().find("stale_date") != std::string::npos);
    // A nonce already used by a request that went through.
    auto used = SignRequest(*n.alice.machine, "POST", "/api/v1/heartbeat", "{\"lease_ids\":[]}", n.tc.now);
    HttpRequest hb = Request("POST", "/api/v1/heartbeat", "{\"lease_ids\":[]}");
    for (auto& [k, v] : used) {
      std::string lower = k;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      hb.headers[lower] = v;
    }
    n.tc.c->Handle(hb);
    CHECK(HeldConnection(port, head(used), 0).Answer().find("replayed_nonce") != std::string::npos);
  }
  SECTION("30 connections announcing 60 MiB each with headers that pass: the budget holds, the rest get 503") {
    const long before = RssKb();
    std::vector<std::unique_ptr<HeldConnection>> held;
    for (int i = 0; i < 30; ++i) {
      // An enrolled key, a good date, a fresh nonce: all the headers alone
      // can show (the signature covers a body not yet read).
      auto headers = SignRequest(*n.alice.machine, "PUT", "/api/v1/artifacts/" + sha, "", n.tc.now);
      held.push_back(std::make_unique<HeldConnection>(port, head(headers), size_t{1} << 20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long during = RssKb();
    int busy = 0;
    for (auto& c : held) busy += c->Answer().find("\"busy\"") != std::string::npos;
    INFO("RSS before " << before << " kB, while held " << during << " kB");
    CHECK(busy >= 29);  // one fits the 96 MiB budget
    CHECK(during - before < 200 * 1024);  // bounded by the budget, not by 30 x 60 MiB
    held.clear();
  }
  // Still serving, and the budget was given back.
  HttpClient client;
  CHECK(client.Get("http://127.0.0.1:" + std::to_string(port) + "/api/v1/projects").ok());
  std::string body = n.Good(n.alice, n.alice_task);
  Headers headers;
  for (auto& kv : SignRequest(*n.alice.machine, "POST", "/api/v1/results", body, n.tc.now)) headers.push_back(kv);
  CHECK(client.Post("http://127.0.0.1:" + std::to_string(port) + "/api/v1/results", body, headers).status == 200);
  server.Stop();
}
