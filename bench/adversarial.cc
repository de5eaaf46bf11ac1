// Adversarial simulation of cross-verification (DESIGN.md section 6): the
// real coordinator (coordinator/coordinator.h) serving on loopback, and
// simulated volunteers speaking the real protocol to it: Ed25519 machine and
// account keys, signed requests, DSSE result envelopes, HTTP through libcurl,
// each volunteer sending from its own 127.a.b.c address so that the
// coordinator sees real peer addresses and network prefixes.
//
// Who volunteers:
//   honest       builds and tests truly; some tasks are flaky (passed or a
//                failing test, at random), some compiled ones give another
//                wheel digest on another toolchain; now and then an
//                infra_error, or a task abandoned until its lease expires
//   random_liar  does the work but flips the outcome with probability p
//   lazy         claims "passed" at once, with a made-up wheel digest
//   copycat      copies whatever the public pages show of its task; when
//                they show nothing (results are sealed until the verdict)
//                it answers like the lazy one
//   colluder     two machines of one account, lazy with the same made-up
//                answer, so that they would agree if ever paired
//   sybil        a ring of fresh accounts on one /24, colluding likewise
//   ring         a ring of 4 fresh accounts, each on its own /24, colluding
//                likewise: what the prefix rule cannot stop, and standing
//                (verdicts need an established volunteer) must
//   sleeper      a ring of 4 fresh accounts on 4 /24s, honest for its first
//                --sleep-results results each (long enough to earn standing
//                from independent established volunteers), then lying
//                together like the ring: what standing cannot stop, and
//                detection (contradictions, suspension, reopening) must
//
// Some honest accounts are the operator's trusted builders (`corral serve
// --trusted-account`): the network's standing bootstraps from them.
//
// Time is simulated: one clock drives the volunteers and the coordinator
// (its Options::clock), so days of leases, quotas and expiries pass in
// seconds. Events run one at a time, in time order, each a real HTTP
// exchange. After each accepted result the simulation reads the task's
// public page, so every verdict ever published is seen and checked against
// the ground truth.
//
// A second, smaller run ("ablation") repeats the Sybil ring with the prefix
// rule off, to show what the rule prevents.
//
// Prints `name: value unit` lines.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/coordinator.h"
#include "coordinator/quorum.h"
#include "coordinator/reputation.h"
#include "tests/coordinator/coordinator_test_support.h"

namespace fs = std::filesystem;
using namespace corral;
using testing::TestIndex;
using testing::TestVolunteer;

namespace {

enum class Kind { kHonest, kRandomLiar, kLazy, kCopycat, kColluder, kSybil, kRing, kSleeper };
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kHonest: return "honest";
    case Kind::kRandomLiar: return "random_liar";
    case Kind::kLazy: return "lazy";
    case Kind::kCopycat: return "copycat";
    case Kind::kColluder: return "colluder";
    case Kind::kSybil: return "sybil";
    case Kind::kRing: return "ring";
    case Kind::kSleeper: return "sleeper";
  }
  return "?";
}

uint64_t Hash64(const std::string& s) {
  std::string h = Sha256Hex(s);
  return std::stoull(h.substr(0, 15), nullptr, 16);
}
double Unit(const std::string& s) { return static_cast<double>(Hash64(s) % 1000000) / 1e6; }

// What building and testing a task truly gives.
struct Truth {
  Outcome outcome = Outcome::kPassed;
  std::vector<std::string> failing;
  std::string digest;    // the wheel digest (toolchain 0)
  bool flaky = false;    // passed, or tests_failed on test_timing, at random
  bool compiled = false; // toolchain 1 builds another wheel
  double seconds = 60;
};

Truth TruthOf(const std::string& project, const std::string& platform) {
  Truth t;
  std::string key = project + "/" + platform;
  double u = Unit("outcome:" + key);
  if (u < 0.55) t.outcome = Outcome::kPassed;
  else if (u < 0.68) {
    t.outcome = Outcome::kTestsFailed;
    t.failing = {"tests/test_core.py::test_" + std::to_string(Hash64("f:" + key) % 50)};
  } else if (u < 0.78) t.outcome = Outcome::kNoTests;
  else if (u < 0.90) t.outcome = Outcome::kBuildFailed;
  else if (u < 0.95) t.outcome = Outcome::kImportFailed;
  else if (u < 0.97) t.outcome = Outcome::kInstallFailed;
  else {
    t.outcome = Outcome::kPassed;
    t.flaky = true;
  }
  if (coordinator::OutcomeHasWheel(t.outcome)) t.digest = Sha256Hex("wheel:" + key);
  t.compiled = t.outcome != Outcome::kBuildFailed && Unit("compiled:" + key) < 0.04;
  t.seconds = 30 * std::pow(30.0, Unit("seconds:" + key));  // 30 s to 15 min, log-uniform
  return t;
}

