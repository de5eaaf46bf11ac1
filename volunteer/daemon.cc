#include "volunteer/daemon.h"

#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "volunteer/config.h"
#include "volunteer/coordinator_client.h"
#include "volunteer/download_cache.h"
#include "volunteer/pause_file.h"
#include "volunteer/platform_choice.h"
#include "volunteer/politeness.h"
#include "volunteer/result_journal.h"
#include "volunteer/sd_notify.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

namespace {

constexpr char kClientVersion[] = "corral-volunteer/0.1";
constexpr size_t kMaxInputBytes = 512u << 20;

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf[0] ? buf : "volunteer";
}

// State shared between the main loop and the task threads.
class Daemon {
 public:
  Daemon(const DaemonOptions& options, const DaemonControl& control)
      : options_(options), stop_(control.stop), reload_(control.reload) {}

  int Run();

 private:
  bool Prepare();
  EnrolRequest MakeEnrolRequest();
  bool EnrolWithBackoff();
  void RunTask(TaskSpec task, Platform platform);
  void TrimDownloadCache();
  void Reload();
  // Why no new work may be leased now (paused, load), or "" when it may.
  std::string HoldReason();
  bool FlushJournal();
  void Heartbeat();
  void WriteStatus();
  void SleepFor(double seconds);
  double Backoff();

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
  std::map<std::string, Platform> platforms_;  // tag -> interpreter
  std::string isolation_;

  std::mutex mu_;
  std::condition_variable wake_;
  struct Running {
    TaskSpec task;
    std::chrono::steady_clock::time_point started;
  };
  std::map<std::string, Running> running_;     // lease id -> task
  std::deque<nlohmann::json> recent_;          // last results, for status
  int tasks_done_ = 0;
  bool reachable_ = false;
  std::string last_error_;
  int failures_in_row_ = 0;
  std::mutex flush_mu_;
  std::mt19937 rng_{std::random_device{}()};
};

double Daemon::Backoff() {
  // Exponential backoff with full jitter, capped at a minute.
  double cap = std::min(60.0, 1.0 * (1 << std::min(failures_in_row_, 6)));
  std::uniform_real_distribution<double> d(0.5, cap);
  return d(rng_);
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
  if (!EnsureDir(options_.data_dir, &err)) {
    spdlog::error("{}", err);
    return false;
  }
  bool created = false;
  machine_key_ = SigningKey::LoadOrCreate(options_.data_dir / "keys" / "machine.key", &created, &err);
  if (!machine_key_) {
    spdlog::error("machine key: {}", err);
    return false;
  }
  spdlog::info("machine key {} {}", machine_key_->public_hex().substr(0, 16),
               created ? "created" : "loaded");
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

  // The environment, so that any failure can be reproduced elsewhere.
  struct utsname u;
  uname(&u);
  spdlog::info("environment: {} {} {} ({})", u.sysname, u.release, u.machine, u.version);
  std::vector<std::string> notes;
  found_ = sandbox::DiscoverInterpreters(&notes);
  for (const auto& n : notes) spdlog::info("interpreter discovery: {}", n);
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

  journal_ = std::make_unique<ResultJournal>(options_.data_dir / "journal");
  if (!journal_->Open(&err)) {
    spdlog::error("result journal: {}", err);
    return false;
  }
  client_ = std::make_unique<CoordinatorClient>(options_.coordinator_url, *machine_key_);
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
  return req;
}

bool Daemon::EnrolWithBackoff() {
  EnrolRequest req = MakeEnrolRequest();
  while (!stop_->load()) {
    watchdog_.MaybePing();
    CallStatus s = client_->Enrol(req);
    if (s.ok) {
      reachable_ = true;
      failures_in_row_ = 0;
      spdlog::info("enrolled as {} ({}) under account {}", req.machine_name,
                   req.machine_key.substr(0, 16), req.account_name);
      return true;
    }
    if (!s.retryable) {
      spdlog::error("enrolment refused: {}", s.message);
      return false;
    }
    ++failures_in_row_;
    reachable_ = false;
    double wait = Backoff();
    spdlog::warn("{}; retrying in {:.1f} s", s.message, wait);
    SleepFor(wait);
  }
  return false;
}

