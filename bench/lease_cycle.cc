// Benchmark: lease + signed-result cycles per second against the real
// coordinator over HTTP on loopback (DESIGN.md section 8), side by side with
// the same lease/complete workload on PostgreSQL's usual job-queue pattern.
//
//   lease_cycle [--volunteers N] [--seconds S] [--warmup W] [--tasks T]
//               [--http-threads H] [--rate R] [--batch K] [--no-postgres]
//               [--pg-bin DIR]
//
// Corral: a PEP 691 index on loopback with T tasks' worth of releases is
// synced by an in-process Coordinator served by the same HttpServer `corral
// serve` uses (H handler threads, as `corral serve --http-threads`). N
// simulated volunteers, each with its own account and machine key, enrol
// over HTTP, then each runs a closed loop of cycles on one event loop
// (epoll, one keep-alive connection each): POST /api/v1/lease (signed) for
// one task, then POST /api/v1/results with a DSSE envelope really signed by
// its machine key; the
// coordinator verifies both signatures and stores the result with a WAL sync
// before answering. Figures cover S seconds after W seconds of warm-up.
// With --rate R, a second run offers R cycles/s spread over the N volunteers
// (each waits for its next slot), for latencies below saturation.
// Then (unless --batch is 1) the batched workload, a separate figure in
// tasks/s: each volunteer leases up to K tasks per request (slots = K, a
// machine that runs K tasks at once) and reports them with one POST
// /api/v1/results/batch of K envelopes, each signed and verified on its own.
//
// First it prints what Ed25519 signing and checking cost here, and the cycle
// rate at which the cores would do nothing but the three signatures of a
// cycle: a ceiling no server on this machine can pass. Then the transport
// floor: the same load generator against the same HttpServer answering
// canned replies (nothing checked or stored), for a few seconds; its CPU a
// cycle plus the coordinator's three signature checks gives a lower ceiling.
//
// PostgreSQL: Debian's server (initdb'd into a temporary directory as the
// `postgres` user when run as root, started on a loopback port, stopped at
// the end), a jobs table holding T jobs, and N connections driven through
// libpq's asynchronous API on one event loop. A cycle: lease one job with
// UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1), then,
// in one transaction, insert the result (the same signed envelope, signed by
// the client) and mark the job done. As in Corral, the lease commits without
// waiting for the disk and the completion waits for the WAL flush. The
// batched workload likewise: up to K jobs per lease (SKIP LOCKED LIMIT K),
// their K results inserted and jobs marked done in one transaction. Every
// PostgreSQL run starts from the same queue (all jobs queued, no results).
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/coordinator.h"

#ifdef CORRAL_HAVE_LIBPQ
#include <libpq-fe.h>
#include <poll.h>
#include <pwd.h>
#endif

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace corral;

namespace {

// What every simulated volunteer reports: a task built, installed and
// tested in 42 s, its 12 tests passed.
ResultPayload PassedPayload(const std::string& task_id, const std::string& lease_id,
                            const std::string& volunteer_id, const std::string& input_sha256) {
  ResultPayload p;
  p.task_id = task_id;
  p.lease_id = lease_id;
  p.volunteer_id = volunteer_id;
  p.input_sha256 = input_sha256;
  p.platform.implementation = "cpython";
  p.platform.python_version = "3.11.7";
  p.platform.os = "linux";
  p.platform.arch = "x86_64";
  p.outcome = Outcome::kPassed;
  p.summary = "built, installed, imported; 12 tests passed";
  p.total_seconds = 42;
  p.tests_passed = 12;
  return p;
}

struct Args {
  int volunteers = 500;
  double seconds = 20;
  double warmup = 3;
  int tasks = 200'000;
  int http_threads = 16;  // corral serve's default
  bool inline_leases = true;  // corral serve's default: leases on the I/O threads
  int result_cpu_slots = 0;   // corral serve's default: one per core
  double rate = 0;        // 0: no paced run
  int batch = 8;          // k of the batched run; <= 1: no batched run
  bool postgres = true;
  std::string pg_bin;
};

const std::vector<std::string> kPlatforms = {"cp310-linux_x86_64", "cp311-linux_x86_64",
                                             "cp312-linux_x86_64", "cp313-linux_x86_64"};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// What the protocol's signatures alone cost on this machine. A cycle has
// three: the volunteer signs its lease request, its result request and the
// result's envelope, and the coordinator checks all three. The ceiling is
// the cycle rate at which every core would do nothing but that.
struct SignatureCosts {
  double sign_us = 0, verify_us = 0;
};

SignatureCosts ReportSignatureFloor() {
  auto key = corral::SigningKey::Generate();
  const std::string message(200, 'm');  // about a request's signed text
  const int n = 2000;
  std::string sig;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) sig = key->Sign(message);
  double sign_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  int good = 0;
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) good += corral::VerifySignature(key->public_hex(), message, sig) ? 1 : 0;
  double verify_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  if (good != n) std::fprintf(stderr, "lease_cycle: %d of %d signatures did not verify\n", n - good, n);
  const int per_cycle = 3;
  double cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("ed25519_sign: %.1f us\n", sign_us);
  std::printf("ed25519_verify: %.1f us\n", verify_us);
  std::printf("signatures_per_cycle: %d (lease request, result request, result envelope)\n", per_cycle);
  std::printf("signature_ceiling_cycles_per_second: %.0f (all cores only signing and verifying)\n",
              cores * 1e6 / (per_cycle * (sign_us + verify_us)));
  return {sign_us, verify_us};
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------------------
// The index the coordinator syncs: P projects of R sdists each, PEP 691 JSON.