// One answer a volunteer gives.
struct Answer {
  Outcome outcome = Outcome::kPassed;
  std::vector<std::string> failing;
  std::string digest;
  double claimed_seconds = 0;
  double takes_seconds = 0;  // simulated time until it is submitted
  bool abandon = false;      // never submitted: the lease expires
};

struct Volunteer {
  Kind kind = Kind::kHonest;
  TestVolunteer v;
  std::string addr;
  std::unique_ptr<HttpClient> http;
  int slots = 2;
  int running = 0;
  int toolchain = 0;
  double speed = 1.0;
  std::string group;  // colluders and sybils: who shares a lie
  bool suspended = false;
  int64_t results = 0;           // accepted by the coordinator
  int64_t results_at_suspension = -1;
  std::mt19937_64 rng;
};

struct Config {
  std::string name = "main";
  int projects = 6000;
  std::vector<std::string> platforms = {"cp311-linux_x86_64", "cp312-linux_x86_64"};
  int honest = 40, random_liars = 6, lazy = 3, copycats = 2, colluding_pairs = 1, sybils = 4;
  int ring = 4;        // fresh accounts on distinct /24s lying together
  int sleepers = 4;    // the same, honest for their first sleep_results results
  int64_t sleep_results = 40;
  int trusted = 8;     // of the honest: the operator's trusted accounts
  bool standing = true;  // verdicts need an established volunteer (corral serve's default)
  double liar_p = 0.10;
  int64_t trust_after = 4;
  int64_t trust_min_validated = 20;
  double min_recheck = 0.1;
  bool distinct_prefix = true;
  int64_t max_sim_seconds = 14 * 86400;
  uint64_t seed = 1;
};

struct Decision {
  int64_t t = 0;
  std::string task_id, status;
  bool wrong = false;
  std::set<Kind> agreeing;
};

struct Stats {
  int64_t tasks = 0, decided_end = 0, inconclusive_end = 0, wrong_end = 0;
  std::map<std::string, int64_t> wrong_end_by;  // attribution at the end
  std::vector<Decision> decisions;
  std::vector<int64_t> result_times;  // every accepted result, for overhead windows
  std::vector<const Volunteer*> volunteers;
  int64_t requests = 0;
  double wall_s = 0;
  int64_t sim_seconds = 0;
  int64_t copycat_answers_copied = 0;
  int64_t flagged_enrolments = 0, flagged_enrolled = 0;
};

class Simulation {
 public:
  explicit Simulation(Config cfg) : cfg_(std::move(cfg)), rng_(cfg_.seed) {}

  bool Run(Stats* stats, std::string* err) {
    auto wall0 = std::chrono::steady_clock::now();
    for (int i = 0; i < cfg_.projects; ++i) {
      std::string name = "sim" + std::to_string(10000 + i);
      index_.SetProject(name, {{name + "-1.0.tar.gz", "sdist of " + name, ""}});
    }
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    data_ = base / ("corral-adversarial-" + RandomHex(6));
    coordinator::Options o;
    o.data_dir = data_;
    o.index_url = index_.url();
    o.platforms = cfg_.platforms;
    o.lease_seconds = 2 * 3600;
    o.distinct_prefix = cfg_.distinct_prefix;
    o.trust_after = cfg_.trust_after;
    o.trust_min_validated = cfg_.trust_min_validated;
    o.min_recheck = cfg_.min_recheck;
    o.seed = cfg_.seed;
    o.clock = [this] { return now_; };
    o.require_standing = cfg_.standing;
    for (int i = 0; i < cfg_.trusted && i < cfg_.honest; ++i) {
      trusted_keys_.push_back(std::shared_ptr<SigningKey>(SigningKey::Generate()));
      o.trusted_accounts.push_back(trusted_keys_.back()->public_hex());
    }
    coord_ = std::make_unique<coordinator::Coordinator>(o);
    if (!coord_->Open(err) || !coord_->SyncOnce(err)) return false;
    HttpServerOptions so;
    so.threads = 2;
    server_ = std::make_unique<HttpServer>([this](const HttpRequest& r) { return coord_->Handle(r); }, so);
    if (!server_->Start("127.0.0.1", 0, err)) return false;
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());

