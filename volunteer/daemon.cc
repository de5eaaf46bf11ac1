#include "volunteer/daemon.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/isolation.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "volunteer/config.h"
#include "volunteer/coordinator_client.h"
#include "volunteer/download_cache.h"
#include "volunteer/host_environment.h"
#include "volunteer/idle_hint.h"
#include "volunteer/pause_file.h"
#include "volunteer/platform_choice.h"
#include "volunteer/politeness.h"
#include "volunteer/result_journal.h"
#include "volunteer/running_tasks.h"
#include "volunteer/sd_notify.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

namespace {

constexpr char kClientVersion[] = "corral-volunteer/0.1";
constexpr size_t kMaxInputBytes = 512u << 20;
// How often the daemon asks the coordinator for its credit, for status.
constexpr auto kCreditRefresh = std::chrono::seconds(60);

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf[0] ? buf : "volunteer";
}

// Lease ids name files (journal, work folders, markers): accept only what
// the coordinator issues, hex.
bool IsSafeLeaseId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The folder among those every sandbox binds read-only (bwrap_runner.cc)
// that holds `path`, or "" when the sandbox cannot see it.
std::string SandboxSees(const fs::path& path, const std::map<std::string, Platform>& platforms) {
  std::vector<std::string> seen = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
  for (const auto& [tag, p] : platforms) {
    sandbox::InterpreterLayout layout;
    std::string err;
    if (!sandbox::InterpreterLayoutOf(p.interpreter_path, &layout, &err)) continue;
    for (const std::string& prefix : {layout.base_prefix, layout.base_exec_prefix})
      if (!prefix.empty()) seen.push_back(prefix);
  }
  std::error_code ec;
  fs::path real = fs::weakly_canonical(fs::absolute(path), ec);
  for (const auto& s : seen) {
    fs::path dir = fs::weakly_canonical(s, ec);
    auto mismatch = std::mismatch(dir.begin(), dir.end(), real.begin(), real.end());
    if (mismatch.first == dir.end()) return s;
  }
  return "";
}

// CORRAL_TEST_CRASH, read by the daemon for the crash tests only
// (tests/volunteer/daemon_crash_test.cc): "after-journal" kills the process
// with SIGKILL right after a result's journal entry is written, before any
// submission; "after-submit" right after the coordinator acknowledged a
// result, before its journal entry is removed. Never set it otherwise.
std::string TestCrashPoint() {
  const char* v = std::getenv("CORRAL_TEST_CRASH");
  return v ? v : "";
}

void CrashIfAsked(const std::string& configured, const char* point) {
  if (configured != point) return;
  spdlog::warn("CORRAL_TEST_CRASH={}: killing this process with SIGKILL now (test hook)", point);
  spdlog::default_logger()->flush();
  raise(SIGKILL);
}

// State shared between the main loop and the task threads.
class Daemon {
 public:
  Daemon(const DaemonOptions& options, const DaemonControl& control)
      : options_(options), stop_(control.stop), reload_(control.reload),
        tasks_(options.data_dir / "leases"), crash_point_(TestCrashPoint()) {}

  int Run();

 private:
  bool Prepare();
  EnrolRequest MakeEnrolRequest();
  bool EnrolWithBackoff();
  void ReturnLeftoverLeases();
  void ReturnAbandonedLeases();
  void RunTask(TaskSpec task, Platform platform);
  void TrimDownloadCache();
  void Reload();
  // Why no new work may be leased now (paused, load, owner active), or "" when it may.
  std::string HoldReason();
  // idle_only: suspends the running tasks while the machine is in use
  // (logind says so, or other programs load it), resumes them after.
  void UpdateSuspension();
  bool FlushJournal();
  void Heartbeat();
  void RefreshCredit();
  void WriteStatus();
  void SleepFor(double seconds);
  double Backoff();
  // Every call's outcome goes through here: reachability for the log and
  // status (said once per change, not per attempt).
  void NoteCall(const CallStatus& s);

  // Reloadable fields (slots, cache_size_mb, politeness) change under mu_.
  DaemonOptions options_;
  std::atomic<bool>* stop_;
  std::atomic<bool>* reload_;
  std::vector<Platform> found_;                // every interpreter discovered
  WatchdogPinger watchdog_;
  std::string held_;                           // the last HoldReason, to log changes once
  std::mutex cache_mu_;
  std::unique_ptr<SigningKey> machine_key_;
  std::unique_ptr<SigningKey> account_key_;
  std::unique_ptr<CoordinatorClient> client_;
  std::unique_ptr<ResultJournal> journal_;
  std::map<std::string, Platform> platforms_;  // tag -> interpreter (main thread only)
  LogindIdleHint idle_hint_;
  std::string idle_source_;                    // how idle_only decides, for log and status
  std::atomic<bool> suspend_running_{false};   // read by every running sandbox (RunLimits::pause)

  std::mutex mu_;                              // guards everything below
  std::condition_variable wake_;
  RunningTasks tasks_;
  std::deque<nlohmann::json> recent_;          // last results, for status
  int tasks_done_ = 0;
  std::string isolation_;
  std::string measured_isolation_;  // measured once by Prepare; advertised with every lease request
  bool reachable_ = false;
  int64_t unreachable_since_ = 0;
  std::string last_error_;
  int failures_in_row_ = 0;
  nlohmann::json credit_;                      // the coordinator's figures, for status
  std::chrono::steady_clock::time_point credit_asked_{};