class BenchIndex {
 public:
  BenchIndex(int projects, int releases) : projects_(projects), releases_(releases),
      server_([this](const HttpRequest& r) { return Serve(r); }) {}
  bool Start(std::string* err) { return server_.Start("127.0.0.1", 0, err); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/simple/"; }
  void Stop() { server_.Stop(); }

 private:
  HttpResponse Serve(const HttpRequest& r) {
    HttpResponse resp;
    resp.content_type = "application/vnd.pypi.simple.v1+json";
    if (r.path == "/simple/") {
      nlohmann::json list = nlohmann::json::array();
      for (int p = 0; p < projects_; ++p)
        list.push_back({{"name", "bench-" + std::to_string(p)}, {"_last-serial", p + 1}});
      resp.body = nlohmann::json({{"meta", {{"api-version", "1.1"}}}, {"projects", list}}).dump();
      return resp;
    }
    int p = std::atoi(r.path.substr(std::strlen("/simple/bench-")).c_str());
    nlohmann::json files = nlohmann::json::array();
    for (int v = 0; v < releases_; ++v) {
      std::string name = "bench_" + std::to_string(p) + "-1." + std::to_string(v) + ".tar.gz";
      files.push_back({{"filename", name},
                       {"url", "../../files/" + name},
                       {"hashes", {{"sha256", Sha256Hex(name)}}},
                       {"size", 1000},
                       {"upload-time", "2024-01-01T00:00:00Z"}});
    }
    resp.body = nlohmann::json({{"meta", {{"api-version", "1.1"}, {"_last-serial", p + 1}}},
                                {"name", "bench-" + std::to_string(p)},
                                {"files", files}})
                    .dump();
    resp.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(p + 1));
    return resp;
  }
  int projects_, releases_;
  HttpServer server_;
};

// ---------------------------------------------------------------------------
// Latency and throughput bookkeeping shared by both halves.

struct Tally {
  Clock::time_point start, end;  // the measured window
  int64_t cycles = 0, errors = 0, empty = 0;
  int64_t tasks = 0;  // tasks reported and accepted (one per cycle unless batched)
  std::vector<double> lease_ms, result_ms;
  bool InWindow(Clock::time_point t) const { return t >= start && t < end; }
};

// Latency percentiles and error counts, shared by both workloads' figures.
void PrintLatencies(const std::string& who, const Tally& t) {
  std::printf("%s_lease_p50: %.2f ms\n", who.c_str(), Percentile(t.lease_ms, 0.50));
  std::printf("%s_lease_p99: %.2f ms\n", who.c_str(), Percentile(t.lease_ms, 0.99));
  std::printf("%s_result_p50: %.2f ms\n", who.c_str(), Percentile(t.result_ms, 0.50));
  std::printf("%s_result_p99: %.2f ms\n", who.c_str(), Percentile(t.result_ms, 0.99));
  std::printf("%s_errors: %lld\n", who.c_str(), static_cast<long long>(t.errors));
  std::printf("%s_empty_leases: %lld\n", who.c_str(), static_cast<long long>(t.empty));
  std::fflush(stdout);
}

void PrintTally(const std::string& who, const Tally& t, double window_s) {
  std::printf("%s_cycles: %lld\n", who.c_str(), static_cast<long long>(t.cycles));
  std::printf("%s_cycles_per_second: %.0f\n", who.c_str(), static_cast<double>(t.cycles) / window_s);
  PrintLatencies(who, t);
}

// The batched workload's figures: tasks per second first, then per request.
void PrintBatchedTally(const std::string& who, const Tally& t, double window_s, int k) {
  std::printf("%s_task_cycles_per_second: %.0f tasks/s (k=%d per lease)\n", who.c_str(),
              static_cast<double>(t.tasks) / window_s, k);
  std::printf("%s_tasks: %lld\n", who.c_str(), static_cast<long long>(t.tasks));
  std::printf("%s_requests_per_second: %.0f (lease + batch report pairs)\n", who.c_str(),
              static_cast<double>(t.cycles) / window_s);
  PrintLatencies(who, t);
}

// When each simulated client may start its next cycle: at once in a closed
// loop, on its own schedule when a rate is offered.
class Pacer {
 public:
  Pacer(int clients, double rate) : period_(rate > 0 ? clients / rate : 0) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> phase(0, period_);
    auto now = Clock::now();
    for (int i = 0; i < clients; ++i)
      next_.push_back(now + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(rate > 0 ? phase(rng) : 0)));
  }
  // The time client i may start its next cycle; advances its schedule.
  Clock::time_point Next(int i) {
    if (period_ <= 0) return Clock::now();
    Clock::time_point t = next_[i];
    next_[i] += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period_));
    return t;
  }

 private:
  double period_;
  std::vector<Clock::time_point> next_;
};

// ---------------------------------------------------------------------------
// Corral: simulated volunteers over HTTP, driven by one epoll loop.
//
// The load generator shares the two cores with the coordinator, so it must
// be cheap or it measures itself: one non-blocking keep-alive HTTP/1.1
// connection per volunteer, requests written with one send(), responses
// read with one recv() per readiness event and framed by Content-Length
// (the coordinator always sends it). What each volunteer sends is what
// `corral volunteer` sends: a lease request and a DSSE result envelope
// signed by its own machine key, each request signed afresh (new nonce) with
// the protocol's helpers (common/signing.h).

struct Volunteer {
  std::unique_ptr<SigningKey> account, machine;
  std::string id;
  std::vector<std::string> platforms;
  std::string lease_body;  // the lease request's JSON: the same every cycle
  int fd = -1;
  std::string out;         // the request being sent
  size_t out_sent = 0;
  std::string in;          // the response read so far
  bool leasing = true;
  std::vector<TaskSpec> tasks;
  Clock::time_point started;
};

// What a run asks each volunteer to do per cycle: lease one task and
// report it with POST /api/v1/results, or (batch > 1) lease up to `batch`
// tasks in one request and report them together with POST
// /api/v1/results/batch.
struct Workload {
  int batch = 1;
};

class CorralDriver {
 public:
  CorralDriver(int port, std::vector<Volunteer>& vols)
      : host_("127.0.0.1:" + std::to_string(port)), port_(port), vols_(vols) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~CorralDriver() {
    for (auto& v : vols_) Disconnect(v);
    if (epoll_ >= 0) close(epoll_);
  }