    Populate();
    for (size_t i = 0; i < vols_.size(); ++i) {
      if (!Enrol(*vols_[i], err)) return false;
      Schedule(now_ + static_cast<int64_t>(i % 60), static_cast<int>(i), kPoll, {});
    }
    int64_t tasks = coord_->GetProgress().tasks;
    int64_t next_expiry = now_ + 300;
    const int64_t end = now_ + cfg_.max_sim_seconds;
    while (!events_.empty()) {
      Event e = events_.top();
      events_.pop();
      if (e.t > end) break;
      now_ = std::max(now_, e.t);
      if (now_ >= next_expiry) {
        coord_->ExpireLeases();
        next_expiry = now_ + 300;
      }
      if (e.type == kPoll) Poll(e.vol);
      else Finish(e.vol, e.task, e.answer);
      if (decided_.size() == static_cast<size_t>(tasks) && coord_->GetProgress().pending == 0) break;
    }
    Collect(stats, tasks);
    stats->sim_seconds = now_ - start_;
    stats->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    server_->Stop();
    coord_.reset();
    std::error_code ec;
    fs::remove_all(data_, ec);
    return true;
  }

 private:
  enum { kPoll = 0, kFinish = 1 };
  struct Event {
    int64_t t;
    int64_t seq;
    int vol;
    int type;
    TaskSpec task;
    Answer answer;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };

  void Schedule(int64_t t, int vol, int type, TaskSpec task, Answer answer = {}) {
    events_.push(Event{t, seq_++, vol, type, std::move(task), std::move(answer)});
  }

  // An HTTP client whose connections go out from `addr` (a volunteer's network).
  static std::unique_ptr<HttpClient> ClientFrom(const std::string& addr) {
    HttpClientOptions ho;
    ho.local_address = addr;
    ho.timeout_ms = 30000;
    return std::make_unique<HttpClient>(ho);
  }

  void Add(Kind kind, std::shared_ptr<SigningKey> account, const std::string& name, const std::string& addr) {
    auto v = std::make_unique<Volunteer>();
    v->kind = kind;
    if (!account) account = std::shared_ptr<SigningKey>(SigningKey::Generate());
    v->v = testing::MakeVolunteer(account, name, name + "-box", cfg_.platforms);
    v->addr = addr;
    v->http = ClientFrom(addr);
    v->rng.seed(cfg_.seed * 1000003 + vols_.size());
    std::uniform_real_distribution<double> u(0, 1);
    v->slots = 1 + static_cast<int>(u(v->rng) * 3);   // 1 to 3
    v->speed = 0.6 + u(v->rng) * 1.2;                  // machines differ
    v->toolchain = u(v->rng) < 0.8 ? 0 : 1;
    v->group = kind == Kind::kSybil     ? "ring"
               : kind == Kind::kRing    ? "ring4"
               : kind == Kind::kSleeper ? "sleeper4"
               : kind == Kind::kColluder ? "pair:" + name
                                         : "";
    by_id_[v->v.id()] = kind;
    vols_.push_back(std::move(v));
  }

  // Every volunteer on its own /24 (127.K.N.1), but the Sybil ring shares one.
  void Populate() {
    for (int i = 0; i < cfg_.honest; ++i)
      Add(Kind::kHonest, i < static_cast<int>(trusted_keys_.size()) ? trusted_keys_[i] : nullptr,
          "honest" + std::to_string(i), "127.10." + std::to_string(i) + ".1");
    for (int i = 0; i < cfg_.random_liars; ++i)
      Add(Kind::kRandomLiar, nullptr, "liar" + std::to_string(i), "127.20." + std::to_string(i) + ".1");
    for (int i = 0; i < cfg_.lazy; ++i)
      Add(Kind::kLazy, nullptr, "lazy" + std::to_string(i), "127.30." + std::to_string(i) + ".1");
    for (int i = 0; i < cfg_.copycats; ++i)
      Add(Kind::kCopycat, nullptr, "copycat" + std::to_string(i), "127.40." + std::to_string(i) + ".1");
    for (int i = 0; i < cfg_.colluding_pairs; ++i) {
      auto account = std::shared_ptr<SigningKey>(SigningKey::Generate());
      for (int m = 0; m < 2; ++m)
        Add(Kind::kColluder, account, "pair" + std::to_string(i),
            "127.50." + std::to_string(2 * i + m) + ".1");
    }
    for (int i = 0; i < cfg_.sybils; ++i)
      Add(Kind::kSybil, nullptr, "sybil" + std::to_string(i), "127.66.0." + std::to_string(i + 1));
    for (int i = 0; i < cfg_.ring; ++i)
      Add(Kind::kRing, nullptr, "ring" + std::to_string(i), "127.70." + std::to_string(i) + ".1");
    for (int i = 0; i < cfg_.sleepers; ++i)
      Add(Kind::kSleeper, nullptr, "sleeper" + std::to_string(i), "127.80." + std::to_string(i) + ".1");
  }

  HttpResult Signed(Volunteer& v, const std::string& path, const std::string& body) {
    ++requests_;
    Headers h;
    for (auto& kv : SignRequest(*v.v.machine, "POST", path, body, now_)) h.push_back(kv);
    h.push_back({"Content-Type", "application/json"});
    return v.http->Post(base_ + path, body, h);
  }

  bool Enrol(Volunteer& v, std::string* err) {
    EnrolRequest e;
    e.account_key = v.v.account->public_hex();
    e.account_name = v.v.account_name;
    e.machine_key = v.v.id();
    e.machine_name = v.v.machine_name;
    e.account_signature =
        Base64Encode(v.v.account->Sign(EnrolmentMessage(e.machine_key, e.account_name, e.machine_name)));
    e.platforms = v.v.platforms;
    HttpResult r = Signed(v, "/api/v1/volunteers", nlohmann::json(e).dump());
    if (!r.ok()) {
      *err = "enrolling " + v.v.machine_name + " from " + v.addr + ": " + r.Describe();
      return false;
    }
    return true;
  }

  bool IsSuspendedAnswer(const HttpResult& r) {
    return r.status == 403 && r.body.find("\"suspended\"") != std::string::npos;
  }

  void MarkSuspended(Volunteer& v) {
    if (v.suspended) return;
    v.suspended = true;
    v.results_at_suspension = v.results;
    // A caught cheater's next move: a fresh machine key under the same
    // account, from a new /24, for a clean record. Its account is flagged,
    // so the enrolment must be refused.
    Volunteer fresh;
    fresh.kind = v.kind;
    fresh.v = testing::MakeVolunteer(v.v.account, v.v.account_name, v.v.machine_name + "-new", cfg_.platforms);
    fresh.addr = "127.90." + std::to_string(flagged_enrolments_ % 250) + ".1";
    fresh.http = ClientFrom(fresh.addr);
    ++flagged_enrolments_;
    std::string err;
    if (Enrol(fresh, &err)) ++flagged_enrolled_;
  }

  void Poll(int idx) {
    Volunteer& v = *vols_[idx];
    if (v.suspended) return;
    int free = v.slots - v.running;
    if (free <= 0) return;
    LeaseRequest lr;
    lr.platforms = v.v.platforms;
    lr.slots = free;
    HttpResult r = Signed(v, "/api/v1/lease", nlohmann::json(lr).dump());
    if (IsSuspendedAnswer(r)) {
      MarkSuspended(v);
      return;
    }
    LeaseResponse resp;
    nlohmann::json j;
    std::string err;
    if (!r.ok() || !ParseJson(r.body, &j, &err) || !ParseLeaseResponse(j, &resp, &err)) {
      Schedule(now_ + 60, idx, kPoll, {});
      return;
    }
    for (auto& t : resp.tasks) {
      ++v.running;
      Answer a = Plan(v, t);
      if (a.abandon) {
        // The machine loses the task: the slot frees after the lease would expire.
        Schedule(now_ + 2 * 3600 + 60, idx, kFinish, t, a);
        continue;
      }
      Schedule(now_ + std::max<int64_t>(1, static_cast<int64_t>(a.takes_seconds)), idx, kFinish, t, a);
    }
    if (v.running < v.slots) {
      std::uniform_int_distribution<int> jitter(0, 5);
      Schedule(now_ + std::max(1, resp.next_poll_s) + jitter(v.rng), idx, kPoll, {});
    }
  }

  std::string FakeDigest(Volunteer& v) { return Sha256Hex("made up " + std::to_string(v.rng())); }

  Answer Plan(Volunteer& v, const TaskSpec& t) {
    std::uniform_real_distribution<double> u(0, 1);
    Truth truth = TruthOf(t.project, t.platform);
    Answer a;
    auto honest = [&]() {
      a.outcome = truth.outcome;
      a.failing = truth.failing;
      a.digest = truth.digest;
      if (truth.flaky && u(v.rng) < 0.3) {
        a.outcome = Outcome::kTestsFailed;
        a.failing = {"tests/test_timing.py::test_deadline"};
      }
      if (truth.compiled && v.toolchain == 1 && !a.digest.empty())
        a.digest = Sha256Hex("other toolchain:" + a.digest);
      a.takes_seconds = truth.seconds * v.speed;
      a.claimed_seconds = a.takes_seconds;
    };
    auto lazy = [&](const std::string& digest) {
      a.outcome = Outcome::kPassed;
      a.failing.clear();
      a.digest = digest;
      a.takes_seconds = 5 + 25 * u(v.rng);
      a.claimed_seconds = 3600;  // and it claims an hour of work
    };
    switch (v.kind) {
      case Kind::kHonest:
        honest();
        if (u(v.rng) < 0.01) {
          a.outcome = Outcome::kInfraError;
          a.failing.clear();
          a.digest.clear();
        } else if (u(v.rng) < 0.003) {
          a.abandon = true;
        }
        break;
      case Kind::kRandomLiar:
        honest();
        if (u(v.rng) < cfg_.liar_p) {
          static const Outcome kChoices[] = {Outcome::kPassed, Outcome::kTestsFailed, Outcome::kBuildFailed,
                                             Outcome::kImportFailed};
          Outcome o = a.outcome;
          while (o == a.outcome) o = kChoices[v.rng() % 4];
          a.outcome = o;
          a.failing = o == Outcome::kTestsFailed ? std::vector<std::string>{"tests/test_core.py::test_io"}
                                                 : std::vector<std::string>{};
          if (!coordinator::OutcomeHasWheel(o)) a.digest.clear();
          else if (a.digest.empty()) a.digest = FakeDigest(v);
        }
        break;
      case Kind::kLazy:
        lazy(FakeDigest(v));
        break;
      case Kind::kCopycat:
        lazy(FakeDigest(v));  // what it sends when there is nothing to copy (decided at Finish)
        break;
      case Kind::kSleeper:
        if (v.results < cfg_.sleep_results) {
          honest();
          break;
        }
        [[fallthrough]];
      case Kind::kColluder:
      case Kind::kSybil:
      case Kind::kRing:
        // The same lie from every member of the group (the pair's account,
        // or the ring), never shared with another group.
        lazy(Sha256Hex("agreed lie of " + v.group + ":" + t.task_id));
        break;
    }
    return a;
  }

  // The copycat reads the public page of its task: only a decided task (a
  // known-answer check) shows results to copy.
  void Copy(Volunteer& v, const TaskSpec& t, Answer* a) {
    ++requests_;
    HttpResult r = v.http->Get(base_ + "/api/v1/tasks/" + t.task_id);
    nlohmann::json j;
    std::string err;
    if (!r.ok() || !ParseJson(r.body, &j, &err) || j.value("status", "pending") == "pending") return;
    for (const auto& res : j["results"]) {
      if (!res.value("agrees", false)) continue;
      auto o = ParseOutcome(res.value("outcome", ""));
      if (!o) continue;
      a->outcome = *o;
      a->failing = res.value("failing_tests", std::vector<std::string>{});
      a->digest = res.contains("wheel") ? res["wheel"].value("content_digest", "") : "";
      ++copied_;
      return;
    }
  }

  void Finish(int idx, const TaskSpec& t, Answer a) {
    Volunteer& v = *vols_[idx];
    --v.running;
    if (v.suspended) return;
    if (!a.abandon) {
      if (v.kind == Kind::kCopycat) Copy(v, t, &a);
      ResultPayload p = testing::PayloadFor(t, v.v, a.outcome, a.claimed_seconds, a.failing,
                                            coordinator::OutcomeHasWheel(a.outcome) ? a.digest : "");
      p.platform.python_version = t.platform.substr(2, 1) + "." + t.platform.substr(3, 2);
      HttpResult r = Signed(v, "/api/v1/results", testing::Envelope(p, *v.v.machine));
      if (IsSuspendedAnswer(r)) {
        MarkSuspended(v);
        return;
      }
      if (r.ok()) {
        ++v.results;
        result_times_.push_back(now_);
        Observe(t.task_id);
      }
    }
    Schedule(now_, idx, kPoll, {});
  }

  // Reads the task's page after a result: a verdict published now is seen.
  void Observe(const std::string& task_id) {
    ++requests_;
    HttpResult r = reader_.Get(base_ + "/api/v1/tasks/" + task_id);
    nlohmann::json j;
    std::string err;
    if (!r.ok() || !ParseJson(r.body, &j, &err)) return;
    std::string status = j.value("status", "pending");
    if (status == "pending") return;
    // A verdict seen before (same latest replica result) is not new;
    // known-answer checks of a decided task change nothing.
    int64_t key = 0;
    for (const auto& res : j["results"])
      if (!res.value("known_answer_check", false))
        key = std::max<int64_t>(key, res.value("received_at", int64_t{0}));
    auto& last = decided_[task_id];
    if (last == key) return;
    last = key;
    Decision d;
    d.t = now_;
    d.task_id = task_id;
    d.status = status;
    d.wrong = Wrong(j, &d.agreeing);
    if (d.wrong && getenv("ADV_DEBUG") && ++debug_ <= 3) std::fprintf(stderr, "WRONG %s\n", j.dump(1).c_str());
    decisions_.push_back(std::move(d));
  }

  // Whether a published verdict contradicts the ground truth; fills the
  // kinds of the volunteers whose results it rests on.
  bool Wrong(const nlohmann::json& task, std::set<Kind>* agreeing) {
    std::string status = task.value("status", "");
    for (const auto& res : task["results"])
      if (res.value("agrees", false) && !res.value("known_answer_check", false)) {
        auto it = by_id_.find(res.value("volunteer_id", ""));
        if (it != by_id_.end()) agreeing->insert(it->second);
      }
    if (status == "inconclusive" || status == "pending") return false;
    Truth truth = TruthOf(task.value("project", ""), task.value("platform", ""));
    auto o = ParseOutcome(status);
    if (!o) return true;
    std::vector<std::string> failing;
    std::string digest;
    for (const auto& res : task["results"])
      if (res.value("agrees", false) && !res.value("known_answer_check", false)) {
        failing = res.value("failing_tests", std::vector<std::string>{});
        digest = res.contains("wheel") ? res["wheel"].value("content_digest", "") : "";
        break;
      }
    std::sort(failing.begin(), failing.end());
    bool flaky_ok = truth.flaky && *o == Outcome::kTestsFailed &&
                    failing == std::vector<std::string>{"tests/test_timing.py::test_deadline"};
    if (*o != truth.outcome && !flaky_ok) return true;
    if (*o == truth.outcome && failing != truth.failing) return true;
    if (coordinator::OutcomeHasWheel(*o) && digest != truth.digest &&
        !(truth.compiled && digest == Sha256Hex("other toolchain:" + truth.digest)))
      return true;
    return false;
  }

  void Collect(Stats* s, int64_t tasks) {
    s->tasks = tasks;
    s->decisions = decisions_;
    s->result_times = result_times_;
    s->requests = requests_;
    s->copycat_answers_copied = copied_;
    s->flagged_enrolments = flagged_enrolments_;
    s->flagged_enrolled = flagged_enrolled_;
    // Who the coordinator suspended, and after how many results, as it
    // recorded them (a suspended volunteer may not have asked again yet).
    for (const auto& v : vols_) {
      HttpResult r = reader_.Get(base_ + "/api/v1/volunteers/" + v->v.id());
      nlohmann::json j;
      std::string err;
      coordinator::ReputationRecord rep;
      if (r.ok() && ParseJson(r.body, &j, &err) && j.value("suspended", false) &&
          coord_->FindReputation(v->v.id(), &rep)) {
        v->suspended = true;
        v->results_at_suspension = rep.results_at_suspension;
      }
      s->volunteers.push_back(v.get());
    }
    // The standing verdicts, project by project.
    for (int i = 0; i < cfg_.projects; ++i) {
      std::string name = "sim" + std::to_string(10000 + i);
      HttpResult r = reader_.Get(base_ + "/api/v1/projects/" + name);
      nlohmann::json j;
      std::string err;
      if (!r.ok() || !ParseJson(r.body, &j, &err)) continue;
      for (const auto& ver : j["versions"])
        for (const auto& [platform, cell] : ver["cells"].items()) {
          std::string status = cell.value("status", "pending");
          if (status == "pending") {
            if (getenv("ADV_DEBUG") && ++debug_ <= 6)
              std::fprintf(stderr, "PENDING %s\n", reader_.Get(base_ + "/api/v1/tasks/" + cell.value("task_id", "")).body.c_str());
            continue;
          }
          ++s->decided_end;
          if (status == "inconclusive") ++s->inconclusive_end;
          HttpResult tr = reader_.Get(base_ + "/api/v1/tasks/" + cell.value("task_id", ""));
          nlohmann::json tj;
          if (!tr.ok() || !ParseJson(tr.body, &tj, &err)) continue;
          std::set<Kind> kinds;
          if (Wrong(tj, &kinds)) {
            ++s->wrong_end;
            std::string by;
            for (Kind k : kinds) by += std::string(by.empty() ? "" : "+") + KindName(k);
            ++s->wrong_end_by[by.empty() ? "nobody" : by];
          }
        }
    }
  }

  Config cfg_;
  std::mt19937_64 rng_;
  TestIndex index_;
  fs::path data_;
  std::unique_ptr<coordinator::Coordinator> coord_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
  HttpClient reader_;  // the public: reads pages from 127.0.0.1
  const int64_t start_ = 1'700'000'000;
  int64_t now_ = start_;
  int64_t seq_ = 0;
  int64_t requests_ = 0, copied_ = 0;
  int64_t flagged_enrolments_ = 0, flagged_enrolled_ = 0;  // fresh machines of caught cheaters' accounts
  int debug_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<std::unique_ptr<Volunteer>> vols_;
  std::vector<std::shared_ptr<SigningKey>> trusted_keys_;
  std::map<std::string, Kind> by_id_;
  std::map<std::string, int64_t> decided_;  // task -> latest result time of its seen verdict
  std::vector<Decision> decisions_;
  std::vector<int64_t> result_times_;
};

