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
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "volunteer/coordinator_client.h"
#include "volunteer/platform_choice.h"
#include "volunteer/result_journal.h"

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
  Daemon(const DaemonOptions& options, std::atomic<bool>* stop) : options_(options), stop_(stop) {}

  int Run();

 private:
  bool Prepare();
  bool EnrolWithBackoff();
  void RunTask(TaskSpec task);
  bool FlushJournal();
  void Heartbeat();
  void WriteStatus();
  void SleepFor(double seconds);
  double Backoff();

  const DaemonOptions& options_;
  std::atomic<bool>* stop_;
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
  while (!stop_->load() && std::chrono::steady_clock::now() < until)
    wake_.wait_for(lock, std::chrono::milliseconds(250));
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
  std::vector<Platform> found = sandbox::DiscoverInterpreters(&notes);
  for (const auto& n : notes) spdlog::info("interpreter discovery: {}", n);
  platforms_ = ChoosePlatforms(found, options_.interpreters);
  if (platforms_.empty()) {
    spdlog::error("no usable Python interpreter found{}; install one (pyenv, python3.X, pypy3) "
                  "or fix --interpreters",
                  options_.interpreters.empty() ? "" : " among the configured ones");
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
  return true;
}

bool Daemon::EnrolWithBackoff() {
  EnrolRequest req;
  req.account_key = account_key_->public_hex();
  req.account_name = AccountNameOf(options_.account_key);
  req.machine_key = machine_key_->public_hex();
  req.machine_name = options_.machine_name.empty() ? Hostname() : options_.machine_name;
  req.account_signature =
      Base64Encode(account_key_->Sign(EnrolmentMessage(req.machine_key, req.account_name, req.machine_name)));
  for (const auto& [tag, p] : platforms_) req.platforms.push_back(tag);
  while (!stop_->load()) {
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

void Daemon::RunTask(TaskSpec task) {
  auto started = std::chrono::steady_clock::now();
  const Platform& platform = platforms_.at(task.platform);
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
              {"updated_at", NowSeconds()}};
  }
  status["journal_pending"] = journal_->size();
  std::string err;
  WriteFileAtomic(options_.data_dir / "status.json", status.dump(2), &err);
}

int Daemon::Run() {
  if (!Prepare()) return 2;
  if (!EnrolWithBackoff()) return stop_->load() ? 0 : 2;
  FlushJournal();
  std::vector<std::string> tags;
  for (const auto& [tag, _] : platforms_) tags.push_back(tag);
  int idle_polls = 0;
  int started = 0;
  auto last_heartbeat = std::chrono::steady_clock::now();
  while (!stop_->load()) {
    int free_slots;
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_slots = options_.slots - static_cast<int>(running_.size());
    }
    if (options_.max_tasks > 0) free_slots = std::min(free_slots, options_.max_tasks - started);
    if (options_.max_tasks > 0 && started >= options_.max_tasks) {
      std::lock_guard<std::mutex> lock(mu_);
      if (running_.empty()) break;
      free_slots = 0;
    }
    double wait = 1.0;
    if (free_slots > 0) {
      LeaseResponse resp;
      CallStatus s = client_->Lease({tags, free_slots}, &resp);
      if (s.ok) {
        if (!reachable_) spdlog::info("coordinator reachable again");
        reachable_ = true;
        failures_in_row_ = 0;
        wait = std::max(1, resp.next_poll_s);
        for (auto& task : resp.tasks) {
          if (!platforms_.count(task.platform)) {
            spdlog::warn("coordinator leased {} for {}, which this machine did not offer; ignoring",
                         task.task_id.substr(0, 12), task.platform);
            continue;
          }
          {
            std::lock_guard<std::mutex> lock(mu_);
            running_[task.lease_id] = {task, std::chrono::steady_clock::now()};
          }
          ++started;
          std::thread([this, task] { RunTask(task); }).detach();
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
    std::unique_lock<std::mutex> lock(mu_);
    size_t running_now = running_.size();
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
    while (!stop_->load() && running_.size() >= running_now && std::chrono::steady_clock::now() < until)
      wake_.wait_for(lock, std::chrono::milliseconds(250));
  }
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

int RunDaemon(const DaemonOptions& options, std::atomic<bool>* stop) {
  // Deliberately leaked: task threads may still hold it when the process exits.
  auto* daemon = new Daemon(options, stop);
  return daemon->Run();
}

}  // namespace corral::volunteer