  // Opens one connection per volunteer. False with *err on the first failure.
  bool Connect(std::string* err) {
    for (auto& v : vols_)
      if (!Open(v, err)) return false;
    return true;
  }

  // Runs cycles until `end`; counts those that finish inside tally's window.
  // A cycle counts as one in tally->cycles and its tasks in tally->tasks.
  void Run(Tally* tally, Clock::time_point end, double rate, Workload work) {
    work_ = work;
    for (auto& v : vols_) v.lease_body.clear();  // it says how many slots
    Pacer pacer(static_cast<int>(vols_.size()), rate);
    using Wake = std::pair<Clock::time_point, size_t>;
    std::priority_queue<Wake, std::vector<Wake>, std::greater<>> waiting;
    for (size_t i = 0; i < vols_.size(); ++i) waiting.push({pacer.Next(static_cast<int>(i)), i});
    int running = 0;
    std::vector<epoll_event> events(vols_.size() + 1);
    while (true) {
      auto now = Clock::now();
      if (now >= end && running == 0) break;
      if (now >= end + std::chrono::seconds(60)) {
        // Answers overdue by a minute: count them as errors and give up on
        // those connections rather than hang.
        std::fprintf(stderr, "lease_cycle: %d requests still unanswered 60 s after the end\n", running);
        tally->errors += running;
        for (auto& v : vols_) {
          std::string err;
          Disconnect(v);
          if (!Open(v, &err)) std::fprintf(stderr, "lease_cycle: reconnecting: %s\n", err.c_str());
        }
        break;
      }
      while (!waiting.empty() && waiting.top().first <= now && now < end) {
        size_t i = waiting.top().second;
        waiting.pop();
        StartLease(vols_[i]);
        ++running;
      }
      int timeout_ms = 10;
      if (!waiting.empty() && now < end) {
        auto until = waiting.top().first - now;
        timeout_ms = static_cast<int>(std::clamp<int64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(until).count(), 0, 10));
      }
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout_ms);
      for (int e = 0; e < n; ++e) {
        Volunteer& v = vols_[events[static_cast<size_t>(e)].data.u64];
        size_t i = static_cast<size_t>(&v - vols_.data());
        if (events[static_cast<size_t>(e)].events & EPOLLOUT) Flush(v);
        int status = 0;
        std::string_view body;
        bool failed = false;
        if (events[static_cast<size_t>(e)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          int r = ReadResponse(v, &status, &body);
          if (r == 0) continue;  // not complete yet
          failed = r < 0 || status != 200;
        } else {
          continue;
        }
        auto done = Clock::now();
        if (failed) {
          if (tally->InWindow(done)) ++tally->errors;
          if (errors_logged_++ < 5)
            std::fprintf(stderr, "lease_cycle: %s answered %d: %.*s\n", v.leasing ? "lease" : "result",
                         status, static_cast<int>(std::min<size_t>(body.size(), 200)), body.data());
          // Start afresh on a new connection: the old one may be mid-message.
          std::string err;
          Disconnect(v);
          if (!Open(v, &err)) std::fprintf(stderr, "lease_cycle: reconnecting: %s\n", err.c_str());
          --running;
          waiting.push({std::max(pacer.Next(static_cast<int>(i)), done + std::chrono::milliseconds(50)), i});
          continue;
        }
        if (v.leasing) {
          if (tally->InWindow(v.started)) tally->lease_ms.push_back(Ms(done - v.started));
          LeaseResponse lr;
          std::string err;
          nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
          if (!ParseLeaseResponse(j, &lr, &err) || lr.tasks.empty()) {
            if (tally->InWindow(done)) ++tally->empty;
            --running;
            // Nothing for this volunteer now: back after a short pause.
            waiting.push({std::max(pacer.Next(static_cast<int>(i)), done + std::chrono::milliseconds(50)), i});
            continue;
          }
          v.tasks = std::move(lr.tasks);
          if (done < end) StartResult(v);
          else --running;
        } else {
          int64_t accepted = 1;
          if (work_.batch > 1) accepted = CountAccepted(body, tally);
          if (tally->InWindow(v.started)) tally->result_ms.push_back(Ms(done - v.started));
          if (tally->InWindow(done)) {
            ++tally->cycles;
            tally->tasks += accepted;
          }
          --running;
          waiting.push({pacer.Next(static_cast<int>(i)), i});
        }
      }
    }
  }

 private:
  bool Open(Volunteer& v, std::string* err) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *err = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      *err = std::string("connecting to ") + host_ + ": " + std::strerror(errno);
      close(fd);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(&v - vols_.data());
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    v.fd = fd;
    v.in.clear();
    v.out.clear();
    v.out_sent = 0;
    return true;
  }

  void Disconnect(Volunteer& v) {
    if (v.fd < 0) return;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, v.fd, nullptr);
    close(v.fd);
    v.fd = -1;
  }

  // Sends what is left of v.out; asks for EPOLLOUT while some remains.
  void Flush(Volunteer& v) {
    bool waiting_out = v.out_sent > 0 && v.out_sent < v.out.size();
    while (v.out_sent < v.out.size()) {
      ssize_t n = send(v.fd, v.out.data() + v.out_sent, v.out.size() - v.out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        v.out_sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return;  // the connection failed: the read side will see it
    }
    bool want_out = v.out_sent < v.out.size();
    if (want_out != waiting_out) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
      ev.data.u64 = static_cast<uint64_t>(&v - vols_.data());
      epoll_ctl(epoll_, EPOLL_CTL_MOD, v.fd, &ev);
    }
  }

  // Reads what is there. 1 with *status and *body once a whole response is
  // in, 0 when more is to come, -1 when the connection failed.
  int ReadResponse(Volunteer& v, int* status, std::string_view* body) {
    char buf[65536];
    ssize_t n = recv(v.fd, buf, sizeof buf, 0);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    v.in.append(buf, static_cast<size_t>(n));
    size_t head_end = v.in.find("\r\n\r\n");
    if (head_end == std::string::npos) return 0;
    std::string_view head(v.in.data(), head_end);
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return -1;
    *status = std::atoi(v.in.c_str() + 9);
    size_t length = 0;
    bool have_length = false;
    for (size_t pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
      std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - (pos + 2));
      constexpr std::string_view kName = "content-length:";
      if (line.size() > kName.size() &&
          std::equal(kName.begin(), kName.end(), line.begin(),
                     [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
        length = static_cast<size_t>(std::strtoull(line.data() + kName.size(), nullptr, 10));
        have_length = true;
      }
    }
    if (!have_length) return -1;  // the coordinator always frames by Content-Length
    if (v.in.size() < head_end + 4 + length) return 0;
    *body = std::string_view(v.in).substr(head_end + 4, length);
    return 1;
  }

  void Post(Volunteer& v, const char* path, const std::string& body) {
    v.out.clear();
    v.out_sent = 0;
    v.in.clear();
    v.out.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_).append("\r\n");
    for (const auto& [k, val] : SignRequest(*v.machine, "POST", path, body, NowSeconds()))
      v.out.append(k).append(": ").append(val).append("\r\n");
    v.out.append("Content-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n\r\n")
        .append(body);
    v.started = Clock::now();
    Flush(v);
  }

  void StartLease(Volunteer& v) {
    v.leasing = true;
    if (v.lease_body.empty()) {
      LeaseRequest lr;
      lr.platforms = v.platforms;
      lr.slots = work_.batch;
      v.lease_body = nlohmann::json(lr).dump();
    }
    Post(v, "/api/v1/lease", v.lease_body);
  }

  // The DSSE envelope a volunteer sends for `task`, signed by its machine key.
  std::string Envelope(const Volunteer& v, const TaskSpec& task) {
    ResultPayload p = PassedPayload(task.task_id, task.lease_id, v.id, task.sha256);
    // No wheel: a built wheel would be uploaded as an artifact first, which
    // is not what this measures.
    p.isolation = "full";
    p.client_version = "lease_cycle";
    p.finished_at = NowSeconds();
    return DsseSign(kResultPayloadType, nlohmann::json(p).dump(), *v.machine).dump();
  }

  void StartResult(Volunteer& v) {
    v.leasing = false;
    if (work_.batch <= 1) {
      Post(v, "/api/v1/results", Envelope(v, v.tasks[0]));
      return;
    }
    // The batch request's JSON, {"results": [envelope, ...]}, written out
    // directly: the envelopes are already JSON text.
    std::string body = "{\"results\":[";
    for (size_t i = 0; i < v.tasks.size(); ++i) {
      if (i) body += ',';
      body += Envelope(v, v.tasks[i]);
    }
    body += "]}";
    Post(v, "/api/v1/results/batch", body);
  }

  // The number of envelopes of a batch answer that were accepted; the
  // others count as errors.
  int64_t CountAccepted(std::string_view body, Tally* tally) {
    ResultBatchResponse resp;
    std::string err;
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (!ParseResultBatchResponse(j, &resp, &err)) {
      if (errors_logged_++ < 5) std::fprintf(stderr, "lease_cycle: batch answer: %s\n", err.c_str());
      ++tally->errors;
      return 0;
    }
    int64_t accepted = 0;
    for (const auto& item : resp.results) {
      if (item.status == "accepted") {
        ++accepted;
      } else {
        ++tally->errors;
        if (errors_logged_++ < 5)
          std::fprintf(stderr, "lease_cycle: batch item %s: %s %s\n", item.status.c_str(),
                       item.error.c_str(), item.detail.c_str());
      }
    }
    return accepted;
  }

  std::string host_;
  int port_;
  std::vector<Volunteer>& vols_;
  int epoll_ = -1;
  Workload work_;
  int errors_logged_ = 0;
};

