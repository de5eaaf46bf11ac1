// Load: many simulated volunteers leasing and reporting against the real
// `corral serve` binary for minutes, with the coordinator's memory sampled
// (issue 18, "Load"): does its RSS stay bounded while results pile up?
//
// The benchmark starts `corral serve` as a child process on a fresh data
// folder (on disk, not tmpfs: results wait for a real fsync), following a
// PEP 691 index this process serves on loopback with enough releases that
// tasks never run out (and a trickle of new releases during the run, so that
// index syncs find work). Then it simulates volunteers speaking the protocol
// exactly as docs/PROTOCOL.md describes it: Ed25519 account and machine keys,
// enrolment signed by the account, every request signed afresh by the machine
// key, results in DSSE envelopes, logs and wheels uploaded as artifacts
// before the result that names them, heartbeats, lease returns, backoff on
// retryable answers. Each volunteer sends from its own 127.a.b.c address:
// accounts of one or many machines, most machines of an account on the
// account's /24, some on a /24 of their own (a cloud machine), some
// one-machine accounts sharing a campus /24, so that the distinct-network
// rule, the per-account rules and the per-volunteer quotas act as they would
// on the Internet. A tenth of the accounts (--trusted) are builders the
// operator trusts (`--trusted-account`), so that verdicts are reached under
// the standing rule while the others earn standing.
//
// What one volunteer does (the reference daemon's loop, sped up): lease as
// many tasks as it has free slots (1, 2 or 4), "build" each for a few seconds
// (a few percent take minutes and must be renewed by heartbeat), upload a log
// (and a wheel when the outcome has one), report a signed result, lease
// again. Outcomes are a property of the task (project, version, platform), so
// honest volunteers agree; a few tasks are flaky, a few runs end in
// infra_error, a few leases are abandoned (the machine stops answering: the
// lease expires and the task is re-issued) or returned.
//
// Volunteers are not threads: one queue of timed events (enrol, poll, finish
// a task, heartbeat, return) and a small pool of worker threads that each
// make one blocking HTTP call at a time (common/http_client.h, libcurl, a new
// connection a call as the real daemon makes).
//
// Every --sample-every seconds: the coordinator's VmRSS, VmHWM, threads and
// open file descriptors from /proc/PID, its CPU time, its /metrics (results,
// verdicts, active leases), and the load's requests/s, lease and result
// latencies and errors. Prints `name: value unit` lines (DESIGN.md 4a), then
// the curve as a table.
#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "sandbox/wheel_digest.h"

namespace fs = std::filesystem;
using namespace corral;

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kPlatforms = {"cp310-linux_x86_64", "cp311-linux_x86_64",
                                             "cp312-linux_x86_64", "cp313-linux_x86_64"};

struct Args {
  fs::path corral;                // the binary; default: ../corral next to this one
  int volunteers = 1000;
  int accounts = 0;               // 0: volunteers / 3
  int trusted = -1;               // accounts the operator trusts (every k-th); -1: a tenth
  int cache_mb = 0;               // corral serve --cache-mb (0: its default)
  double seconds = 600;           // of load, enrolment ramp included
  double ramp = 30;               // volunteers enrol spread over this long
  double sample_every = 10;
  int workers = 64;               // threads making HTTP calls
  int projects = 0;               // 0: enough for the run (see TasksNeeded)
  int lease_seconds = 120;        // short enough that expiry and renewal happen within the run
  double min_task_s = 2, max_task_s = 20;  // most tasks: log-uniform between these
  double long_task_share = 0.03;           // the rest: 60 to 300 s, renewed by heartbeat
  double abandon_share = 0.005, return_share = 0.003, infra_error_share = 0.005;
  int log_bytes = 4096;           // mean size of a task's log
  int wheel_bytes = 8192;         // payload of a wheel's module
  bool artifacts = true;
  double new_releases_per_minute = 10;
  fs::path data;                  // default: a fresh folder under /tmp
  bool keep = false;
  uint64_t seed = 1;
};

uint64_t Hash64(const std::string& s) { return std::stoull(Sha256Hex(s).substr(0, 15), nullptr, 16); }
double Unit(const std::string& s) { return static_cast<double>(Hash64(s) % 1000000) / 1e6; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::string Fixed(double x, int prec) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, x);
  return b;
}

// ---------------------------------------------------------------------------
// The index: projects load-0 .. load-(N-1), each with its releases 1.0 .. 1.(R-1)
// (sdists), pages made on demand. AddRelease publishes one more release of a
// project and bumps its serial, as PyPI does.

class LoadIndex {
 public:
  LoadIndex(int projects, double mean_releases, uint64_t seed)
      : server_([this](const HttpRequest& r) { return Serve(r); }) {
    std::mt19937_64 rng(seed);
    // 1 to 2*mean-1 releases, uniform: mean as asked.
    std::uniform_int_distribution<int> releases(1, std::max(1, static_cast<int>(2 * mean_releases) - 1));
    for (int p = 0; p < projects; ++p) {
      releases_.push_back(releases(rng));
      serials_.push_back(++serial_);
    }
  }
  bool Start(std::string* err) { return server_.Start("127.0.0.1", 0, err); }
  void Stop() { server_.Stop(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/simple/"; }
  int64_t releases() const {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n = 0;
    for (int r : releases_) n += r;
    return n;
  }
  void AddRelease(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t p = rng() % releases_.size();
    ++releases_[p];
    serials_[p] = ++serial_;
  }

 private:
  HttpResponse Serve(const HttpRequest& r) {
    HttpResponse resp;
    resp.content_type = "application/vnd.pypi.simple.v1+json";
    std::lock_guard<std::mutex> lock(mu_);
    if (r.path == "/simple/") {
      nlohmann::json list = nlohmann::json::array();
      for (size_t p = 0; p < releases_.size(); ++p)
        list.push_back({{"name", "load-" + std::to_string(p)}, {"_last-serial", serials_[p]}});
      resp.body = nlohmann::json({{"meta", {{"api-version", "1.1"}, {"_last-serial", serial_}}}, {"projects", list}})
                      .dump();
      resp.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(serial_));
      return resp;
    }
    const std::string prefix = "/simple/load-";
    if (r.path.rfind(prefix, 0) != 0) return HttpResponse::Error(404, "not_found", r.path);
    size_t p = static_cast<size_t>(std::atoll(r.path.c_str() + prefix.size()));
    if (p >= releases_.size()) return HttpResponse::Error(404, "not_found", r.path);
    nlohmann::json files = nlohmann::json::array();
    for (int v = 0; v < releases_[p]; ++v) {
      std::string name = "load_" + std::to_string(p) + "-1." + std::to_string(v) + ".tar.gz";
      files.push_back({{"filename", name},
                       {"url", "../../files/" + name},
                       {"hashes", {{"sha256", Sha256Hex(name)}}},
                       {"size", 20000 + static_cast<int64_t>(Hash64(name) % 400000)},
                       {"upload-time", "2024-01-01T00:00:00Z"}});
    }
    resp.body = nlohmann::json({{"meta", {{"api-version", "1.1"}, {"_last-serial", serials_[p]}}},
                                {"name", "load-" + std::to_string(p)},
                                {"files", files}})
                    .dump();
    resp.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(serials_[p]));
    return resp;
  }

  mutable std::mutex mu_;
  std::vector<int> releases_;
  std::vector<int64_t> serials_;
  int64_t serial_ = 1000;
  HttpServer server_;
};