  std::mutex flush_mu_;
  bool batch_results_ = true;  // false once the coordinator answered 404 to the batch route
  std::mt19937 rng_{std::random_device{}()};
  const std::string crash_point_;
};

double Daemon::Backoff() {
  // Exponential backoff with full jitter, capped at a minute.
  int failures;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failures = failures_in_row_;
  }
  double cap = std::min(60.0, 1.0 * (1 << std::min(failures, 6)));
  std::uniform_real_distribution<double> d(0.5, std::max(0.5, cap));
  return d(rng_);
}

void Daemon::NoteCall(const CallStatus& s) {
  std::lock_guard<std::mutex> lock(mu_);
  // Backoff grows with transport errors and 5xx answers alike.
  failures_in_row_ = s.ok ? 0 : s.retryable ? failures_in_row_ + 1 : failures_in_row_;
  if (!s.ok) last_error_ = s.message;
  if (s.ok || s.http_status != 0) {
    // An answer, even a refusal, means the coordinator is there.
    if (!reachable_ && unreachable_since_ > 0)
      spdlog::info("coordinator {} reachable again after {} s", options_.coordinator_url,
                   NowSeconds() - unreachable_since_);
    reachable_ = true;
    unreachable_since_ = 0;
    return;
  }
  if (reachable_ || unreachable_since_ == 0) {
    spdlog::warn("coordinator {} unreachable ({}); the daemon keeps running, retries with backoff and "
                 "keeps results in its journal",
                 options_.coordinator_url, s.message);
    unreachable_since_ = NowSeconds();
  }
  reachable_ = false;
}

void Daemon::SleepFor(double seconds) {
  // Signal handlers only set *stop_, so look at it often.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_->load() && std::chrono::steady_clock::now() < until) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    watchdog_.MaybePing();
  }
}

bool Daemon::Prepare() {
  InitCrypto();
  std::string err;
  // The environment, so that any failure can be reproduced elsewhere.
  spdlog::info("environment: {}", HostEnvironmentLine(DescribeHost()));
  std::vector<std::string> notes;
  found_ = sandbox::DiscoverInterpreters(&notes);
  for (const auto& n : notes) spdlog::info("interpreter discovery: {}", n);
  for (const auto& p : found_)
    spdlog::info("interpreter found: {} {} at {} ({}; {}; headers {})", p.implementation, p.python_version,
                 p.interpreter_path, p.interpreter_build, p.libc, p.has_headers ? "yes" : "no");
  platforms_ = ChoosePlatforms(found_, options_.interpreters, options_.skip_interpreters);
  if (platforms_.empty()) {
    spdlog::error("no usable Python interpreter found{}; install one (pyenv, python3.X, pypy3) "
                  "or fix the use/skip lists (--interpreter, configuration)",
                  options_.interpreters.empty() && options_.skip_interpreters.empty()
                      ? ""
                      : " among the configured ones");
    return false;
  }
  for (const auto& [tag, p] : platforms_)
    spdlog::info("offering {}: {} {} at {} ({}; {}; headers {})", tag, p.implementation,
                 p.python_version, p.interpreter_path, p.interpreter_build, p.libc,
                 p.has_headers ? "yes" : "no");

  // The machine key must stay out of every sandbox's sight.
  fs::path key_file = options_.data_dir / "keys" / "machine.key";
  std::string visible = SandboxSees(key_file, platforms_);
  if (!visible.empty()) {
    spdlog::error("the machine key {} would be visible inside the sandbox, which binds {} read-only; "
                  "choose a --data folder outside it (e.g. /var/lib/corral-volunteer)",
                  key_file.string(), visible);
    return false;
  }
  if (!EnsureDir(options_.data_dir, &err)) {
    spdlog::error("{}", err);
    return false;
  }
  bool created = false;
  machine_key_ = SigningKey::LoadOrCreate(key_file, &created, &err);
  if (!machine_key_) {
    spdlog::error("machine key: {}", err);
    return false;
  }
  spdlog::info("machine key {} {} ({})", machine_key_->public_hex().substr(0, 16),
               created ? "created" : "loaded", key_file.string());
  if (options_.account_key.empty()) {
    spdlog::error("no account key given: create one with `corral account create NAME` and pass "
                  "--account FILE");
    return false;
  }
  account_key_ = SigningKey::Load(options_.account_key, &err);
  if (!account_key_) {
    spdlog::error("account key: {}", err);
    return false;
  }

  // The isolation this machine reaches, measured in the very sandbox jobs
  // get; advertised at enrolment and with every lease request.
  if (!sandbox::MeasureIsolation(platforms_.begin()->second, options_.data_dir / "cache" / "sandbox",
                                 &measured_isolation_, &err)) {
    spdlog::error("the sandbox cannot run on this machine, so it can take no work: {}", err);
    return false;
  }
  isolation_ = measured_isolation_;
  spdlog::info("isolation level: {}", measured_isolation_);

  journal_ = std::make_unique<ResultJournal>(options_.data_dir / "journal");
  if (!journal_->Open(&err)) {
    spdlog::error("result journal: {}", err);
    return false;
  }
  // What a killed daemon left: work folders of tasks that never finished and
  // partial downloads. (Its leases are returned once enrolled.)
  std::error_code ec;
  fs::remove_all(options_.data_dir / "work", ec);
  for (const auto& de : fs::directory_iterator(options_.data_dir / "cache" / "files", ec))
    if (de.path().filename().string().find(".part-") != std::string::npos) fs::remove(de.path(), ec);

  HttpClientOptions http;
  http.local_address = options_.source_address;
  client_ = std::make_unique<CoordinatorClient>(options_.coordinator_url, *machine_key_, http);
  TrimDownloadCache();
  return true;
}