// One run of `driver` measured over `seconds` after `warmup`: its tally, and
// the CPU a cycle (all of the process, and the load generator's thread),
// counted over the whole run and scaled to the window's share.
struct Measured {
  Tally tally;
  double cpu_us = 0, client_us = 0;
};

Measured MeasureRun(CorralDriver& driver, double warmup, double seconds, double rate, Workload work) {
  Measured m;
  Tally& t = m.tally;
  t.start = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  t.end = t.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  double cpu0 = CpuSeconds(), client0 = ThreadCpuSeconds();
  driver.Run(&t, t.end, rate, work);
  double cpu = CpuSeconds() - cpu0, client = ThreadCpuSeconds() - client0;
  if (t.cycles > 0) {
    double share = seconds / (seconds + warmup);
    m.cpu_us = cpu / static_cast<double>(t.cycles) * 1e6 * share;
    m.client_us = client / static_cast<double>(t.cycles) * 1e6 * share;
  }
  return m;
}

// The transport floor: the same load generator (every request and envelope
// really signed) against the same HttpServer, set up as for the coordinator,
// whose handler answers a canned lease and a canned acceptance: no signature
// checked, nothing stored. What a cycle costs before the coordinator does
// anything; with the coordinator's three signature checks added, the
// fastest any coordinator could go on these cores.
bool RunTransportFloor(const Args& args, const HttpServerOptions& http, std::vector<Volunteer>& vols,
                       const SignatureCosts& signatures) {
  TaskSpec task;
  task.task_id = std::string(64, 'a');
  task.lease_id = std::string(32, 'b');
  task.project = "bench";
  task.version = "1.0";
  task.filename = "bench-1.0.tar.gz";
  task.url = "http://127.0.0.1/bench-1.0.tar.gz";
  task.sha256 = std::string(64, 'c');
  task.size = 1000;
  task.platform = kPlatforms[0];
  task.lease_deadline = NowSeconds() + 900;
  LeaseResponse canned;
  canned.tasks = {task};
  canned.next_poll_s = 1;
  const HttpResponse lease = HttpResponse::Json(200, canned);
  const HttpResponse accepted = HttpResponse::Json(200, {{"accepted", true}, {"duplicate", false}});
  HttpServer server([&](const HttpRequest& r) { return r.path == "/api/v1/lease" ? lease : accepted; }, http);
  std::string err;
  if (!server.Start("127.0.0.1", 0, &err)) {
    std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
    return false;
  }
  CorralDriver driver(server.port(), vols);
  if (!driver.Connect(&err)) {
    std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
    return false;
  }
  const double seconds = std::min(args.seconds, 5.0);
  Measured m = MeasureRun(driver, /*warmup=*/1, seconds, 0, Workload{1});
  const Tally& t = m.tally;
  if (t.cycles == 0 || t.errors > 0) {
    std::fprintf(stderr, "lease_cycle: the transport run finished %lld cycles with %lld errors\n",
                 static_cast<long long>(t.cycles), static_cast<long long>(t.errors));
    return false;
  }
  double cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("transport_cycles_per_second: %.0f (canned answers: nothing checked or stored)\n",
              static_cast<double>(t.cycles) / seconds);
  std::printf("transport_cpu_per_cycle: %.0f us (load generator %.0f us)\n", m.cpu_us, m.client_us);
  std::printf("transport_and_signatures_ceiling_cycles_per_second: %.0f (the transport's CPU a cycle "
              "and the coordinator's three signature checks, on all cores)\n",
              cores * 1e6 / (m.cpu_us + 3 * signatures.verify_us));
  std::fflush(stdout);
  return true;
}