bool Daemon::FlushJournal() {
  std::lock_guard<std::mutex> guard(flush_mu_);
  std::vector<std::string> problems;
  auto entries = journal_->Pending(&problems);
  for (const auto& p : problems) spdlog::error("{}", p);
  for (const auto& e : entries) {
    for (const auto& a : e.artifacts) {
      std::string bytes, err;
      if (!ReadFile(a.path, &bytes, &err)) {
        spdlog::error("journal artifact: {}", err);
        continue;
      }
      CallStatus s = client_->PutArtifact(a.sha256, bytes);
      if (!s.ok) {
        if (s.retryable) {
          spdlog::warn("upload of {} postponed: {}", a.sha256.substr(0, 12), s.message);
          return false;
        }
        spdlog::error("upload of {} refused: {}", a.sha256.substr(0, 12), s.message);
      }
    }
    bool duplicate = false;
    CallStatus s = client_->SubmitResult(e.envelope, &duplicate);
    if (s.ok) {
      journal_->Remove(e);
      spdlog::debug("result for lease {} accepted{}", e.lease_id.substr(0, 12),
                    duplicate ? " (already had it)" : "");
    } else if (s.retryable) {
      spdlog::warn("result for lease {} postponed: {}", e.lease_id.substr(0, 12), s.message);
      return false;
    } else {
      spdlog::error("result for lease {} refused for good, set aside: {}", e.lease_id.substr(0, 12),
                    s.message);
      journal_->SetAside(e, s.message);
    }
  }
  return true;
}

void Daemon::TrimDownloadCache() {
  std::set<std::string> in_use;
  uint64_t cap;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [_, run] : running_) in_use.insert(run.task.sha256);
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
    HttpResult d = HttpClient().Download(task.url, tmp, kMaxInputBytes, &got);
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
    r.commands = job.commands;
    r.environment = job.environment;
    r.isolation = job.isolation;
    isolation_ = job.isolation;
    log = job.log;
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

  nlohmann::json payload = r;
  nlohmann::json envelope = DsseSign(kResultPayloadType, payload.dump(), *machine_key_);
  if (!journal_->Add(task.lease_id, envelope, artifacts, &err))
    spdlog::error("cannot journal the result of {}: {}", task.task_id.substr(0, 12), err);
  fs::remove_all(work, ec);

  spdlog::info("{} {} {} on {}: {} ({:.1f} s){}", task.project, task.version, task.filename, task.platform,
               OutcomeName(r.outcome), r.total_seconds, r.summary.empty() ? "" : " - " + r.summary);
  {
    std::lock_guard<std::mutex> lock(mu_);
    recent_.push_front({{"task_id", task.task_id}, {"project", task.project}, {"version", task.version},
                        {"platform", task.platform}, {"outcome", OutcomeName(r.outcome)},
                        {"seconds", r.total_seconds}, {"finished_at", r.finished_at}});
    if (recent_.size() > 20) recent_.pop_back();
  }
  FlushJournal();
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(task.lease_id);
    ++tasks_done_;
  }
  wake_.notify_all();
}

void Daemon::Heartbeat() {
  HeartbeatRequest req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [lease, _] : running_) req.lease_ids.push_back(lease);
  }
  if (req.lease_ids.empty()) return;
  HeartbeatResponse resp;
  CallStatus s = client_->Heartbeat(req, &resp);
  if (!s.ok) {
    spdlog::warn("heartbeat: {}", s.message);
    return;
  }
  for (const auto& lease : resp.cancelled)
    spdlog::info("lease {} was cancelled by the coordinator; its result will be refused",
                 lease.substr(0, 12));
}

void Daemon::WriteStatus() {
  nlohmann::json status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    nlohmann::json slots = nlohmann::json::array();
    auto now = std::chrono::steady_clock::now();
    for (const auto& [lease, run] : running_)
      slots.push_back({{"lease_id", lease}, {"task_id", run.task.task_id}, {"project", run.task.project},
                       {"version", run.task.version}, {"platform", run.task.platform},
                       {"elapsed_s", std::chrono::duration<double>(now - run.started).count()}});
    status = {{"pid", getpid()},
              {"coordinator", options_.coordinator_url},
              {"reachable", reachable_},
              {"last_error", last_error_},
              {"slots", options_.slots},
              {"running", slots},
              {"recent_results", recent_},
              {"tasks_done", tasks_done_},
              {"isolation", isolation_},
              {"held_back", held_},
              {"updated_at", NowSeconds()}};
  }
  status["journal_pending"] = journal_->size();
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
    running = static_cast<int>(running_.size());
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
}