EnrolRequest Daemon::MakeEnrolRequest() {
  EnrolRequest req;
  req.account_key = account_key_->public_hex();
  req.account_name = AccountNameOf(options_.account_key);
  req.machine_key = machine_key_->public_hex();
  req.machine_name = options_.machine_name.empty() ? Hostname() : options_.machine_name;
  req.account_signature =
      Base64Encode(account_key_->Sign(EnrolmentMessage(req.machine_key, req.account_name, req.machine_name)));
  for (const auto& [tag, p] : platforms_) req.platforms.push_back(tag);
  req.isolation = measured_isolation_;
  return req;
}

bool Daemon::EnrolWithBackoff() {
  EnrolRequest req = MakeEnrolRequest();
  while (!stop_->load()) {
    watchdog_.MaybePing();
    CallStatus s = client_->Enrol(req);
    NoteCall(s);
    if (s.ok) {
      spdlog::info("enrolled as {} ({}) under account {}", req.machine_name,
                   req.machine_key.substr(0, 16), req.account_name);
      return true;
    }
    if (!s.retryable) {
      spdlog::error("enrolment refused: {}", s.message);
      return false;
    }
    double wait = Backoff();
    spdlog::warn("{}; retrying in {:.1f} s", s.message, wait);
    WriteStatus();
    SleepFor(wait);
  }
  return false;
}

void Daemon::ReturnLeftoverLeases() {
  std::vector<std::string> left = RunningTasks::Leftovers(options_.data_dir / "leases");
  if (left.empty()) return;
  std::vector<std::string> problems;
  std::set<std::string> journalled;
  for (const auto& e : journal_->Pending(&problems)) journalled.insert(e.lease_id);
  for (const auto& p : problems) spdlog::error("{}", p);
  LeaseReturnRequest req;
  std::vector<std::string> done;
  for (const auto& id : left) (journalled.count(id) ? done : req.lease_ids).push_back(id);
  if (!req.lease_ids.empty()) {
    LeaseReturnResponse resp;
    CallStatus s = client_->ReturnLeases(req, &resp);
    NoteCall(s);
    if (!s.ok) {
      spdlog::warn("could not return {} lease(s) a previous run left unfinished ({}); they expire at their "
                   "deadline instead",
                   req.lease_ids.size(), s.message);
      if (s.retryable) req.lease_ids.clear();  // keep their markers: the next start tries again
    } else {
      spdlog::info("returned {} lease(s) a previous run of this daemon left unfinished (killed or crashed): "
                   "their tasks go out again now{}",
                   resp.returned.size(),
                   resp.unknown.empty() ? "" : fmt::format("; {} had ended already", resp.unknown.size()));
    }
  }
  done.insert(done.end(), req.lease_ids.begin(), req.lease_ids.end());
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.ForgetMarkers(done);
}

void Daemon::ReturnAbandonedLeases() {
  LeaseReturnRequest req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    req.lease_ids = tasks_.AbandonUnjournalled();
  }
  if (req.lease_ids.empty()) return;
  spdlog::info("stopping: abandoning {} unfinished task(s) and returning their leases", req.lease_ids.size());
  // Bounded: a stopping daemon must not hang on an unreachable coordinator.
  HttpClientOptions quick;
  quick.connect_timeout_ms = 2000;
  quick.timeout_ms = 5000;
  quick.local_address = options_.source_address;
  CoordinatorClient client(options_.coordinator_url, *machine_key_, quick);
  LeaseReturnResponse resp;
  CallStatus s = client.ReturnLeases(req, &resp);
  if (!s.ok) {
    spdlog::warn("could not return the leases ({}); the next start returns them, or they expire at their "
                 "deadline",
                 s.message);
    return;
  }
  spdlog::info("returned {} lease(s); the coordinator re-issues their tasks now", resp.returned.size());
  std::vector<std::string> forget = resp.returned;
  forget.insert(forget.end(), resp.unknown.begin(), resp.unknown.end());
  std::lock_guard<std::mutex> lock(mu_);
  tasks_.ForgetMarkers(forget);
}