bool RunCorral(const Args& args, const SignatureCosts& signatures, double* cycles_per_second,
               double* batched_tasks_per_second) {
  InitCrypto();
  fs::path dir = fs::temp_directory_path() / ("corral-bench-lease-" + RandomHex(6));
  fs::create_directories(dir);
  const int releases = 500;
  int projects = std::max(1, args.tasks / (releases * static_cast<int>(kPlatforms.size())));
  BenchIndex index(projects, releases);
  std::string err;
  if (!index.Start(&err)) {
    std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
    return false;
  }
  coordinator::Options o;
  o.data_dir = dir;
  o.index_url = index.url();
  o.platforms = kPlatforms;
  o.distinct_prefix = false;            // every simulated volunteer is on loopback
  o.initial_daily_quota = 1'000'000'000;  // new volunteers may lease as fast as they like
  o.result_cpu_slots = args.result_cpu_slots;
  auto coordinator = std::make_unique<coordinator::Coordinator>(o);
  HttpServerOptions http;
  http.threads = args.http_threads;
  if (args.inline_leases) http.answer_inline = coordinator::Coordinator::NeverWaitsForDisk;
  HttpServer server([&](const HttpRequest& r) { return coordinator->Handle(r); }, http);
  if (!coordinator->Open(&err) || !server.Start("127.0.0.1", 0, &err)) {
    std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
    return false;
  }
  auto t0 = Clock::now();
  coordinator::SyncStats sync;
  if (!coordinator->SyncOnce(&err, &sync)) {
    std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
    return false;
  }
  std::printf("corral_sync_tasks: %lld\n", static_cast<long long>(sync.tasks_created));
  std::printf("corral_sync_wall: %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  coordinator->StartBackground();
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());

  // Volunteers: one account and one machine key each, enrolled over HTTP.
  std::vector<Volunteer> vols(static_cast<size_t>(args.volunteers));
  HttpClient client;
  for (size_t i = 0; i < vols.size(); ++i) {
    Volunteer& v = vols[i];
    v.account = SigningKey::Generate();
    v.machine = SigningKey::Generate();
    v.id = v.machine->public_hex();
    v.platforms = {kPlatforms[i % kPlatforms.size()]};
    EnrolRequest e;
    e.account_key = v.account->public_hex();
    e.account_name = "acct" + std::to_string(i);
    e.machine_key = v.id;
    e.machine_name = "m" + std::to_string(i);
    e.account_signature =
        Base64Encode(v.account->Sign(EnrolmentMessage(e.machine_key, e.account_name, e.machine_name)));
    e.platforms = v.platforms;
    std::string body = nlohmann::json(e).dump();
    Headers h = SignRequest(*v.machine, "POST", "/api/v1/volunteers", body, NowSeconds());
    HttpResult r = client.Post(base + "/api/v1/volunteers", body, h);
    if (!r.ok()) {
      std::fprintf(stderr, "lease_cycle: enrolling volunteer %zu: %s\n", i, r.Describe().c_str());
      return false;
    }
  }
  std::printf("volunteers: %d\n", args.volunteers);
  std::printf("http_threads: %d\n", args.http_threads);
  std::printf("leases_inline: %d\n", args.inline_leases ? 1 : 0);
  std::printf("result_cpu_slots: %d\n", args.result_cpu_slots);
  std::fflush(stdout);
  if (!RunTransportFloor(args, http, vols, signatures)) return false;

  {
    CorralDriver driver(server.port(), vols);
    if (!driver.Connect(&err)) {
      std::fprintf(stderr, "lease_cycle: %s\n", err.c_str());
      return false;
    }
    // CPU a cycle, and the load generator's own share (this thread).
    auto measure = [&](const std::string& who, double rate, Workload work) {
      Measured m = MeasureRun(driver, args.warmup, args.seconds, rate, work);
      if (m.tally.cycles > 0) {
        std::printf("%s_cpu_per_cycle: %.0f us\n", who.c_str(), m.cpu_us);
        std::printf("%s_client_cpu_per_cycle: %.0f us\n", who.c_str(), m.client_us);
      }
      return m.tally;
    };
    Tally t = measure("corral", 0, Workload{1});
    PrintTally("corral", t, args.seconds);
    *cycles_per_second = static_cast<double>(t.cycles) / args.seconds;
    if (args.rate > 0) {
      Tally paced = measure("corral_paced", args.rate, Workload{1});
      std::printf("corral_paced_offered: %.0f /s\n", args.rate);
      PrintTally("corral_paced", paced, args.seconds);
    }
    if (args.batch > 1) {
      // The batched workload: a volunteer with several interpreters leases
      // up to k tasks per request and reports them in one results/batch.
      // A separate figure, in tasks/s: never to be read as the single-task one.
      Tally b = measure("corral_batched", 0, Workload{args.batch});
      PrintBatchedTally("corral_batched", b, args.seconds, args.batch);
      *batched_tasks_per_second = static_cast<double>(b.tasks) / args.seconds;
    }
  }
  auto progress = coordinator->GetProgress();
  std::printf("corral_results_stored: %lld\n", static_cast<long long>(progress.results));
  std::printf("corral_verdicts: %lld\n", static_cast<long long>(progress.verdicts));
  std::fflush(stdout);
  server.Stop();
  coordinator->Stop();
  coordinator.reset();
  index.Stop();
  fs::remove_all(dir);
  return true;
}