int Daemon::Run() {
  std::string notify_err;
  if (!Prepare()) return 2;
  // Ready once keys and interpreters are in place: waiting for an unreachable
  // coordinator is normal operation, not a failed start.
  SdNotify("READY=1\nSTATUS=enrolling with " + options_.coordinator_url, &notify_err);
  if (!EnrolWithBackoff()) {
    SdNotify("STOPPING=1", &notify_err);
    return stop_->load() ? 0 : 2;
  }
  FlushJournal();
  int idle_polls = 0;
  int started = 0;
  auto last_heartbeat = std::chrono::steady_clock::now();
  std::string last_notified;
  while (!stop_->load()) {
    watchdog_.MaybePing();
    if (reload_ && reload_->exchange(false)) Reload();
    std::vector<std::string> tags;
    for (const auto& [tag, _] : platforms_) tags.push_back(tag);
    int free_slots, running_count;
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_count = static_cast<int>(running_.size());
      free_slots = options_.slots - running_count;
    }
    if (options_.max_tasks > 0) free_slots = std::min(free_slots, options_.max_tasks - started);
    if (options_.max_tasks > 0 && started >= options_.max_tasks) {
      if (running_count == 0) break;
      free_slots = 0;
    }
    double wait = 1.0;
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
      CallStatus s = client_->Lease({tags, free_slots}, &resp);
      if (s.ok) {
        if (!reachable_) spdlog::info("coordinator reachable again");
        reachable_ = true;
        failures_in_row_ = 0;
        wait = std::max(1, resp.next_poll_s);
        for (auto& task : resp.tasks) {
          auto p = platforms_.find(task.platform);
          if (p == platforms_.end()) {
            spdlog::warn("coordinator leased {} for {}, which this machine did not offer; ignoring",
                         task.task_id.substr(0, 12), task.platform);
            continue;
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            running_[task.lease_id] = {task, std::chrono::steady_clock::now()};
          }
          ++started;
          std::thread([this, task, platform = p->second] { RunTask(task, platform); }).detach();
        }
        bool busy;
        {
          std::lock_guard<std::mutex> lock(mu_);
          busy = !running_.empty();
        }
        idle_polls = resp.tasks.empty() && !busy ? idle_polls + 1 : 0;
        if (options_.exit_when_idle && idle_polls >= options_.idle_polls_before_exit &&
            journal_->size() == 0) {
          spdlog::info("no work left on the coordinator; stopping as asked");
          break;
        }
        if (!resp.tasks.empty()) wait = 0.2;
      } else {
        reachable_ = false;
        last_error_ = s.message;
        ++failures_in_row_;
        wait = s.retryable ? Backoff() : 30;
        spdlog::warn("{}; next try in {:.1f} s", s.message, wait);
      }
    }
    if (journal_->size() > 0 && reachable_) FlushJournal();
    if (std::chrono::steady_clock::now() - last_heartbeat > std::chrono::seconds(60)) {
      Heartbeat();
      last_heartbeat = std::chrono::steady_clock::now();
    }
    WriteStatus();
    std::string status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      status = fmt::format("{} of {} slot(s) busy, {} task(s) done{}{}", running_.size(), options_.slots,
                           tasks_done_, held_.empty() ? "" : "; not leasing: ", held_);
    }
    if (status != last_notified) {
      SdNotify("STATUS=" + status, &notify_err);
      last_notified = status;
    }
    std::unique_lock<std::mutex> lock(mu_);
    size_t running_now = running_.size();
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
    while (!stop_->load() && !(reload_ && reload_->load()) && running_.size() >= running_now &&
           std::chrono::steady_clock::now() < until) {
      wake_.wait_for(lock, std::chrono::milliseconds(250));
      watchdog_.MaybePing();
    }
  }
  SdNotify("STOPPING=1", &notify_err);
  // Tasks still running are abandoned: their leases expire and are
  // re-issued; the sandbox's processes die with this one (--die-with-parent).
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_.empty())
      spdlog::info("stopping with {} task(s) unfinished; their leases will be re-issued", running_.size());
  }
  WriteStatus();
  return 0;
}

}  // namespace

std::string AccountNameOf(const fs::path& account_key) { return account_key.stem().string(); }

int RunDaemon(const DaemonOptions& options, const DaemonControl& control) {
  if (!options.log_level.empty()) spdlog::set_level(spdlog::level::from_str(options.log_level));
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