bool IsCheater(Kind k) { return k != Kind::kHonest; }

void Report(const Config& cfg, const Stats& s, const std::string& p) {
  auto line = [&](const std::string& name, const std::string& value) {
    std::printf("%s%s: %s\n", p.c_str(), name.c_str(), value.c_str());
  };
  auto num = [](double x, int prec = 0) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, x);
    return std::string(b);
  };
  std::map<Kind, int> count;
  for (const auto* v : s.volunteers) ++count[v->kind];
  line("volunteers", std::to_string(s.volunteers.size()) + " (honest " + std::to_string(count[Kind::kHonest]) +
                         ", random_liar " + std::to_string(count[Kind::kRandomLiar]) + " p=" + num(cfg.liar_p, 2) +
                         ", lazy " + std::to_string(count[Kind::kLazy]) + ", copycat " +
                         std::to_string(count[Kind::kCopycat]) + ", colluder " + std::to_string(count[Kind::kColluder]) +
                         " (one account), sybil " + std::to_string(count[Kind::kSybil]) + " (one /24), ring " +
                         std::to_string(count[Kind::kRing]) + " (fresh accounts, one /24 each), sleeper " +
                         std::to_string(count[Kind::kSleeper]) + " (the same, honest for " +
                         std::to_string(cfg.sleep_results) + " results first))");
  line("prefix_rule", cfg.distinct_prefix ? "on" : "off");
  line("standing_rule", cfg.standing ? "on, " + std::to_string(std::min(cfg.trusted, cfg.honest)) +
                                           " of the honest accounts trusted by the operator"
                                     : "off");
  line("trust_after", std::to_string(cfg.trust_after) + ", first trust after " +
                         std::to_string(cfg.trust_min_validated) + " validated, min_recheck " +
                         num(cfg.min_recheck, 2));
  line("tasks", std::to_string(s.tasks));
  line("verdicts_at_end", std::to_string(s.decided_end) + " (inconclusive " + std::to_string(s.inconclusive_end) + ")");
  line("simulated_time", num(s.sim_seconds / 3600.0, 1) + " h");
  line("results", std::to_string(s.result_times.size()));

  // Wrong verdicts ever published, by who made them.
  std::map<std::string, int64_t> wrong_by;
  int64_t wrong = 0;
  for (const auto& d : s.decisions) {
    if (!d.wrong) continue;
    ++wrong;
    std::string group = "honest_only";
    if (d.agreeing.count(Kind::kRing)) group = "ring_4_networks";
    else if (d.agreeing.count(Kind::kSleeper)) group = "sleeper_ring";
    else if (d.agreeing.count(Kind::kSybil)) group = "sybil_ring";
    else if (d.agreeing.count(Kind::kColluder)) group = "same_account_collusion";
    else if (d.agreeing.count(Kind::kLazy) || d.agreeing.count(Kind::kCopycat)) group = "single_cheaters";
    else if (d.agreeing.count(Kind::kRandomLiar)) group = "random_liars";
    ++wrong_by[group];
  }
  int64_t published = static_cast<int64_t>(s.decisions.size());
  line("verdicts_published", std::to_string(published) + " (including re-decisions after reopening)");
  line("wrong_verdicts_published", std::to_string(wrong) + " (" + num(100.0 * wrong / std::max<int64_t>(1, published), 3) + " %)");
  for (const char* g : {"single_cheaters", "same_account_collusion", "sybil_ring", "ring_4_networks", "sleeper_ring",
                        "random_liars", "honest_only"})
    line(std::string("wrong_verdicts_published_") + g,
         std::to_string(wrong_by[g]) + " (" + num(100.0 * wrong_by[g] / std::max<int64_t>(1, published), 3) + " %)");
  line("wrong_verdicts_standing_at_end", std::to_string(s.wrong_end) + " (" +
                                             num(100.0 * s.wrong_end / std::max<int64_t>(1, s.decided_end), 3) + " %)");
  for (const auto& [by, n] : s.wrong_end_by) line("wrong_verdicts_standing_by_" + by, std::to_string(n));

  // Detection.
  std::map<Kind, std::vector<int64_t>> before;
  std::map<Kind, int> caught;
  int honest_suspended = 0;
  for (const auto* v : s.volunteers) {
    if (!v->suspended) continue;
    if (!IsCheater(v->kind)) {
      ++honest_suspended;
      continue;
    }
    ++caught[v->kind];
    before[v->kind].push_back(v->results_at_suspension);
  }
  for (Kind k : {Kind::kLazy, Kind::kCopycat, Kind::kColluder, Kind::kSybil, Kind::kRing, Kind::kSleeper,
                 Kind::kRandomLiar}) {
    if (!count[k]) continue;
    std::string name = KindName(k);
    line(name + "_detected", std::to_string(caught[k]) + "/" + std::to_string(count[k]));
    auto& b = before[k];
    std::sort(b.begin(), b.end());
    std::string list;
    for (auto n : b) list += (list.empty() ? "" : " ") + std::to_string(n);
    if (!b.empty()) line(name + "_results_before_detection", list + " (max " + std::to_string(b.back()) + ")");
    if (k == Kind::kSleeper && !b.empty()) {
      std::string lying;
      for (auto n : b) lying += (lying.empty() ? "" : " ") + std::to_string(std::max<int64_t>(0, n - cfg.sleep_results));
      line(name + "_lying_results_before_detection", lying + " (counted from its first lie)");
    }
    // Undetected ones: how much they returned.
    std::string free_list;
    for (const auto* v : s.volunteers)
      if (v->kind == k && !v->suspended) free_list += (free_list.empty() ? "" : " ") + std::to_string(v->results);
    if (!free_list.empty()) line(name + "_undetected_results", free_list);
  }
  line("flagged_account_enrolments_accepted", std::to_string(s.flagged_enrolled) + " of " +
                                                  std::to_string(s.flagged_enrolments) +
                                                  " (a fresh machine under each caught cheater's account)");
  line("honest_wrongly_suspended", std::to_string(honest_suspended) + "/" + std::to_string(count[Kind::kHonest]));

  // Replication overhead: accepted results per published verdict, overall and
  // at steady state (between 30% and 90% of the tasks decided).
  line("results_per_verdict_overall",
       num(static_cast<double>(s.result_times.size()) / std::max<int64_t>(1, s.decided_end), 3) + " x");
  std::vector<int64_t> firsts;
  std::set<std::string> seen;
  for (const auto& d : s.decisions)
    if (seen.insert(d.task_id).second) firsts.push_back(d.t);
  std::sort(firsts.begin(), firsts.end());
  if (firsts.size() > 10) {
    int64_t t0 = firsts[firsts.size() * 3 / 10], t1 = firsts[firsts.size() * 9 / 10];
    int64_t results = 0, verdicts = 0;
    for (int64_t t : s.result_times) results += t >= t0 && t < t1;
    for (const auto& d : s.decisions) verdicts += d.t >= t0 && d.t < t1;
    line("results_per_verdict_steady_state", num(static_cast<double>(results) / std::max<int64_t>(1, verdicts), 3) +
                                                 " x (" + std::to_string(results) + " results, " +
                                                 std::to_string(verdicts) + " verdicts, " +
                                                 num((t1 - t0) / 3600.0, 1) + " h)");
  }
  line("copycat_answers_copied", std::to_string(s.copycat_answers_copied));
  line("http_requests", std::to_string(s.requests));
  line("wall_time", num(s.wall_s, 1) + " s");
}

}  // namespace