#ifdef CORRAL_HAVE_LIBPQ
// ---------------------------------------------------------------------------
// PostgreSQL: a temporary cluster and the SKIP LOCKED job queue.

// Runs `argv` (as `user` when given and we are root), waiting for it unless
// `background`; output goes to `log`. Returns the child's pid (background)
// or its exit status (foreground), -1 when it could not start.
int Spawn(const std::vector<std::string>& argv, const passwd* user, const fs::path& log,
          bool background) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (user && (setgid(user->pw_gid) != 0 || setuid(user->pw_uid) != 0)) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (background) return pid;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string FindPgBin(const std::string& given) {
  if (!given.empty()) return given;
  std::string best;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(e.path() / "bin" / "initdb") && (best.empty() || e.path().string() > best))
      best = e.path().string();
  return best.empty() ? "" : best + "/bin";
}

bool Exec(PGconn* c, const std::string& sql, std::string* err) {
  PGresult* r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) *err = sql.substr(0, 60) + ": " + PQerrorMessage(c);
  PQclear(r);
  return ok;
}

struct PgClient {
  PGconn* conn = nullptr;
  int idx = 0;
  std::string platform;
  std::unique_ptr<SigningKey> key;
  int batch = 1;             // jobs per lease
  bool leasing = true;
  bool failed = false;
  std::vector<int64_t> jobs;  // leased, to complete
  int64_t inserted = 0;       // results the completion stored
  Clock::time_point started;
};

// Prepares statement `name`; false, having said what failed, when it cannot.
bool PgPrepare(PGconn* conn, const char* name, const char* sql, int params, const char* what) {
  PGresult* r = PQprepare(conn, name, sql, params, nullptr);
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) std::fprintf(stderr, "lease_cycle: preparing %s: %s\n", what, PQerrorMessage(conn));
  PQclear(r);
  return ok;
}

// The signed envelope a client stores for `job`, as in Corral.
std::string PgEnvelope(const PgClient& c, int64_t job) {
  ResultPayload p = PassedPayload(std::to_string(job), "job-" + std::to_string(job), c.key->public_hex(),
                                  Sha256Hex(std::to_string(job)));
  p.wheel_sha256 = Sha256Hex(p.task_id);
  p.wheel_content_digest = Sha256Hex("content " + p.task_id);
  p.isolation = "full";
  p.client_version = "lease_cycle";
  p.finished_at = NowSeconds();
  return DsseSign(kResultPayloadType, nlohmann::json(p).dump(), *c.key).dump();
}

// Sends the next statement of client c: a lease, or the completion of its job.
void PgSend(PgClient& c) {
  c.started = Clock::now();
  if (c.leasing) {
    std::string idx = std::to_string(c.idx);
    std::string k = std::to_string(c.batch);
    const char* params[3] = {idx.c_str(), c.platform.c_str(), k.c_str()};
    if (c.batch <= 1) PQsendQueryPrepared(c.conn, "lease", 2, params, nullptr, nullptr, 0);
    else PQsendQueryPrepared(c.conn, "lease_batch", 3, params, nullptr, nullptr, 0);
  } else if (c.batch <= 1) {
    std::string envelope = PgEnvelope(c, c.jobs[0]);
    char* lit = PQescapeLiteral(c.conn, envelope.c_str(), envelope.size());
    std::string sql =
        "BEGIN; SET LOCAL synchronous_commit = on; "
        "WITH done AS (UPDATE jobs SET state = 'done' WHERE id = " + std::to_string(c.jobs[0]) +
        " AND leased_by = " + std::to_string(c.idx) + " AND state = 'leased' RETURNING id) "
        "INSERT INTO results (job_id, volunteer, envelope) SELECT id, " + std::to_string(c.idx) +
        ", " + lit + " FROM done; COMMIT;";
    PQfreemem(lit);
    PQsendQuery(c.conn, sql.c_str());
  } else {
    // All the leased jobs completed in one transaction, as results/batch
    // stores its envelopes under one WAL sync.
    std::string ids, values;
    for (size_t i = 0; i < c.jobs.size(); ++i) {
      std::string envelope = PgEnvelope(c, c.jobs[i]);
      char* lit = PQescapeLiteral(c.conn, envelope.c_str(), envelope.size());
      ids += (i ? "," : "") + std::to_string(c.jobs[i]);
      values += std::string(i ? ", (" : "(") + std::to_string(c.jobs[i]) + "::bigint, " + lit + ")";
      PQfreemem(lit);
    }
    std::string sql =
        "BEGIN; SET LOCAL synchronous_commit = on; "
        "WITH done AS (UPDATE jobs SET state = 'done' WHERE id IN (" + ids +
        ") AND leased_by = " + std::to_string(c.idx) + " AND state = 'leased' RETURNING id) "
        "INSERT INTO results (job_id, volunteer, envelope) SELECT done.id, " + std::to_string(c.idx) +
        ", e.envelope FROM done JOIN (VALUES " + values + ") AS e(id, envelope) ON e.id = done.id; COMMIT;";
    PQsendQuery(c.conn, sql.c_str());
  }
  while (PQflush(c.conn) == 1) {
  }
}