bool Daemon::FlushJournal() {
  std::lock_guard<std::mutex> guard(flush_mu_);
  std::vector<std::string> problems;
  auto entries = journal_->Pending(&problems);
  for (const auto& p : problems) spdlog::error("{}", p);
  // One result: POST /api/v1/results. False when it must wait for later.
  auto submit_one = [&](const ResultJournal::Entry& e) {
    bool duplicate = false;
    CallStatus s = client_->SubmitResult(e.envelope, &duplicate);
    NoteCall(s);
    if (s.ok) {
      CrashIfAsked(crash_point_, "after-submit");
      journal_->Remove(e);
      spdlog::info("result for lease {} acknowledged by the coordinator{}", e.lease_id.substr(0, 12),
                   duplicate ? " (it had it already: a resubmission after a restart)" : "");
    } else if (s.retryable) {
      spdlog::warn("result for lease {} postponed: {}", e.lease_id.substr(0, 12), s.message);
      return false;
    } else {
      spdlog::error("result for lease {} refused for good, set aside: {}", e.lease_id.substr(0, 12),
                    s.message);
      journal_->SetAside(e, s.message);
    }
    return true;
  };
  // Several results waiting (after time offline): one request per
  // kMaxResultBatch of them, each acknowledged or refused on its own. A
  // coordinator without the batch route gets them one by one.
  std::vector<const ResultJournal::Entry*> ready;
  auto submit_ready = [&]() {
    std::vector<const ResultJournal::Entry*> batch;
    batch.swap(ready);
    if (batch.empty()) return true;
    ResultBatchResponse resp;
    CallStatus s{};
    if (batch.size() >= 2 && batch_results_) {
      std::vector<nlohmann::json> envelopes;
      for (const auto* e : batch) envelopes.push_back(e->envelope);
      s = client_->SubmitResults(envelopes, &resp);
      NoteCall(s);
      if (!s.ok && s.retryable) {
        spdlog::warn("{} results postponed: {}", batch.size(), s.message);
        return false;
      }
      if (!s.ok && (s.http_status == 404 || s.http_status == 405)) batch_results_ = false;
    }
    if (!s.ok) {
      for (const auto* e : batch)
        if (!submit_one(*e)) return false;
      return true;
    }
    bool all_done = true;
    for (size_t i = 0; i < batch.size(); ++i) {
      const ResultJournal::Entry& e = *batch[i];
      const ResultBatchItem& item = resp.results[i];
      if (item.status != "refused") {
        CrashIfAsked(crash_point_, "after-submit");
        journal_->Remove(e);
        spdlog::info("result for lease {} acknowledged by the coordinator{}",
                     e.lease_id.substr(0, 12),
                     item.status == "duplicate" ? " (it had it already: a resubmission after a restart)"
                                                : "");
      } else if (item.error == "internal") {
        spdlog::warn("result for lease {} postponed: the coordinator could not store it: {}",
                     e.lease_id.substr(0, 12), item.detail);
        all_done = false;
      } else {
        std::string why = "refused (" + item.error + "): " + item.detail;
        spdlog::error("result for lease {} refused for good, set aside: {}", e.lease_id.substr(0, 12),
                      why);
        journal_->SetAside(e, why);
      }
    }
    return all_done;
  };
  const bool batching = entries.size() >= 2;
  for (const auto& e : entries) {
    for (const auto& a : e.artifacts) {
      std::string bytes, err;
      if (!ReadFile(a.path, &bytes, &err)) {
        spdlog::error("journal artifact: {}", err);
        continue;
      }
      CallStatus s = client_->PutArtifact(a.sha256, e.lease_id, bytes);
      NoteCall(s);
      if (!s.ok) {
        if (s.retryable) {
          spdlog::warn("upload of {} postponed: {}", a.sha256.substr(0, 12), s.message);
          submit_ready();  // what is uploaded already goes now
          return false;
        }
        spdlog::error("upload of {} refused: {}", a.sha256.substr(0, 12), s.message);
      }
    }
    if (!batching) {
      if (!submit_one(e)) return false;
      continue;
    }
    ready.push_back(&e);
    if (ready.size() == kMaxResultBatch && !submit_ready()) return false;
  }
  return submit_ready();
}

void Daemon::TrimDownloadCache() {
  std::set<std::string> in_use;
  uint64_t cap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& sha : tasks_.InputDigests()) in_use.insert(sha);
    cap = static_cast<uint64_t>(options_.cache_size_mb) << 20;
  }
  std::lock_guard<std::mutex> guard(cache_mu_);
  CacheTrim trim;
  std::string err;
  if (!TrimCache(options_.data_dir / "cache" / "files", cap, in_use, &trim, &err)) {
    spdlog::warn("{}", err);
  } else if (trim.files_removed > 0) {
    spdlog::info("download cache: removed {} least recently used file(s), {:.1f} MB; {:.1f} MB left "
                 "(cache_size_mb = {})",
                 trim.files_removed, trim.bytes_removed / 1048576.0, trim.bytes_left / 1048576.0, cap >> 20);
  }
}