int main(int argc, char** argv) {
  InitCrypto();
  spdlog::set_level(spdlog::level::err);
  Config cfg;
  bool ablation = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--projects") cfg.projects = std::stoi(next());
    else if (a == "--honest") cfg.honest = std::stoi(next());
    else if (a == "--liars") cfg.random_liars = std::stoi(next());
    else if (a == "--liar-p") cfg.liar_p = std::stod(next());
    else if (a == "--seed") cfg.seed = std::stoull(next());
    else if (a == "--trust-after") cfg.trust_after = std::stoll(next());
    else if (a == "--trust-min-validated") cfg.trust_min_validated = std::stoll(next());
    else if (a == "--min-recheck") cfg.min_recheck = std::stod(next());
    else if (a == "--no-ablation") ablation = false;
    else if (a == "--trusted") cfg.trusted = std::stoi(next());
    else if (a == "--max-hours") cfg.max_sim_seconds = std::stoll(next()) * 3600;
    else if (a == "--no-standing") cfg.standing = false;
    else if (a == "--sleepers") cfg.sleepers = std::stoi(next());
    else if (a == "--sleep-results") cfg.sleep_results = std::stoll(next());
    else {
      std::fprintf(stderr,
                   "usage: adversarial [--projects N] [--honest N] [--liars N] [--liar-p P] [--seed S] "
                   "[--trust-after N] [--trust-min-validated N] [--min-recheck X] [--trusted N] [--no-standing] [--max-hours H] "
                   "[--sleepers N] [--sleep-results N] "
                   "[--no-ablation]\n");
      return 2;
    }
  }
  std::string err;
  Stats stats;
  Simulation sim(cfg);
  if (!sim.Run(&stats, &err)) {
    std::fprintf(stderr, "adversarial: %s\n", err.c_str());
    return 1;
  }
  Report(cfg, stats, "");
  if (ablation) {
    // The Sybil ring again, the prefix rule off: what the rule prevents.
    Config ab;
    ab.name = "ablation";
    ab.projects = std::max(100, cfg.projects / 5);
    ab.honest = 12;
    ab.random_liars = ab.lazy = ab.copycats = ab.colluding_pairs = 0;
    ab.sybils = 4;
    ab.ring = 0;
    ab.sleepers = 0;
    ab.distinct_prefix = false;
    ab.standing = false;  // the prefix rule alone
    ab.seed = cfg.seed + 1;
    Stats s2;
    Simulation sim2(ab);
    if (!sim2.Run(&s2, &err)) {
      std::fprintf(stderr, "adversarial (ablation): %s\n", err.c_str());
      return 1;
    }
    Report(ab, s2, "ablation_");
    // The ring of four fresh accounts on four /24s, the standing rule off:
    // what standing prevents (the prefix rule is on and cannot).
    Config rb = ab;
    rb.name = "ring_ablation";
    rb.sybils = 0;
    rb.ring = 4;
    rb.distinct_prefix = true;
    rb.standing = false;
    rb.seed = cfg.seed + 2;
    Stats s3;
    Simulation sim3(rb);
    if (!sim3.Run(&s3, &err)) {
      std::fprintf(stderr, "adversarial (ring ablation): %s\n", err.c_str());
      return 1;
    }
    Report(rb, s3, "ring_ablation_");
  }
  return 0;
}