bool RunPgWorkload(const std::string& conninfo, int clients, int batch, const Args& args,
                   const std::string& who, double* cycles_per_second) {
  std::vector<PgClient> cs(static_cast<size_t>(clients));
  for (int i = 0; i < clients; ++i) {
    PgClient& c = cs[static_cast<size_t>(i)];
    c.idx = i;
    c.batch = batch;
    c.platform = kPlatforms[static_cast<size_t>(i) % kPlatforms.size()];
    c.key = SigningKey::Generate();
    c.conn = PQconnectdb(conninfo.c_str());
    std::string err;
    if (PQstatus(c.conn) != CONNECTION_OK ||
        !Exec(c.conn, "SET synchronous_commit = off", &err)) {
      std::fprintf(stderr, "lease_cycle: connecting to PostgreSQL (%d): %s\n", i, PQerrorMessage(c.conn));
      return false;
    }
    if (!PgPrepare(c.conn, "lease",
                   "UPDATE jobs SET state = 'leased', leased_by = $1, "
                   "lease_deadline = now() + interval '15 minutes', attempts = attempts + 1 "
                   "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND platform = $2 "
                   "ORDER BY priority, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
                   2, "the lease") ||
        !PgPrepare(c.conn, "lease_batch",
                   "WITH picked AS (SELECT id FROM jobs WHERE state = 'queued' AND platform = $2 "
                   "ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                   "UPDATE jobs SET state = 'leased', leased_by = $1, "
                   "lease_deadline = now() + interval '15 minutes', attempts = attempts + 1 "
                   "FROM picked WHERE jobs.id = picked.id RETURNING jobs.id",
                   3, "the batched lease"))
      return false;
    PQsetnonblocking(c.conn, 1);
  }
  Tally t;
  t.start = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.warmup));
  t.end = t.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  for (auto& c : cs) PgSend(c);
  int running = clients;
  std::vector<pollfd> fds(cs.size());
  while (running > 0) {
    for (size_t i = 0; i < cs.size(); ++i) fds[i] = {cs[i].conn ? PQsocket(cs[i].conn) : -1, POLLIN, 0};
    poll(fds.data(), fds.size(), 100);
    for (size_t i = 0; i < cs.size(); ++i) {
      PgClient& c = cs[i];
      if (!c.conn || !(fds[i].revents & (POLLIN | POLLERR | POLLHUP))) continue;
      PQconsumeInput(c.conn);
      bool finished = false;
      while (!PQisBusy(c.conn)) {
        PGresult* r = PQgetResult(c.conn);
        if (!r) {
          finished = true;
          break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR) {
          c.failed = true;
          if (t.errors < 5) std::fprintf(stderr, "lease_cycle: PostgreSQL: %s", PQresultErrorMessage(r));
        } else if (c.leasing && st == PGRES_TUPLES_OK) {
          c.jobs.clear();
          for (int row = 0; row < PQntuples(r); ++row) c.jobs.push_back(std::atoll(PQgetvalue(r, row, 0)));
        } else if (!c.leasing && st == PGRES_COMMAND_OK && std::strncmp(PQcmdStatus(r), "INSERT", 6) == 0) {
          c.inserted = std::atoll(PQcmdTuples(r));
        }
        PQclear(r);
      }
      if (!finished) continue;
      auto done = Clock::now();
      if (c.failed) {
        if (t.InWindow(done)) ++t.errors;
        c.failed = false;
        c.leasing = true;
      } else if (c.leasing) {
        if (t.InWindow(c.started)) t.lease_ms.push_back(Ms(done - c.started));
        if (c.jobs.empty()) {
          if (t.InWindow(done)) ++t.empty;
        } else {
          c.leasing = false;
        }
      } else {
        if (t.InWindow(c.started)) t.result_ms.push_back(Ms(done - c.started));
        if (t.InWindow(done)) {
          ++t.cycles;
          t.tasks += c.inserted;
          t.errors += static_cast<int64_t>(c.jobs.size()) - c.inserted;
        }
        c.inserted = 0;
        c.leasing = true;
      }
      if (done >= t.end) {
        PQfinish(c.conn);
        c.conn = nullptr;
        --running;
        continue;
      }
      PgSend(c);
    }
  }
  if (batch <= 1) {
    PrintTally(who, t, args.seconds);
    *cycles_per_second = static_cast<double>(t.cycles) / args.seconds;
  } else {
    PrintBatchedTally(who, t, args.seconds, batch);
    *cycles_per_second = static_cast<double>(t.tasks) / args.seconds;
  }
  return true;
}