// ---------------------------------------------------------------------------
// What building and testing a task gives: a property of the task, so that
// honest volunteers agree.

struct Truth {
  Outcome outcome = Outcome::kPassed;
  std::vector<std::string> failing;
  bool flaky = false;  // passed, or a timing test fails, at random
  double seconds = 5;  // on a machine of speed 1
  int tests = 0;
};

Truth TruthOf(const TaskSpec& t, const Args& a) {
  Truth truth;
  const std::string key = t.project + "/" + t.version + "/" + t.platform;
  double u = Unit("outcome:" + key);
  if (u < 0.60) truth.outcome = Outcome::kPassed;
  else if (u < 0.75) {
    truth.outcome = Outcome::kTestsFailed;
    truth.failing = {"tests/test_core.py::test_case_" + std::to_string(Hash64("f:" + key) % 90)};
  } else if (u < 0.83) truth.outcome = Outcome::kNoTests;
  else if (u < 0.93) truth.outcome = Outcome::kBuildFailed;
  else if (u < 0.97) truth.outcome = Outcome::kImportFailed;
  else if (u < 0.99) truth.outcome = Outcome::kInstallFailed;
  else {
    truth.outcome = Outcome::kPassed;
    truth.flaky = true;
  }
  double s = Unit("seconds:" + key);
  if (Unit("long:" + key) < a.long_task_share) truth.seconds = 60 * std::pow(5.0, s);  // 60 s to 5 min
  else truth.seconds = a.min_task_s * std::pow(a.max_task_s / a.min_task_s, s);
  truth.tests = 5 + static_cast<int>(Hash64("tests:" + key) % 400);
  return truth;
}

bool HasWheel(Outcome o) {
  return o == Outcome::kPassed || o == Outcome::kTestsFailed || o == Outcome::kNoTests ||
         o == Outcome::kImportFailed || o == Outcome::kInstallFailed;
}

// A wheel as a deterministic zip (fixed mtimes), so every honest build of a
// task is byte-identical; its content digest as docs/PROTOCOL.md section 11
// defines it.
struct Wheel {
  std::string filename, bytes, sha256, digest;
};

std::string ZipOf(const std::vector<std::pair<std::string, std::string>>& files) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), &archive_write_free);
  archive_write_set_format_zip(a.get());
  size_t total = 4096;
  for (const auto& f : files) total += f.first.size() + f.second.size() + 256;
  std::vector<char> buf(total);
  size_t used = 0;
  if (archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) != ARCHIVE_OK) return "";
  for (const auto& [name, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e, 1'700'000'000, 0);
    archive_write_header(a.get(), e);
    archive_write_data(a.get(), content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return std::string(buf.data(), used);
}

Wheel WheelOf(const TaskSpec& t, int payload_bytes) {
  std::string dist = t.project;
  std::replace(dist.begin(), dist.end(), '-', '_');
  std::string py = t.platform.substr(0, t.platform.find('-'));  // cp311
  Wheel w;
  w.filename = dist + "-" + t.version + "-" + py + "-" + py + "-linux_x86_64.whl";
  std::string info = dist + "-" + t.version + ".dist-info/";
  std::string code = "# " + t.project + " " + t.version + "\n";
  std::string seed = Sha256Hex("code:" + t.project + t.version + t.platform);
  while (static_cast<int>(code.size()) < payload_bytes) {
    seed = Sha256Hex(seed);
    code += "K_" + seed.substr(0, 8) + " = '" + seed + "'\n";
  }
  std::vector<std::pair<std::string, std::string>> files = {
      {dist + "/__init__.py", code},
      {info + "METADATA", "Metadata-Version: 2.1\nName: " + t.project + "\nVersion: " + t.version +
                              "\nSummary: generated for load_volunteers\nRequires-Python: >=3.8\n"},
      {info + "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: " + py + "-" + py + "-linux_x86_64\n"}};
  std::string record;
  for (const auto& [name, content] : files) record += name + ",sha256=" + Sha256Hex(content) + "," +
                                                      std::to_string(content.size()) + "\n";
  record += info + "RECORD,,\n";
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [name, content] : files) pairs.emplace_back(name, Sha256Hex(content));
  std::sort(pairs.begin(), pairs.end());
  std::string listing;
  for (const auto& [name, hash] : pairs) listing += name + "\t" + hash + "\n";
  w.digest = Sha256Hex(listing);
  files.emplace_back(info + "RECORD", record);
  w.bytes = ZipOf(files);
  w.sha256 = Sha256Hex(w.bytes);
  return w;
}

// ---------------------------------------------------------------------------
// Bookkeeping of calls: latencies per kind of call, errors by code, counts.

enum Op { kEnrol, kLease, kHeartbeat, kArtifact, kResult, kReturn, kOps };
const char* OpName(int op) {
  static const char* names[] = {"enrol", "lease", "heartbeat", "artifact", "result", "return"};
  return names[op];
}

struct Sample {
  double t = 0;  // seconds since the load started
  double rss_mb = 0, hwm_mb = 0, anon_mb = 0;
  double wal_mb = 0, sst_mb = 0;  // the store's write-ahead log and table files on disk
  int fds = 0, threads = 0;
  double cpu_s = 0;  // the coordinator's user + system time so far
  int64_t requests = 0, results = 0, verdicts = 0, leases_out = 0, tasks = 0, errors = 0;
  double req_per_s = 0, lease_p50 = 0, lease_p99 = 0, result_p50 = 0, result_p99 = 0;
};

class Recorder {
 public:
  explicit Recorder(Clock::time_point start) : start_(start) {}
  void Restart(Clock::time_point start) { start_ = start; }
  double Since() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void Call(int op, double ms, long status, const std::string& error_code, const std::string& transport) {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    lat_[op].push_back(ms);
    if (!transport.empty()) ++errors_[std::string(OpName(op)) + "_transport: " + transport];
    else if (status < 200 || status >= 300)
      ++errors_[std::string(OpName(op)) + "_" + std::to_string(status) + "_" + (error_code.empty() ? "?" : error_code)];
  }
  void Lag(double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    lag_.push_back(ms);
  }
  void Count(const std::string& what, int64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[what] += n;
  }
  int64_t Get(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(what);
    return it == counts_.end() ? 0 : it->second;
  }

  // Figures of the window since the previous call, and the totals.
  struct Window {
    int64_t requests = 0, requests_total = 0, errors_total = 0;
    std::vector<double> lease_ms, result_ms;
  };
  Window TakeWindow() {
    std::lock_guard<std::mutex> lock(mu_);
    Window w;
    w.requests_total = requests_;
    w.requests = requests_ - window_requests_;
    window_requests_ = requests_;
    w.lease_ms.assign(lat_[kLease].begin() + static_cast<std::ptrdiff_t>(window_pos_[kLease]), lat_[kLease].end());
    w.result_ms.assign(lat_[kResult].begin() + static_cast<std::ptrdiff_t>(window_pos_[kResult]), lat_[kResult].end());
    for (int op = 0; op < kOps; ++op) window_pos_[op] = lat_[op].size();
    for (const auto& [_, n] : errors_) w.errors_total += n;
    return w;
  }

  std::mutex mu_;
  std::vector<double> lat_[kOps];
  std::vector<double> lag_;
  std::map<std::string, int64_t> errors_, counts_;
  int64_t requests_ = 0;

 private:
  Clock::time_point start_;
  size_t window_pos_[kOps] = {};
  int64_t window_requests_ = 0;
};

// ---------------------------------------------------------------------------
// Volunteers and their events.

struct LeaseState {
  TaskSpec spec;
  int64_t deadline = 0;
  Clock::time_point renewed;  // last heartbeat (or the lease)
  bool abandoned = false;     // the machine lost it: no heartbeat, no result
  bool finished = false;      // its result is being sent: no more heartbeats
};

struct Volunteer {
  std::mutex mu;
  int index = 0;
  std::shared_ptr<SigningKey> account;
  std::unique_ptr<SigningKey> machine;
  std::string account_name, machine_name, id, addr;
  std::vector<std::string> platforms;
  int slots = 1;
  double speed = 1;
  std::unique_ptr<HttpClient> http;
  std::mt19937_64 rng;
  // State, under mu:
  bool enrolled = false, suspended = false;
  std::map<std::string, LeaseState> leases;  // active, by lease id
  int held = 0;                              // slots taken (an abandoned lease until its deadline)
  uint64_t poll_gen = 0;                     // a poll event of another generation is stale
  bool poll_pending = false;
  Clock::time_point poll_at, earliest_poll;  // earliest_poll: next_poll_s after an empty answer
  uint64_t hb_gen = 0;
  bool hb_pending = false;
  int failures = 0;                          // retryable failures in a row (backoff)
};

enum class Ev { kEnrol, kPoll, kFinish, kHeartbeat, kReturn, kFree };

struct Event {
  Clock::time_point due;
  int64_t seq = 0;
  int vol = 0;
  Ev type = Ev::kPoll;
  uint64_t gen = 0;
  std::string lease_id;
  bool operator>(const Event& o) const { return due != o.due ? due > o.due : seq > o.seq; }
};

class EventQueue {
 public:
  void Push(Event e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      e.seq = seq_++;
      q_.push(std::move(e));
    }
    cv_.notify_one();
  }
  // The next due event; nullopt once stopped.
  std::optional<Event> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      if (q_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto due = q_.top().due;
      if (due <= Clock::now()) {
        Event e = q_.top();
        q_.pop();
        if (!q_.empty() && q_.top().due <= Clock::now()) cv_.notify_one();
        return e;
      }
      cv_.wait_until(lock, due);
    }
    return std::nullopt;
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return q_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> q_;
  int64_t seq_ = 0;
  bool stopped_ = false;
};