void Daemon::RunTask(TaskSpec task, Platform platform) {
  auto started = std::chrono::steady_clock::now();
  std::string err;
  fs::path cache = options_.data_dir / "cache";
  fs::path input = cache / "files" / task.sha256;
  fs::path work = options_.data_dir / "work" / task.lease_id;
  std::error_code ec;
  fs::remove_all(work, ec);
  EnsureDir(cache / "files", &err);
  EnsureDir(work, &err);

  ResultPayload r;
  r.task_id = task.task_id;
  r.lease_id = task.lease_id;
  r.volunteer_id = machine_key_->public_hex();
  r.input_sha256 = task.sha256;
  r.platform = platform;
  r.client_version = kClientVersion;
  std::vector<Artifact> artifacts;
  std::string log;

  // (1) fetch the input, addressed by its sha256, and check it.
  std::string have;
  bool cached = fs::exists(input, ec) && Sha256File(input, &have, &err) && have == task.sha256;
  if (cached) TouchCached(input);
  bool fetched = cached;
  if (!cached) {
    fs::path tmp = input;
    tmp += ".part-" + RandomHex(4);
    std::string got;
    HttpClientOptions from;
    from.local_address = options_.source_address;
    HttpResult d = HttpClient(from).Download(task.url, tmp, kMaxInputBytes, &got);
    if (!d.ok()) {
      r.outcome = Outcome::kInfraError;
      r.summary = "could not download " + task.url + ": " + d.Describe();
    } else if (got != task.sha256) {
      r.outcome = Outcome::kInfraError;
      r.summary = "the downloaded " + task.filename + " has sha256 " + got + " but the index says " +
                  task.sha256 + "; not building it";
    } else {
      fs::rename(tmp, input, ec);
      fetched = !ec;
      if (ec) r.summary = "cannot store " + input.string() + ": " + ec.message();
    }
    fs::remove(tmp, ec);
    if (fetched) TrimDownloadCache();  // this task's input is in use, so it stays
  }

  if (fetched) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.SetPhase(task.lease_id, TaskPhase::kBuilding);
    }
    sandbox::JobSpec spec;
    spec.input = input;
    spec.filename = task.filename;
    spec.project = task.project;
    spec.version = task.version;
    spec.platform = platform;
    spec.work_dir = work;
    spec.cache_dir = cache / "sandbox";
    spec.wheelhouse = cache / "wheelhouse";
    EnsureDir(spec.cache_dir, &err);
    EnsureDir(spec.wheelhouse, &err);
    spec.pause = &suspend_running_;
    // The prepare phase: the task's index, through a proxy of this job's
    // own; files land checked in the download cache (content-addressed,
    // trimmed with it), so the next job that needs them fetches nothing.
    spec.prepare.index_url = task.index_url;
    spec.prepare.extra_hosts = options_.extra_index_hosts;
    spec.prepare.source_address = options_.source_address;
    if (std::string host = UrlHostOf(task.url); !host.empty() && host != UrlHostOf(task.index_url))
      spec.prepare.extra_hosts.push_back(host);
    spec.prepare.file_cache = cache / "files";
    if (task.index_url.empty())
      spdlog::warn("{} {}: the coordinator named no index for this task; building offline from the local "
                   "wheelhouse only",
                   task.project, task.version);
    sandbox::JobResult job = sandbox::RunJob(spec);
    r.outcome = job.outcome;
    r.summary = job.summary;
    r.build_seconds = job.build_seconds;
    r.test_seconds = job.test_seconds;
    r.total_seconds = job.total_seconds;
    r.tests_passed = job.tests_passed;
    r.tests_failed = job.tests_failed;
    r.tests_errors = job.tests_errors;
    r.tests_skipped = job.tests_skipped;
    r.failing_tests = job.failing_tests;
    r.test_run = job.test_run;
    r.commands = job.commands;
    r.environment = job.environment;
    r.isolation = job.isolation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      isolation_ = job.isolation;
    }
    log = job.log;
    TrimDownloadCache();  // the prepare phase may have added files
    if (!job.wheel.empty() && fs::exists(job.wheel, ec)) {
      r.wheel_filename = job.wheel.filename().string();
      r.wheel_sha256 = job.wheel_sha256;
      r.wheel_content_digest = job.wheel_content_digest;
      artifacts.push_back({job.wheel_sha256, job.wheel});
    }
  }
  if (log.empty()) log = "corral: " + r.summary + "\n";
  fs::path log_file = work / "corral-task.log";
  if (WriteFileAtomic(log_file, log, &err)) {
    r.log_sha256 = Sha256Hex(log);
    artifacts.push_back({r.log_sha256, log_file});
  }
  r.finished_at = NowSeconds();
  if (r.total_seconds == 0)
    r.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // (4) sign and journal, unless the daemon is stopping (its lease is being
  // returned) or the coordinator cancelled the lease.
  bool keep;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keep = tasks_.BeginJournal(task.lease_id);
  }
  if (!keep) {
    spdlog::info("{} {} on {}: {} result dropped: the lease was returned or cancelled", task.project,
                 task.version, task.platform, OutcomeName(r.outcome));
    fs::remove_all(work, ec);
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.Finish(task.lease_id);
    }
    wake_.notify_all();
    return;
  }
  nlohmann::json payload = r;
  nlohmann::json envelope = DsseSign(kResultPayloadType, payload.dump(), *machine_key_);
  bool journalled = journal_->Add(task.lease_id, envelope, artifacts, &err);
  if (journalled) CrashIfAsked(crash_point_, "after-journal");
  if (!journalled) spdlog::error("cannot journal the result of {}: {}", task.task_id.substr(0, 12), err);
  fs::remove_all(work, ec);

  spdlog::info("{} {} {} on {}: {} ({:.1f} s){}", task.project, task.version, task.filename, task.platform,
               OutcomeName(r.outcome), r.total_seconds, r.summary.empty() ? "" : " - " + r.summary);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (journalled) tasks_.Journalled(task.lease_id);
    tasks_.SetPhase(task.lease_id, TaskPhase::kSubmitting);
    recent_.push_front({{"task_id", task.task_id}, {"project", task.project}, {"version", task.version},
                        {"platform", task.platform}, {"outcome", OutcomeName(r.outcome)},
                        {"seconds", r.total_seconds}, {"finished_at", r.finished_at}});
    if (recent_.size() > 20) recent_.pop_back();
  }
  bool reachable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reachable = reachable_;
  }
  // While the coordinator is away the main loop delivers it once back.
  if (reachable) FlushJournal();
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.Finish(task.lease_id);
    ++tasks_done_;
  }
  wake_.notify_all();
}