bool RunPostgres(const Args& args, double corral_cps, double corral_batched_tps) {
  std::string bin = FindPgBin(args.pg_bin);
  if (bin.empty()) {
    std::printf("postgres: skipped (no PostgreSQL server found under /usr/lib/postgresql: "
                "apt install postgresql, or give --pg-bin DIR)\n");
    return true;
  }
  const passwd* user = nullptr;
  if (geteuid() == 0) {
    user = getpwnam("postgres");
    if (!user) {
      std::printf("postgres: skipped (running as root and there is no 'postgres' user to run "
                  "the server as)\n");
      return true;
    }
  }
  fs::path dir = fs::temp_directory_path() / ("corral-bench-pg-" + RandomHex(6));
  fs::create_directories(dir);
  if (user) chown(dir.c_str(), user->pw_uid, user->pw_gid);
  fs::path log = dir / "server.log";
  int port = corral::FreeLoopbackPort();
  std::string data = (dir / "data").string();
  int rc = Spawn({bin + "/initdb", "-D", data, "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-sync"},
                 user, dir / "initdb.log", false);
  if (rc != 0) {
    std::fprintf(stderr, "lease_cycle: initdb failed (exit %d); see %s\n", rc, (dir / "initdb.log").c_str());
    return false;
  }
  std::string max_conn = std::to_string(args.volunteers + 20);
  int pid = Spawn({bin + "/postgres", "-D", data, "-p", std::to_string(port), "-k", dir.string(),
                   "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=" + max_conn,
                   "-c", "shared_buffers=512MB", "-c", "wal_level=minimal", "-c", "max_wal_senders=0",
                   "-c", "max_wal_size=8GB", "-c", "checkpoint_timeout=30min", "-c", "fsync=on",
                   "-c", "synchronous_commit=on"},
                  user, log, true);
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=bench dbname=postgres";
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    up = PQping(conninfo.c_str()) == PQPING_OK;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  bool ok = up;
  if (!up) std::fprintf(stderr, "lease_cycle: PostgreSQL did not start; see %s\n", log.c_str());
  if (ok) {
    PGconn* admin = PQconnectdb(conninfo.c_str());
    std::string err, platforms = "ARRAY[";
    for (size_t i = 0; i < kPlatforms.size(); ++i) platforms += (i ? ",'" : "'") + kPlatforms[i] + "'";
    platforms += "]";
    ok = Exec(admin,
              "CREATE TABLE jobs (id bigserial PRIMARY KEY, platform text NOT NULL, "
              "priority bigint NOT NULL, state text NOT NULL DEFAULT 'queued', leased_by int, "
              "lease_deadline timestamptz, attempts int NOT NULL DEFAULT 0)", &err) &&
         Exec(admin, "CREATE INDEX jobs_queue ON jobs (platform, priority, id) WHERE state = 'queued'", &err) &&
         Exec(admin,
              "CREATE TABLE results (job_id bigint NOT NULL, volunteer int NOT NULL, "
              "received_at timestamptz NOT NULL DEFAULT now(), envelope text NOT NULL, "
              "PRIMARY KEY (job_id, volunteer))", &err) &&
         Exec(admin, "INSERT INTO jobs (platform, priority) SELECT (" + platforms +
                         ")[1 + g % 4], g FROM generate_series(1, " + std::to_string(args.tasks) + ") g",
              &err) &&
         Exec(admin, "VACUUM ANALYZE jobs", &err) && Exec(admin, "CHECKPOINT", &err);
    if (!ok) std::fprintf(stderr, "lease_cycle: setting up PostgreSQL: %s\n", err.c_str());
    PQfinish(admin);
  }
  // Every run starts from the same queue: all jobs queued, no results.
  auto reset = [&]() {
    PGconn* admin = PQconnectdb(conninfo.c_str());
    std::string err;
    bool done = Exec(admin, "TRUNCATE results", &err) &&
                Exec(admin, "UPDATE jobs SET state = 'queued', leased_by = NULL, lease_deadline = NULL, "
                            "attempts = 0", &err) &&
                Exec(admin, "VACUUM ANALYZE jobs", &err) && Exec(admin, "CHECKPOINT", &err);
    if (!done) std::fprintf(stderr, "lease_cycle: resetting PostgreSQL: %s\n", err.c_str());
    PQfinish(admin);
    return done;
  };
  const int pool = 16;
  double same = 0, pooled = 0;
  if (ok) {
    std::printf("postgres_server: %s\n", bin.c_str());
    std::printf("postgres_connections: %d\n", args.volunteers);
    std::fflush(stdout);
    ok = RunPgWorkload(conninfo, args.volunteers, 1, args, "postgres", &same);
  }
  if (ok && pool < args.volunteers) {
    std::printf("postgres_pool_connections: %d\n", pool);
    std::fflush(stdout);
    ok = reset() && RunPgWorkload(conninfo, pool, 1, args, "postgres_pool", &pooled);
  }
  if (ok) {
    double best = std::max(same, pooled);
    if (best > 0) std::printf("corral_vs_postgres: %.1f x\n", corral_cps / best);
  }
  // The batched workload, as Corral's: k jobs per lease (SKIP LOCKED LIMIT
  // k), completed in one transaction.
  double batched_same = 0, batched_pooled = 0;
  if (ok && args.batch > 1) {
    ok = reset() && RunPgWorkload(conninfo, args.volunteers, args.batch, args, "postgres_batched",
                                  &batched_same);
    if (ok && pool < args.volunteers)
      ok = reset() && RunPgWorkload(conninfo, pool, args.batch, args, "postgres_pool_batched",
                                    &batched_pooled);
    double best = std::max(batched_same, batched_pooled);
    if (ok && best > 0)
      std::printf("corral_batched_vs_postgres_batched: %.1f x (k=%d)\n", corral_batched_tps / best,
                  args.batch);
  }
  if (pid > 0) {
    kill(pid, SIGINT);  // fast shutdown
    int status;
    waitpid(pid, &status, 0);
  }
  fs::remove_all(dir);
  return ok;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lease_cycle: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--volunteers") args.volunteers = std::stoi(next());
    else if (a == "--seconds") args.seconds = std::stod(next());
    else if (a == "--warmup") args.warmup = std::stod(next());
    else if (a == "--tasks") args.tasks = std::stoi(next());
    else if (a == "--http-threads") args.http_threads = std::stoi(next());
    else if (a == "--rate") args.rate = std::stod(next());
    else if (a == "--batch") args.batch = std::stoi(next());
    else if (a == "--no-postgres") args.postgres = false;
    else if (a == "--leases-queued") args.inline_leases = false;
    else if (a == "--result-cpu-slots") args.result_cpu_slots = std::stoi(next());
    else if (a == "--pg-bin") args.pg_bin = next();
    else {
      std::fprintf(stderr,
                   "usage: lease_cycle [--volunteers N] [--seconds S] [--warmup W] [--tasks T] "
                   "[--http-threads H] [--leases-queued] [--result-cpu-slots N] [--rate R] [--batch K] [--no-postgres] "
                   "[--pg-bin DIR]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::printf("cores: %u\n", std::thread::hardware_concurrency());
  SignatureCosts signatures = ReportSignatureFloor();
  std::fflush(stdout);
  double corral = 0, corral_batched = 0;
  if (!RunCorral(args, signatures, &corral, &corral_batched)) return 1;
  if (args.postgres) {
#ifdef CORRAL_HAVE_LIBPQ
    if (!RunPostgres(args, corral, corral_batched)) return 1;
#else
    std::printf("postgres: skipped (built without libpq: apt install libpq-dev postgresql, then "
                "reconfigure the build)\n");
#endif
  }
  return 0;
}