Clock::time_point After(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

class Load {
 public:
  Load(const Args& args, std::string base, Recorder& rec) : args_(args), base_(std::move(base)), rec_(rec) {}

  // Accounts and machines, spread over networks (see the file comment).
  void Populate() {
    std::mt19937_64 rng(args_.seed);
    std::uniform_real_distribution<double> u(0, 1);
    const int n_accounts = args_.accounts > 0 ? args_.accounts : std::max(1, args_.volunteers / 3);
    // Machines per account: one each, the rest to accounts with weight
    // 1/(k+1): a few labs with dozens of machines, many single ones.
    std::vector<int> machines(static_cast<size_t>(std::min(n_accounts, args_.volunteers)), 1);
    std::vector<double> w;
    for (size_t k = 0; k < machines.size(); ++k) w.push_back(1.0 / static_cast<double>(k + 1));
    std::discrete_distribution<size_t> pick(w.begin(), w.end());
    for (int i = static_cast<int>(machines.size()); i < args_.volunteers; ++i) ++machines[pick(rng)];
    std::map<std::string, int> hosts_on;  // /24 -> hosts used
    auto address_on = [&](const std::string& net) { return net + "." + std::to_string(++hosts_on[net]); };
    int cloud_nets = 0;
    std::vector<std::string> account_keys;
    for (size_t k = 0; k < machines.size(); ++k) {
      auto account = std::shared_ptr<SigningKey>(SigningKey::Generate());
      account_keys.push_back(account->public_hex());
      std::string name = "acct" + std::to_string(k);
      std::string home = "127." + std::to_string(16 + k / 250) + "." + std::to_string(k % 250);
      if (machines[k] == 1 && u(rng) < 0.10) home = "127.200." + std::to_string(rng() % 5);  // a campus
      for (int m = 0; m < machines[k]; ++m) {
        auto v = std::make_unique<Volunteer>();
        v->index = static_cast<int>(vols_.size());
        v->account = account;
        v->machine = SigningKey::Generate();
        v->id = v->machine->public_hex();
        v->account_name = name;
        v->machine_name = name + "-m" + std::to_string(m);
        bool own_net = machines[k] > 1 && u(rng) < 0.2;  // a cloud machine
        if (own_net) {
          ++cloud_nets;
          v->addr = "127." + std::to_string(120 + cloud_nets / 250) + "." + std::to_string(cloud_nets % 250) + ".1";
        } else {
          v->addr = address_on(home);
        }
        // One to three consecutive interpreters of the four.
        int count = 1 + static_cast<int>(rng() % 3);
        int first = static_cast<int>(rng() % (kPlatforms.size() - count + 1));
        for (int p = first; p < first + count; ++p) v->platforms.push_back(kPlatforms[p]);
        double s = u(rng);
        v->slots = s < 0.6 ? 1 : s < 0.9 ? 2 : 4;
        v->speed = 0.6 + u(rng);
        v->rng.seed(args_.seed * 1000003 + vols_.size());
        HttpClientOptions ho;
        ho.local_address = v->addr;
        ho.timeout_ms = 120000;
        v->http = std::make_unique<HttpClient>(ho);
        nets_.insert(v->addr.substr(0, v->addr.rfind('.')));
        vols_.push_back(std::move(v));
      }
    }
    accounts_ = static_cast<int>(machines.size());
    // Trusted builders spread over the accounts' sizes: every k-th account
    // from the largest lab on.
    const int trusted = args_.trusted < 0 ? std::max(1, accounts_ / 10) : std::min(args_.trusted, accounts_);
    for (int i = 0; i < trusted; ++i) {
      size_t k = static_cast<size_t>(i) * machines.size() / static_cast<size_t>(trusted);
      trusted_.push_back(account_keys[k]);
    }
  }

  // The public keys of the accounts `corral serve --trusted-account` names.
  const std::vector<std::string>& trusted_accounts() const { return trusted_; }

  int accounts() const { return accounts_; }
  size_t networks() const { return nets_.size(); }
  size_t volunteers() const { return vols_.size(); }
  double mean_slots() const {
    double s = 0;
    for (const auto& v : vols_) s += v->slots;
    return vols_.empty() ? 0 : s / static_cast<double>(vols_.size());
  }

  void Start() {
    for (size_t i = 0; i < vols_.size(); ++i) {
      double at = args_.ramp * static_cast<double>(i) / static_cast<double>(vols_.size());
      queue_.Push(Event{After(at), 0, static_cast<int>(i), Ev::kEnrol, 0, ""});
    }
    for (int i = 0; i < args_.workers; ++i) workers_.emplace_back([this] { Work(); });
  }
  // Stops taking events; calls under way finish.
  void Stop() {
    queue_.Stop();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  size_t queued() { return queue_.size(); }

 private:
  void Work() {
    while (auto e = queue_.Pop()) {
      rec_.Lag(std::chrono::duration<double, std::milli>(Clock::now() - e->due).count());
      Volunteer& v = *vols_[e->vol];
      switch (e->type) {
        case Ev::kEnrol: Enrol(v); break;
        case Ev::kPoll: Poll(v, e->gen); break;
        case Ev::kFinish: Finish(v, e->lease_id); break;
        case Ev::kHeartbeat: Heartbeat(v, e->gen); break;
        case Ev::kReturn: Return(v, e->lease_id); break;
        case Ev::kFree: Free(v, e->lease_id); break;
      }
    }
  }

  void Push(Volunteer& v, Ev type, Clock::time_point due, uint64_t gen = 0, std::string lease = "") {
    queue_.Push(Event{due, 0, v.index, type, gen, std::move(lease)});
  }

  // One signed call; records its latency and, when it failed, its error.
  HttpResult Call(Volunteer& v, int op, const std::string& method, const std::string& path,
                  const std::string& body, nlohmann::json* answer) {
    Headers h;
    for (auto& kv : SignRequest(*v.machine, method, path, body, NowSeconds())) h.push_back(kv);
    h.push_back({"Content-Type", method == "PUT" ? "application/octet-stream" : "application/json"});
    auto t0 = Clock::now();
    HttpResult r = method == "PUT" ? v.http->Put(base_ + path, body, h) : v.http->Post(base_ + path, body, h);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::string code, err;
    nlohmann::json j;
    bool parsed = !r.body.empty() && ParseJson(r.body, &j, &err);
    if (parsed && j.is_object() && j.contains("error") && j["error"].is_string()) code = j["error"];
    rec_.Call(op, ms, r.status, code, r.error);
    if (answer) *answer = parsed ? j : nlohmann::json();
    return r;
  }

  static bool Retryable(const HttpResult& r) {
    return !r.error.empty() || r.status >= 500 || r.status == 429 || r.status == 0;
  }
  static bool Suspended(const HttpResult& r, const nlohmann::json& j) {
    return r.status == 403 && j.is_object() && j.value("error", "") == "suspended";
  }

  // PROTOCOL.md section 12: after n failures in a row, a uniform wait
  // between 0.5 s and min(60, 2^min(n, 6)) s.
  double Backoff(Volunteer& v) {
    int n = ++v.failures;
    std::uniform_real_distribution<double> u(0.5, std::max(0.5, std::min(60.0, std::pow(2.0, std::min(n, 6)))));
    return u(v.rng);
  }

  void Enrol(Volunteer& v) {
    EnrolRequest e;
    e.account_key = v.account->public_hex();
    e.account_name = v.account_name;
    e.machine_key = v.id;
    e.machine_name = v.machine_name;
    e.account_signature = Base64Encode(v.account->Sign(EnrolmentMessage(e.machine_key, e.account_name, e.machine_name)));
    e.platforms = v.platforms;
    e.isolation = kIsolation;
    nlohmann::json answer;
    HttpResult r = Call(v, kEnrol, "POST", "/api/v1/volunteers", nlohmann::json(e).dump(), &answer);
    std::lock_guard<std::mutex> lock(v.mu);
    if (r.ok()) {
      v.failures = 0;
      v.enrolled = true;
      SchedulePoll(v, Clock::now());
    } else if (Retryable(r)) {
      Push(v, Ev::kEnrol, After(Backoff(v)));
    }
  }

  // Under v.mu: the next poll at `at` (or sooner if one is already due).
  void SchedulePoll(Volunteer& v, Clock::time_point at) {
    if (v.suspended) return;
    if (v.poll_pending && v.poll_at <= at) return;
    v.poll_pending = true;
    v.poll_at = at;
    Push(v, Ev::kPoll, at, ++v.poll_gen);
  }

  // Under v.mu: a heartbeat for the lease due first, unless one is set.
  void ScheduleHeartbeat(Volunteer& v) {
    std::optional<Clock::time_point> next;
    for (const auto& [_, l] : v.leases) {
      if (l.abandoned || l.finished) continue;
      auto due = RenewalDue(l);
      if (!next || due < *next) next = due;
    }
    if (!next) {
      v.hb_pending = false;
      return;
    }
    if (v.hb_pending) return;
    v.hb_pending = true;
    Push(v, Ev::kHeartbeat, *next, ++v.hb_gen);
  }

  // The reference daemon renews a lease once a third of its remaining time
  // has passed: at least 1 s, at most 60 s after the last renewal.
  static Clock::time_point RenewalDue(const LeaseState& l) {
    double left = static_cast<double>(l.deadline - NowSeconds());
    double wait = std::clamp(left / 3.0, 1.0, 60.0);
    return l.renewed + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
  }

  void Poll(Volunteer& v, uint64_t gen) {
    LeaseRequest lr;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      if (gen != v.poll_gen || v.suspended) return;
      v.poll_pending = false;
      int free = v.slots - v.held;
      if (free <= 0) return;  // a finishing task polls again
      lr.platforms = v.platforms;
      lr.slots = free;
      lr.isolation = kIsolation;
    }
    nlohmann::json answer;
    HttpResult r = Call(v, kLease, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), &answer);
    LeaseResponse resp;
    std::string err;
    std::lock_guard<std::mutex> lock(v.mu);
    if (Suspended(r, answer)) {
      v.suspended = true;
      rec_.Count("suspended_volunteers");
      return;
    }
    if (!r.ok() || !ParseLeaseResponse(answer, &resp, &err)) {
      SchedulePoll(v, After(Retryable(r) ? Backoff(v) : 60));
      return;
    }
    v.failures = 0;
    std::uniform_real_distribution<double> u(0, 1);
    rec_.Count(resp.tasks.empty() ? "leases_empty" : "leases_with_tasks");
    rec_.Count("tasks_leased", static_cast<int64_t>(resp.tasks.size()));
    for (auto& t : resp.tasks) {
      ++v.held;
      LeaseState l;
      l.spec = t;
      l.deadline = t.lease_deadline;
      l.renewed = Clock::now();
      double roll = u(v.rng);
      if (roll < args_.abandon_share) {
        // The machine loses the task: no heartbeat, no result; the slot is
        // free again once the lease would have expired.
        l.abandoned = true;
        rec_.Count("leases_abandoned");
        Push(v, Ev::kFree, After(static_cast<double>(t.lease_deadline - NowSeconds()) + 5), 0, t.lease_id);
      } else if (roll < args_.abandon_share + args_.return_share) {
        rec_.Count("leases_returned");
        Push(v, Ev::kReturn, After(1 + 4 * u(v.rng)), 0, t.lease_id);
      } else {
        Push(v, Ev::kFinish, After(TruthOf(t, args_).seconds * v.speed), 0, t.lease_id);
      }
      v.leases.emplace(t.lease_id, std::move(l));
    }
    // PROTOCOL.md section 12: wait next_poll_s (at least 1); with nothing
    // given, never ask sooner, even when a task finishes.
    double wait = std::max(1, resp.next_poll_s) * (1 + 0.1 * u(v.rng));
    v.earliest_poll = resp.tasks.empty() ? After(wait) : Clock::now();
    if (v.held < v.slots) SchedulePoll(v, After(wait));
    ScheduleHeartbeat(v);
  }

  // Under v.mu: a lease is over (result sent, refused, returned, cancelled).
  void Release(Volunteer& v, const std::string& lease_id) {
    auto it = v.leases.find(lease_id);
    if (it == v.leases.end()) return;
    v.leases.erase(it);
    --v.held;
    SchedulePoll(v, std::max(Clock::now(), v.earliest_poll));
  }

  std::string LogFor(Volunteer& v, const TaskSpec& t, Outcome outcome) {
    std::string log = "corral " + t.project + " " + t.version + " on " + t.platform + " lease " + t.lease_id + "\n";
    std::uniform_int_distribution<int> size(args_.log_bytes / 2, args_.log_bytes * 3 / 2);
    int target = size(v.rng);
    uint64_t x = v.rng();
    while (static_cast<int>(log.size()) < target) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      log += "[" + std::to_string(log.size()) + "] collecting ... tests/test_mod_" + std::to_string(x % 97) +
             ".py::test_" + std::to_string((x >> 20) % 1000) + " PASSED\n";
    }
    log += "outcome: " + std::string(OutcomeName(outcome)) + "\n";
    return log;
  }

  void Finish(Volunteer& v, const std::string& lease_id) {
    TaskSpec t;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      auto it = v.leases.find(lease_id);
      if (it == v.leases.end() || v.suspended) return;  // cancelled meanwhile
      it->second.finished = true;
      t = it->second.spec;
    }
    Truth truth = TruthOf(t, args_);
    std::uniform_real_distribution<double> u(0, 1);
    ResultPayload p;
    p.task_id = t.task_id;
    p.lease_id = t.lease_id;
    p.volunteer_id = v.id;
    p.input_sha256 = t.sha256;
    std::string minor = t.platform.substr(3, t.platform.find('-') - 3);
    p.platform.implementation = "cpython";
    p.platform.python_version = "3." + minor + ".7";
    p.platform.interpreter_build = "3." + minor + ".7 (main, Feb  1 2024, 10:00:00) [GCC 12.2.0]";
    p.platform.interpreter_path = "/usr/bin/python3." + minor;
    p.platform.os = "linux";
    p.platform.arch = "x86_64";
    p.platform.libc = "glibc 2.36";
    p.platform.kernel = "6.1.0-18-amd64";
    p.platform.has_headers = true;
    p.outcome = truth.outcome;
    p.failing_tests = truth.failing;
    if (truth.flaky && u(v.rng) < 0.3) {
      p.outcome = Outcome::kTestsFailed;
      p.failing_tests = {"tests/test_timing.py::test_deadline"};
    }
    if (u(v.rng) < args_.infra_error_share) {
      p.outcome = Outcome::kInfraError;
      p.failing_tests.clear();
    }
    p.summary = std::string(OutcomeName(p.outcome));
    p.total_seconds = truth.seconds * v.speed;
    p.build_seconds = p.total_seconds * 0.4;
    p.test_seconds = p.total_seconds * 0.5;
    bool tested = p.outcome == Outcome::kPassed || p.outcome == Outcome::kTestsFailed;
    if (tested) {
      p.tests_failed = static_cast<int>(p.failing_tests.size());
      p.tests_passed = truth.tests - p.tests_failed;
      p.tests_skipped = truth.tests / 20;
      p.test_run.runner = "pytest";
      p.test_run.command = "cd /work/src && python -m pytest -p no:cacheprovider -q tests";
      p.test_run.found_by = "testpaths in pyproject.toml";
      p.test_run.requirements = {"pytest", "hypothesis"};
      for (const auto& f : p.failing_tests)
        p.test_run.first_failures.push_back({f, "AssertionError: assert 3 == 4\n  File \"" + f + "\", line 12"});
    }
    p.commands = {"python -m build --wheel --no-isolation", "pip install --no-index --find-links wheelhouse " +
                                                                t.project, "python -c 'import " + t.project + "'",
                  "python -m pytest"};
    p.environment = {{"HOME", "/work"}, {"LANG", "C.UTF-8"}, {"PATH", "/usr/bin:/bin"},
                     {"PIP_NO_INDEX", "1"}, {"PYTHONHASHSEED", "0"}, {"SOURCE_DATE_EPOCH", "1700000000"}};
    p.isolation = kIsolation;
    p.client_version = "corral/0.1 (load_volunteers)";
    p.finished_at = NowSeconds();

    std::vector<std::pair<std::string, std::string>> uploads;  // sha256, bytes
    if (HasWheel(p.outcome)) {
      Wheel w = WheelOf(t, args_.wheel_bytes);
      p.wheel_content_digest = w.digest;
      if (args_.artifacts) {
        p.wheel_filename = w.filename;
        p.wheel_sha256 = w.sha256;
        uploads.emplace_back(w.sha256, std::move(w.bytes));
      }
    }
    if (args_.artifacts) {
      std::string log = LogFor(v, t, p.outcome);
      p.log_sha256 = Sha256Hex(log);
      uploads.emplace_back(p.log_sha256, std::move(log));
    }
    for (const auto& [sha, bytes] : uploads) {
      nlohmann::json answer;
      HttpResult r = Call(v, kArtifact, "PUT", "/api/v1/artifacts/" + sha + "?lease=" + t.lease_id, bytes, &answer);
      if (r.ok()) continue;
      std::lock_guard<std::mutex> lock(v.mu);
      if (Retryable(r)) {  // try the whole delivery again later, as the journal does
        Push(v, Ev::kFinish, After(Backoff(v)), 0, lease_id);
        return;
      }
      // A refused upload: the daemon logs it and still sends the result.
    }
    std::string envelope = DsseSign(kResultPayloadType, nlohmann::json(p).dump(), *v.machine).dump();
    nlohmann::json answer;
    HttpResult r = Call(v, kResult, "POST", "/api/v1/results", envelope, &answer);
    std::lock_guard<std::mutex> lock(v.mu);
    if (Suspended(r, answer)) {
      v.suspended = true;
      rec_.Count("suspended_volunteers");
      return;
    }
    if (Retryable(r)) {
      Push(v, Ev::kFinish, After(Backoff(v)), 0, lease_id);
      return;
    }
    v.failures = 0;
    if (r.ok()) rec_.Count(answer.is_object() && answer.value("duplicate", false) ? "results_duplicate" : "results_accepted");
    else rec_.Count("results_refused");
    Release(v, lease_id);
  }

  void Heartbeat(Volunteer& v, uint64_t gen) {
    HeartbeatRequest hr;
    {
      std::lock_guard<std::mutex> lock(v.mu);
      if (gen != v.hb_gen) return;
      v.hb_pending = false;
      auto now = Clock::now();
      for (const auto& [id, l] : v.leases)
        if (!l.abandoned && !l.finished && RenewalDue(l) <= now + std::chrono::milliseconds(500)) hr.lease_ids.push_back(id);
      if (hr.lease_ids.empty()) {
        ScheduleHeartbeat(v);
        return;
      }
    }
    nlohmann::json answer;
    HttpResult r = Call(v, kHeartbeat, "POST", "/api/v1/heartbeat", nlohmann::json(hr).dump(), &answer);
    HeartbeatResponse resp;
    std::string err;
    std::lock_guard<std::mutex> lock(v.mu);
    if (!r.ok() || !ParseHeartbeatResponse(answer, &resp, &err)) {
      v.hb_pending = true;  // the reference daemon retries after 5 s
      Push(v, Ev::kHeartbeat, After(5), ++v.hb_gen);
      return;
    }
    auto now = Clock::now();
    for (const auto& [id, deadline] : resp.extended) {
      auto it = v.leases.find(id);
      if (it == v.leases.end()) continue;
      it->second.deadline = deadline;
      it->second.renewed = now;
    }
    for (const auto& id : resp.cancelled) {
      auto it = v.leases.find(id);
      if (it == v.leases.end() || it->second.finished) continue;
      rec_.Count("leases_cancelled_by_heartbeat");
      Release(v, id);  // its finish event then finds nothing
    }
    ScheduleHeartbeat(v);
  }

  void Return(Volunteer& v, const std::string& lease_id) {
    LeaseReturnRequest lr;
    lr.lease_ids = {lease_id};
    nlohmann::json answer;
    Call(v, kReturn, "POST", "/api/v1/leases/return", nlohmann::json(lr).dump(), &answer);
    std::lock_guard<std::mutex> lock(v.mu);
    Release(v, lease_id);
  }

  void Free(Volunteer& v, const std::string& lease_id) {
    std::lock_guard<std::mutex> lock(v.mu);
    Release(v, lease_id);
  }

  static constexpr const char* kIsolation = "bwrap:net,pid,ipc,uts,user;seccomp=denylist;rlimits";

  const Args& args_;
  std::string base_;
  Recorder& rec_;
  EventQueue queue_;
  std::vector<std::unique_ptr<Volunteer>> vols_;
  std::set<std::string> nets_;
  int accounts_ = 0;
  std::vector<std::string> trusted_;
  std::vector<std::thread> workers_;
};