void Daemon::Heartbeat() {
  HeartbeatRequest req;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    req.lease_ids = tasks_.LeasesToRenew(now);
  }
  if (req.lease_ids.empty()) return;
  HeartbeatResponse resp;
  CallStatus s = client_->Heartbeat(req, &resp);
  NoteCall(s);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok) {
    spdlog::warn("heartbeat for {} lease(s): {}", req.lease_ids.size(), s.message);
    tasks_.RenewalFailed(std::chrono::steady_clock::now(), std::chrono::seconds(5));
    return;
  }
  int64_t now_unix = NowSeconds();
  for (const auto& [lease, deadline] : resp.extended)
    tasks_.Extended(lease, deadline, std::chrono::steady_clock::now(), now_unix);
  for (const auto& lease : resp.cancelled)
    if (tasks_.Cancel(lease))
      spdlog::info("lease {} was cancelled by the coordinator (its task was decided, or the lease expired); "
                   "the task runs on but its result will not be submitted",
                   lease.substr(0, 12));
  spdlog::debug("heartbeat: {} lease(s) extended, {} cancelled", resp.extended.size(), resp.cancelled.size());
}

void Daemon::RefreshCredit() {
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reachable_ || (credit_asked_ != std::chrono::steady_clock::time_point{} && now - credit_asked_ < kCreditRefresh))
      return;
    credit_asked_ = now;
  }
  nlohmann::json v;
  CallStatus s = client_->GetJson("/api/v1/volunteers/" + machine_key_->public_hex(), &v);
  if (!s.ok || !v.is_object()) return;  // not fatal: status says "not known yet"
  std::lock_guard<std::mutex> lock(mu_);
  credit_ = {{"credit", v.value("credit", 0.0)},
             {"verified_results", v.value("verified_results", 0)},
             {"as_of", NowSeconds()}};
}

void Daemon::WriteStatus() {
  nlohmann::json status;
  nlohmann::json offering = nlohmann::json::array();
  for (const auto& [tag, p] : platforms_)
    offering.push_back({{"tag", tag}, {"path", p.interpreter_path}, {"build", p.interpreter_build}});
  {
    std::lock_guard<std::mutex> lock(mu_);
    status = {{"pid", getpid()},
              {"volunteer_id", machine_key_ ? machine_key_->public_hex() : ""},
              {"machine_name", options_.machine_name.empty() ? Hostname() : options_.machine_name},
              {"account", AccountNameOf(options_.account_key)},
              {"coordinator", options_.coordinator_url},
              {"reachable", reachable_},
              {"unreachable_since", unreachable_since_},
              {"last_error", last_error_},
              {"slots", options_.slots},
              {"running", tasks_.ToJson(std::chrono::steady_clock::now())},
              {"recent_results", recent_},
              {"tasks_done", tasks_done_},
              {"isolation", isolation_},
              {"held_back", held_},
              {"offering", offering},
              {"politeness", {{"nice", options_.nice}, {"ionice", options_.ionice},
                              {"max_load", options_.max_load}, {"idle_only", options_.idle_only},
                              {"idle_source", idle_source_},
                              {"suspended", suspend_running_.load()}}},
              {"updated_at", NowSeconds()}};
    if (!credit_.is_null()) status["credit"] = credit_;
  }
  status["journal_pending"] = journal_ ? journal_->size() : 0;
  std::string err;
  WriteFileAtomic(options_.data_dir / "status.json", status.dump(2), &err);
}

std::string Daemon::HoldReason() {
  std::string who;
  if (IsPaused(options_.data_dir, &who))
    return "paused " + who + "; `corral volunteer resume` resumes";
  double max_load;
  bool idle_only;
  int running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    max_load = options_.max_load;
    idle_only = options_.idle_only;
    running = static_cast<int>(tasks_.size());
  }
  if (idle_only) {
    bool idle = true;
    std::string why, source;
    bool logind = idle_hint_.Read(&idle, &why);
    source = logind ? "logind's idle hint and the load average"
                    : "the load average only (logind's idle hint is unavailable: " + why + ")";
    if (source != idle_source_) {
      spdlog::info("idle_only: deciding by {}", source);
      std::lock_guard<std::mutex> lock(mu_);
      idle_source_ = source;
    }
    if (logind && !idle) return "idle_only and someone is using the machine (logind: IdleHint=no)";
  }
  if (max_load <= 0 && !idle_only) return "";
  double load = 0;
  std::string err, why;
  if (!ReadLoadAverage(&load, &err)) {
    // Without a load figure, politeness cannot be judged: err on the side of the owner.
    return "cannot read the load average (" + err + ")";
  }
  return LeaseAllowed(load, running, max_load, idle_only, &why) ? "" : why;
}