// ---------------------------------------------------------------------------
// The coordinator as a child process, and what /proc says of it.

struct Child {
  pid_t pid = -1;
  int status = 0;
  bool exited = false;

  bool Alive() {
    if (exited) return false;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) exited = true;
    return !exited;
  }
  std::string Describe() const {
    if (!exited) return "running";
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
    return "?";
  }
};

bool Spawn(const std::vector<std::string>& argv, const fs::path& log, Child* child, std::string* err) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("fork: ") + strerror(errno);
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    if (getppid() != parent) _exit(127);
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    execv(cargv[0], cargv.data());
    std::fprintf(stderr, "exec %s: %s\n", cargv[0], strerror(errno));
    _exit(127);
  }
  child->pid = pid;
  return true;
}

struct ProcStatus {
  double rss_mb = 0, hwm_mb = 0, anon_mb = 0, cpu_s = 0;
  int threads = 0, fds = 0;
};

ProcStatus ReadProc(pid_t pid) {
  ProcStatus s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    long kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kb) == 1) s.rss_mb = static_cast<double>(kb) / 1024;
    else if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kb) == 1) s.hwm_mb = static_cast<double>(kb) / 1024;
    else if (std::sscanf(line.c_str(), "RssAnon: %ld kB", &kb) == 1) s.anon_mb = static_cast<double>(kb) / 1024;
    else if (std::sscanf(line.c_str(), "Threads: %ld", &kb) == 1) s.threads = static_cast<int>(kb);
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++s.fds;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream in(text.substr(close + 2));
    std::vector<std::string> f;
    std::string x;
    while (in >> x) f.push_back(x);
    // After the name: state is field 3, utime 14, stime 15 (1-based).
    if (f.size() > 12) s.cpu_s = static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) /
                                 static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return s;
}