void Daemon::UpdateSuspension() {
  bool idle_only;
  int running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_only = options_.idle_only;
    running = static_cast<int>(tasks_.size());
  }
  bool suspended = suspend_running_.load();
  bool want = false;
  std::string why;
  if (idle_only && running > 0) {
    bool idle = true;
    std::string err;
    double load = 0;
    if (idle_hint_.Read(&idle, &err)) {
      want = !idle;
      why = "someone is using the machine (logind: IdleHint=no)";
    }
    if (!want && ReadLoadAverage(&load, &err)) {
      // Suspended tasks add nothing to the load; running ones add about
      // one each. Suspend above 1.0 from others, resume below 0.5: the
      // gap keeps the tasks from flapping with the load average.
      double others = suspended ? load : load - running;
      want = suspended ? others >= 0.5 : others > 1.0;
      if (want) why = fmt::format("other programs load the machine ({:.2f})", others);
    }
  }
  if (want == suspended) return;
  if (want)
    spdlog::info("idle_only: suspending {} running task(s): {}; their timeouts wait too", running, why);
  else
    spdlog::info("idle_only: resuming the suspended task(s)");
  suspend_running_ = want;
}

void Daemon::Reload() {
  std::string err;
  SdNotify("RELOADING=1", &err);
  DaemonOptions fresh;
  if (options_.config_file.empty()) {
    spdlog::warn("SIGHUP: no configuration file was given (--config FILE); nothing to reload");
    SdNotify("READY=1", &err);
    return;
  }
  if (!ResolveOptions(options_, &fresh, &err)) {
    spdlog::error("SIGHUP: keeping the current configuration: {}", err);
    SdNotify("READY=1", &err);
    return;
  }
  if (fresh.coordinator_url != options_.coordinator_url || fresh.data_dir != options_.data_dir ||
      fresh.account_key != options_.account_key || fresh.machine_name != options_.machine_name)
    spdlog::warn("SIGHUP: coordinator, data, account and name take effect only after a restart");
  if (fresh.interpreters != options_.interpreters || fresh.skip_interpreters != options_.skip_interpreters) {
    auto chosen = ChoosePlatforms(found_, fresh.interpreters, fresh.skip_interpreters);
    if (chosen.empty()) {
      spdlog::error("SIGHUP: the new use/skip lists leave no interpreter; keeping the current ones");
    } else {
      bool changed = chosen.size() != platforms_.size();
      for (const auto& [tag, p] : chosen)
        changed = changed || !platforms_.count(tag) || platforms_[tag].interpreter_path != p.interpreter_path;
      std::map<std::string, Platform> before = platforms_;
      platforms_ = chosen;
      if (changed) {
        // The coordinator leases only for enrolled platforms: enrol again.
        CallStatus st = client_->Enrol(MakeEnrolRequest());
        NoteCall(st);
        if (!st.ok) {
          spdlog::error("SIGHUP: re-enrolling with the new interpreters failed ({}); keeping the old ones",
                        st.message);
          platforms_ = before;
        } else {
          for (const auto& [tag, p] : platforms_) spdlog::info("now offering {}: {}", tag, p.interpreter_path);
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      options_.interpreters = fresh.interpreters;
      options_.skip_interpreters = fresh.skip_interpreters;
    }
  }
  if (fresh.nice != options_.nice || fresh.ionice != options_.ionice) {
    if (!ApplyPriority(fresh.nice, fresh.ionice, &err)) spdlog::warn("SIGHUP: {}", err);
  }
  if (!fresh.log_level.empty()) spdlog::set_level(spdlog::level::from_str(fresh.log_level));
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.slots = fresh.slots;
    options_.cache_size_mb = fresh.cache_size_mb;
    options_.nice = fresh.nice;
    options_.ionice = fresh.ionice;
    options_.max_load = fresh.max_load;
    options_.idle_only = fresh.idle_only;
    options_.log_level = fresh.log_level;
  }
  TrimDownloadCache();
  spdlog::info("SIGHUP: reloaded {}: {} slot(s), nice {}, ionice {}, max_load {}, idle_only {}, cache {} MB",
               options_.config_file.string(), fresh.slots, fresh.nice, fresh.ionice, fresh.max_load,
               fresh.idle_only, fresh.cache_size_mb);
  SdNotify("READY=1", &err);
  WriteStatus();
}

int Daemon::Run() {
  std::string notify_err;
  if (!Prepare()) return 2;
  // Ready once keys and interpreters are in place: waiting for an unreachable
  // coordinator is normal operation, not a failed start.
  SdNotify("READY=1\nSTATUS=enrolling with " + options_.coordinator_url, &notify_err);
  WriteStatus();
  if (!EnrolWithBackoff()) {
    SdNotify("STOPPING=1", &notify_err);
    WriteStatus();
    return stop_->load() ? 0 : 2;
  }
  // Leftover leases first: one whose result is in the journal is not
  // returned (the result is delivered next), whatever the flush does.
  ReturnLeftoverLeases();
  FlushJournal();
  int idle_polls = 0;
  int started = 0;
  std::string last_notified;
  while (!stop_->load()) {
    watchdog_.MaybePing();
    if (reload_ && reload_->exchange(false)) Reload();
    UpdateSuspension();
    std::vector<std::string> tags;
    for (const auto& [tag, _] : platforms_) tags.push_back(tag);
    int free_slots, running_count;
    bool reachable;
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_count = static_cast<int>(tasks_.size());
      free_slots = options_.slots - running_count;
      reachable = reachable_;
    }
    if (options_.max_tasks > 0) free_slots = std::min(free_slots, options_.max_tasks - started);
    if (options_.max_tasks > 0 && started >= options_.max_tasks) {
      if (running_count == 0) break;
      free_slots = 0;
    }
    double wait = reachable ? 1.0 : Backoff();
    if (free_slots > 0) {
      std::string hold = HoldReason();
      // Log changes of kind (paused, load, idle_only) once, not every new load figure.
      auto kind = [](const std::string& r) { return r.substr(0, r.find(' ')); };
      if (kind(hold) != kind(held_)) {
        if (!hold.empty())
          spdlog::info("not leasing new work: {}", hold);
        else
          spdlog::info("leasing again");
      }
      if (hold != held_) {
        std::lock_guard<std::mutex> lock(mu_);
        held_ = hold;
      }
      if (!hold.empty()) {
        free_slots = 0;
        wait = 5.0;
      }
    }
    if (free_slots > 0) {
      LeaseResponse resp;
      CallStatus s = client_->Lease({tags, free_slots, measured_isolation_}, &resp);
      NoteCall(s);
      if (s.ok) {
        // The server says when to come back.
        wait = std::max(1, resp.next_poll_s);
        LeaseReturnRequest unfit;  // tasks needing more isolation than this machine has
        for (auto& task : resp.tasks) {
          std::string lacking;
          if (!IsolationSatisfies(measured_isolation_, task.min_isolation, &lacking)) {
            spdlog::warn("{} {} needs isolation this machine lacks ({}); giving its lease back unrun",
                         task.project, task.version, lacking);
            unfit.lease_ids.push_back(task.lease_id);
            continue;
          }
          auto p = platforms_.find(task.platform);
          if (p == platforms_.end() || !IsSafeLeaseId(task.lease_id)) {
            spdlog::warn("coordinator leased {} for {} under lease '{}', which this machine did not offer or "
                         "cannot name a file after; ignoring it",
                         task.task_id.substr(0, 12), task.platform, task.lease_id.substr(0, 40));
            continue;
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            tasks_.Start(task, std::chrono::steady_clock::now(), NowSeconds());
          }
          ++started;
          std::thread([this, task, platform = p->second] { RunTask(task, platform); }).detach();
        }
        if (!unfit.lease_ids.empty()) {
          LeaseReturnResponse returned;
          NoteCall(client_->ReturnLeases(unfit, &returned));
        }
        bool busy;
        {
          std::lock_guard<std::mutex> lock(mu_);
          busy = tasks_.size() > 0;
        }
        idle_polls = resp.tasks.empty() && !busy ? idle_polls + 1 : 0;
        if (options_.exit_when_idle && idle_polls >= options_.idle_polls_before_exit &&
            journal_->size() == 0) {
          spdlog::info("no work left on the coordinator; stopping as asked");
          break;
        }
        if (!resp.tasks.empty()) wait = 0.2;
      } else {
        wait = s.retryable ? Backoff() : 30;
        spdlog::warn("{}; next try in {:.1f} s", s.message, wait);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      reachable = reachable_;
    }
    if (journal_->size() > 0 && reachable) FlushJournal();
    Heartbeat();
    RefreshCredit();
    WriteStatus();
    std::string status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      status = fmt::format("{} of {} slot(s) busy, {} task(s) done{}{}{}", tasks_.size(), options_.slots,
                           tasks_done_, reachable_ ? "" : "; coordinator unreachable",
                           held_.empty() ? "" : "; not leasing: ", held_);
    }
    if (status != last_notified) {
      SdNotify("STATUS=" + status, &notify_err);
      last_notified = status;
    }
    // Wait for the poll delay, a finished task, a lease renewal, a signal;
    // status.json stays fresh meanwhile.
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
    auto status_written = std::chrono::steady_clock::now();
    size_t running_now;
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_now = tasks_.size();
    }
    while (!stop_->load() && !(reload_ && reload_->load())) {
      auto now = std::chrono::steady_clock::now();
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (now >= until || tasks_.size() < running_now || tasks_.NextRenewal() <= now) break;
        wake_.wait_for(lock, std::chrono::milliseconds(250));
      }
      watchdog_.MaybePing();
      if (std::chrono::steady_clock::now() - status_written >= std::chrono::seconds(1)) {
        UpdateSuspension();  // the owner gets the machine back within a second, even during backoff
        WriteStatus();
        status_written = std::chrono::steady_clock::now();
      }
    }
  }
  SdNotify("STOPPING=1", &notify_err);
  // Tasks still running are abandoned and their leases returned, so the
  // coordinator re-issues them now; the sandboxes die with this process
  // (--die-with-parent). Results already journalled stay for the next start.
  ReturnAbandonedLeases();
  WriteStatus();
  return 0;
}

}  // namespace

std::string AccountNameOf(const fs::path& account_key) { return account_key.stem().string(); }

int RunDaemon(const DaemonOptions& options, const DaemonControl& control) {
  if (!options.log_level.empty()) spdlog::set_level(spdlog::level::from_str(options.log_level));
  // The machine key lives in this process: no core dumps, no ptrace by
  // other processes of the same user (the sandboxes run as that user).
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Before any task thread exists, so that every sandbox inherits it.
  std::string err;
  if (!ApplyPriority(options.nice, options.ionice, &err)) spdlog::warn("politeness: {}", err);
  else spdlog::info("running at nice {}, I/O class {}", options.nice, options.ionice);
  // Deliberately leaked: task threads may still hold it when the process exits.
  auto* daemon = new Daemon(options, control);
  return daemon->Run();
}

int RunDaemon(const DaemonOptions& options, std::atomic<bool>* stop) {
  DaemonControl control;
  control.stop = stop;
  return RunDaemon(options, control);
}

}  // namespace corral::volunteer