// corral_results_total, corral_tasks{state="decided"}, ... from /metrics.
std::map<std::string, double> Metrics(const HttpClient& http, const std::string& base) {
  std::map<std::string, double> m;
  HttpResult r = http.Get(base + "/metrics");
  if (!r.ok()) return m;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    m[line.substr(0, sp)] = std::atof(line.c_str() + sp + 1);
  }
  return m;
}

double DirMegabytes(const fs::path& dir) {
  uintmax_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  return static_cast<double>(bytes) / (1 << 20);
}

// Megabytes of the RocksDB folder's write-ahead logs and table files: a
// memtable flush shows as table files growing (and old logs going).
void StoreFiles(const fs::path& db, double* wal_mb, double* sst_mb) {
  uintmax_t wal = 0, sst = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(db, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string ext = it->path().extension().string();
    if (ext == ".log") wal += it->file_size(ec);
    else if (ext == ".sst") sst += it->file_size(ec);
  }
  *wal_mb = static_cast<double>(wal) / (1 << 20);
  *sst_mb = static_cast<double>(sst) / (1 << 20);
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The wheels above must digest the way the coordinator recomputes them.
bool CheckWheelDigest(const fs::path& dir, std::string* err) {
  TaskSpec t;
  t.project = "load-1";
  t.version = "1.0";
  t.platform = kPlatforms[1];
  Wheel w = WheelOf(t, 4096);
  fs::path file = dir / w.filename;
  std::string digest;
  if (!WriteFileAtomic(file, w.bytes, err) || !sandbox::WheelContentDigest(file, &digest, err)) return false;
  fs::remove(file);
  if (digest != w.digest) {
    *err = "the generated wheel digests to " + digest + " by sandbox::WheelContentDigest but " + w.digest + " here";
    return false;
  }
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: load_volunteers [--corral PATH] [--volunteers N] [--accounts N] [--trusted N]\n"
               "         [--cache-mb N] [--seconds S] [--ramp S]\n"
               "         [--sample-every S] [--workers N] [--projects N] [--lease-seconds S]\n"
               "         [--task-seconds MIN MAX] [--log-bytes N] [--wheel-bytes N] [--no-artifacts]\n"
               "         [--new-releases-per-minute R] [--data DIR] [--keep] [--seed N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  InitCrypto();
  spdlog::set_level(spdlog::level::err);
  signal(SIGPIPE, SIG_IGN);
  Args args;
  std::error_code ec;
  args.corral = fs::canonical("/proc/self/exe", ec).parent_path().parent_path() / "corral";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--corral") args.corral = next();
      else if (a == "--volunteers") args.volunteers = std::stoi(next());
      else if (a == "--accounts") args.accounts = std::stoi(next());
      else if (a == "--trusted") args.trusted = std::stoi(next());
      else if (a == "--cache-mb") args.cache_mb = std::stoi(next());
      else if (a == "--seconds") args.seconds = std::stod(next());
      else if (a == "--ramp") args.ramp = std::stod(next());
      else if (a == "--sample-every") args.sample_every = std::stod(next());
      else if (a == "--workers") args.workers = std::stoi(next());
      else if (a == "--projects") args.projects = std::stoi(next());
      else if (a == "--lease-seconds") args.lease_seconds = std::stoi(next());
      else if (a == "--task-seconds") {
        args.min_task_s = std::stod(next());
        args.max_task_s = std::stod(next());
      } else if (a == "--log-bytes") args.log_bytes = std::stoi(next());
      else if (a == "--wheel-bytes") args.wheel_bytes = std::stoi(next());
      else if (a == "--no-artifacts") args.artifacts = false;
      else if (a == "--new-releases-per-minute") args.new_releases_per_minute = std::stod(next());
      else if (a == "--data") args.data = next();
      else if (a == "--keep") args.keep = true;
      else if (a == "--seed") args.seed = std::stoull(next());
      else return Usage();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "load_volunteers: %s: %s\n", a.c_str(), e.what());
      return Usage();
    }
  }
  if (!fs::exists(args.corral)) {
    std::fprintf(stderr, "load_volunteers: no corral binary at %s (give --corral PATH)\n", args.corral.c_str());
    return 2;
  }
  if (args.ramp > args.seconds) args.ramp = args.seconds / 2;

  std::string err;
  if (args.data.empty()) args.data = fs::temp_directory_path() / ("corral-load-" + RandomHex(6));
  fs::create_directories(args.data, ec);
  if (!CheckWheelDigest(args.data, &err)) {
    std::fprintf(stderr, "load_volunteers: %s\n", err.c_str());
    return 1;
  }

  // Tasks: at least twice the results the volunteers could send if the
  // coordinator kept up, so that they never run out.
  const double mean_task_s = (1 - args.long_task_share) * (args.max_task_s - args.min_task_s) /
                                 std::log(args.max_task_s / args.min_task_s) +
                             args.long_task_share * 240 / std::log(5.0);
  const double mean_releases = 12;
  if (args.projects <= 0) {
    double results = args.volunteers * 1.6 * args.seconds / (mean_task_s * 1.1);
    args.projects = static_cast<int>(std::ceil(2 * results / (mean_releases * kPlatforms.size())));
    args.projects = std::max(args.projects, 50);
  }
  LoadIndex index(args.projects, mean_releases, args.seed);
  if (!index.Start(&err)) {
    std::fprintf(stderr, "load_volunteers: index: %s\n", err.c_str());
    return 1;
  }
  const int64_t releases_at_start = index.releases();

  // The coordinator, after the accounts exist: it names the trusted ones.
  int port = FreeLoopbackPort();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  Recorder recorder(Clock::now());
  Load load(args, base, recorder);
  load.Populate();
  fs::path data = args.data / "coordinator";
  std::vector<std::string> serve = {args.corral.string(), "serve", "--data", data.string(), "--listen",
                                    "127.0.0.1:" + std::to_string(port), "--index", index.url(),
                                    "--lease-seconds", std::to_string(args.lease_seconds)};
  for (const auto& p : kPlatforms) {
    serve.push_back("--platforms");
    serve.push_back(p);
  }
  if (args.cache_mb > 0) {
    serve.push_back("--cache-mb");
    serve.push_back(std::to_string(args.cache_mb));
  }
  for (const auto& key : load.trusted_accounts()) {
    serve.push_back("--trusted-account");
    serve.push_back(key);
  }
  std::string command;
  for (const auto& s : serve) command += (command.empty() ? "" : " ") + s;
  Child child;
  auto t_spawn = Clock::now();
  if (!Spawn(serve, args.data / "serve.log", &child, &err)) {
    std::fprintf(stderr, "load_volunteers: %s\n", err.c_str());
    return 1;
  }
  std::printf("coordinator_command: %s\n", command.c_str());
  std::printf("coordinator_pid: %d\n", child.pid);
  std::fflush(stdout);

  // Wait until its first sync has made every task.
  HttpClient reader;
  const int64_t tasks_expected = releases_at_start * static_cast<int64_t>(kPlatforms.size());
  int64_t tasks_at_start = 0;
  for (;;) {
    if (!child.Alive()) {
      std::fprintf(stderr, "load_volunteers: corral serve stopped while starting: %s (see %s)\n",
                   child.Describe().c_str(), (args.data / "serve.log").c_str());
      return 1;
    }
    auto m = Metrics(reader, base);
    tasks_at_start = static_cast<int64_t>(m["corral_tasks{state=\"pending\"}"] + m["corral_tasks{state=\"decided\"}"]);
    if (tasks_at_start >= tasks_expected) break;
    if (Clock::now() - t_spawn > std::chrono::minutes(10)) {
      std::fprintf(stderr, "load_volunteers: the first sync made %" PRId64 " of %" PRId64 " tasks in 10 min\n",
                   tasks_at_start, tasks_expected);
      kill(child.pid, SIGKILL);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  const double sync_s = std::chrono::duration<double>(Clock::now() - t_spawn).count();
  ProcStatus before = ReadProc(child.pid);

  // The volunteers.
  recorder.Restart(Clock::now());
  std::printf("volunteers: %zu\n", load.volunteers());
  std::printf("accounts: %d (%zu trusted)\n", load.accounts(), load.trusted_accounts().size());
  std::printf("networks: %zu (/24)\n", load.networks());
  std::printf("mean_slots: %.2f\n", load.mean_slots());
  std::printf("platforms: %zu\n", kPlatforms.size());
  std::printf("projects: %d\n", args.projects);
  std::printf("tasks_at_start: %" PRId64 "\n", tasks_at_start);
  std::printf("lease_seconds: %d\n", args.lease_seconds);
  std::printf("first_sync: %.1f s\n", sync_s);
  std::printf("rss_before_load: %.1f MB\n", before.rss_mb);
  std::fflush(stdout);

  // Load, sampled.
  std::vector<Sample> samples;
  auto sample = [&](double t) {
    Sample s;
    s.t = t;
    ProcStatus p = ReadProc(child.pid);
    s.rss_mb = p.rss_mb;
    s.hwm_mb = p.hwm_mb;
    s.anon_mb = p.anon_mb;
    StoreFiles(data / "db", &s.wal_mb, &s.sst_mb);
    s.fds = p.fds;
    s.threads = p.threads;
    s.cpu_s = p.cpu_s;
    auto m = Metrics(reader, base);
    s.results = static_cast<int64_t>(m["corral_results_total"]);
    s.verdicts = static_cast<int64_t>(m["corral_tasks{state=\"decided\"}"]);
    s.tasks = static_cast<int64_t>(m["corral_tasks{state=\"pending\"}"]) + s.verdicts;
    s.leases_out = static_cast<int64_t>(m["corral_leases_outstanding"]);
    Recorder::Window w = recorder.TakeWindow();
    s.requests = w.requests_total;
    s.errors = w.errors_total;
    double dt = samples.empty() ? t : t - samples.back().t;
    s.req_per_s = dt > 0 ? static_cast<double>(w.requests) / dt : 0;
    s.lease_p50 = Percentile(w.lease_ms, 0.5);
    s.lease_p99 = Percentile(w.lease_ms, 0.99);
    s.result_p50 = Percentile(w.result_ms, 0.5);
    s.result_p99 = Percentile(w.result_ms, 0.99);
    samples.push_back(s);
    std::fprintf(stderr,
                 "t=%5.0f s  rss %7.1f MB  hwm %7.1f MB  wal %6.1f MB  sst %6.1f MB  fds %4d  thr %3d  cpu %6.1f s  req %8" PRId64
                 " (%5.0f/s)  lease p99 %7.1f ms  result p99 %7.1f ms  results %7" PRId64 "  verdicts %7" PRId64
                 "  leases %5" PRId64 "  errors %" PRId64 "  queued %zu\n",
                 s.t, s.rss_mb, s.hwm_mb, s.wal_mb, s.sst_mb, s.fds, s.threads, s.cpu_s, s.requests, s.req_per_s,
                 s.lease_p99, s.result_p99, s.results, s.verdicts, s.leases_out, s.errors, load.queued());
  };
  sample(0);
  const double cpu0 = samples[0].cpu_s, self_cpu0 = SelfCpuSeconds();
  const int64_t results0 = samples[0].results, verdicts0 = samples[0].verdicts;
  load.Start();
  std::mt19937_64 rng(args.seed + 7);
  double next_release = args.new_releases_per_minute > 0 ? 60 / args.new_releases_per_minute : 1e18;
  double next_sample = args.sample_every;
  bool crashed = false;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    double t = recorder.Since();
    if (!child.Alive()) {
      crashed = true;
      std::fprintf(stderr, "load_volunteers: corral serve stopped during the load at t=%.0f s: %s\n", t,
                   child.Describe().c_str());
      break;
    }
    while (t >= next_release) {
      index.AddRelease(rng);
      next_release += 60 / args.new_releases_per_minute;
    }
    if (t >= next_sample) {
      sample(t);
      next_sample += args.sample_every;
    }
    if (t >= args.seconds) break;
  }
  const double load_s = recorder.Since();
  load.Stop();
  const double self_cpu = SelfCpuSeconds() - self_cpu0;
  ProcStatus end = crashed ? ProcStatus{} : ReadProc(child.pid);
  const double coord_cpu = end.cpu_s - cpu0;
  auto final_metrics = crashed ? std::map<std::string, double>{} : Metrics(reader, base);
  // At rest: what the coordinator keeps once the load stops.
  ProcStatus idle{};
  if (!crashed) {
    std::this_thread::sleep_for(std::chrono::seconds(15));
    idle = ReadProc(child.pid);
  }
  std::string stop_status = child.Describe();
  if (!crashed) {
    kill(child.pid, SIGTERM);
    for (int i = 0; i < 600 && child.Alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!child.exited) {
      kill(child.pid, SIGKILL);
      waitpid(child.pid, &child.status, 0);
      child.exited = true;
      stop_status = "did not stop within 60 s of SIGTERM: killed";
    } else {
      stop_status = child.Describe();
    }
  }
  const double data_mb = DirMegabytes(data);

  // Figures.
  auto line = [](const std::string& name, const std::string& value) {
    std::printf("%s: %s\n", name.c_str(), value.c_str());
  };
  std::lock_guard<std::mutex> lock(recorder.mu_);
  line("load_duration", Fixed(load_s, 1) + " s");
  line("requests", std::to_string(recorder.requests_));
  line("requests_per_second", Fixed(static_cast<double>(recorder.requests_) / load_s, 1));
  for (int op = 0; op < kOps; ++op) {
    const auto& v = recorder.lat_[op];
    line(std::string(OpName(op)) + "_calls", std::to_string(v.size()));
    if (v.empty()) continue;
    line(std::string(OpName(op)) + "_p50", Fixed(Percentile(v, 0.5), 1) + " ms");
    line(std::string(OpName(op)) + "_p99", Fixed(Percentile(v, 0.99), 1) + " ms");
    line(std::string(OpName(op)) + "_max", Fixed(*std::max_element(v.begin(), v.end()), 1) + " ms");
  }
  line("schedule_lag_p50", Fixed(Percentile(recorder.lag_, 0.5), 1) + " ms (an event's start after its due time: the load generator keeping up)");
  line("schedule_lag_p99", Fixed(Percentile(recorder.lag_, 0.99), 1) + " ms");
  for (const char* c : {"tasks_leased", "leases_with_tasks", "leases_empty", "results_accepted", "results_duplicate",
                        "results_refused", "leases_abandoned", "leases_returned", "leases_cancelled_by_heartbeat",
                        "suspended_volunteers"}) {
    auto it = recorder.counts_.find(c);
    line(c, std::to_string(it == recorder.counts_.end() ? 0 : it->second));
  }
  line("results_accepted_per_second",
       Fixed(static_cast<double>(recorder.counts_["results_accepted"]) / load_s, 1));
  int64_t errors = 0, server_errors = 0, transport = 0;
  for (const auto& [k, n] : recorder.errors_) {
    errors += n;
    if (k.find("_transport") != std::string::npos) transport += n;
    else if (k.find("_5") != std::string::npos) server_errors += n;
  }
  line("errors", std::to_string(errors) + " (" + Fixed(100.0 * static_cast<double>(errors) /
                                                       std::max<int64_t>(1, recorder.requests_), 3) + " % of calls)");
  line("errors_5xx", std::to_string(server_errors));
  line("errors_transport", std::to_string(transport));
  for (const auto& [k, n] : recorder.errors_) line("error_" + k, std::to_string(n));
  if (!crashed) {
    line("coordinator_results_during_load", std::to_string(static_cast<int64_t>(final_metrics["corral_results_total"]) - results0));
    line("coordinator_verdicts_during_load",
         std::to_string(static_cast<int64_t>(final_metrics["corral_tasks{state=\"decided\"}"]) - verdicts0));
    line("coordinator_tasks_at_end", std::to_string(static_cast<int64_t>(final_metrics["corral_tasks{state=\"pending\"}"] +
                                                                          final_metrics["corral_tasks{state=\"decided\"}"])));
    line("coordinator_pending_tasks_at_end", std::to_string(static_cast<int64_t>(final_metrics["corral_tasks{state=\"pending\"}"])));
  }
  double peak_rss = before.rss_mb;
  int peak_fds = before.fds, peak_threads = before.threads;
  for (const auto& s : samples) {
    peak_rss = std::max(peak_rss, s.rss_mb);
    peak_fds = std::max(peak_fds, s.fds);
    peak_threads = std::max(peak_threads, s.threads);
  }
  line("rss_start", Fixed(samples.front().rss_mb, 1) + " MB (after the first sync, before the load)");
  line("rss_peak", Fixed(peak_rss, 1) + " MB (sampled)");
  line("rss_end", Fixed(crashed ? 0 : end.rss_mb, 1) + " MB (as the load stopped)");
  line("rss_after_idle", Fixed(idle.rss_mb, 1) + " MB (15 s after the load stopped)");
  line("vm_hwm", Fixed(std::max(end.hwm_mb, idle.hwm_mb), 1) + " MB (the kernel's peak RSS)");
  // Growth over the second half: a least-squares slope.
  {
    double n = 0, st = 0, sr = 0, stt = 0, str = 0;
    for (const auto& s : samples) {
      if (s.t < load_s / 2) continue;
      n += 1;
      st += s.t;
      sr += s.rss_mb;
      stt += s.t * s.t;
      str += s.t * s.rss_mb;
    }
    double slope = n > 1 ? (n * str - st * sr) / (n * stt - st * st) : 0;
    line("rss_slope_second_half", Fixed(slope * 60, 2) + " MB/min");
  }
  line("fds_start", std::to_string(samples.front().fds));
  line("fds_peak", std::to_string(peak_fds));
  line("fds_end", std::to_string(end.fds));
  line("threads_peak", std::to_string(peak_threads));
  line("coordinator_cpu", Fixed(coord_cpu, 1) + " s (" + Fixed(100 * coord_cpu / load_s, 0) + " % of one core)");
  line("load_generator_cpu", Fixed(self_cpu, 1) + " s (" + Fixed(100 * self_cpu / load_s, 0) + " % of one core, index included)");
  line("data_dir_size", Fixed(data_mb, 1) + " MB");
  line("coordinator_status_after_load", crashed ? "crashed: " + stop_status : "alive");
  line("coordinator_exit_after_sigterm", stop_status);

  std::printf("\n   t_s  rss_MB  hwm_MB anon_MB  wal_MB  sst_MB   fds  thr  cpu_s   requests  req/s  lease_p50  "
              "lease_p99  result_p50  result_p99  results  verdicts  leases  errors\n");
  for (const auto& s : samples)
    std::printf("%6.0f %7.1f %7.1f %7.1f %7.1f %7.1f %5d %4d %6.1f %10" PRId64 " %6.0f %10.1f %10.1f %11.1f %11.1f %8" PRId64
                " %9" PRId64 " %7" PRId64 " %7" PRId64 "\n",
                s.t, s.rss_mb, s.hwm_mb, s.anon_mb, s.wal_mb, s.sst_mb, s.fds, s.threads, s.cpu_s, s.requests,
                s.req_per_s, s.lease_p50,
                s.lease_p99, s.result_p50, s.result_p99, s.results, s.verdicts, s.leases_out, s.errors);
  std::fflush(stdout);
  if (!args.keep) fs::remove_all(args.data, ec);
  else std::fprintf(stderr, "kept %s (serve.log, coordinator/)\n", args.data.c_str());
  return crashed ? 1 : 0;
}
