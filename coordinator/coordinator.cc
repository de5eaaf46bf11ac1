#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/names.h"
#include "coordinator/api.h"
#include "coordinator/artifact_store.h"
#include "coordinator/engine.h"
#include "coordinator/index_sync.h"
#include "coordinator/wheel_index.h"
#include "coordinator/request_auth.h"

namespace corral::coordinator {

Coordinator::Coordinator(Options options) : options_(std::move(options)) {
  InitCrypto();
  if (!options_.clock) options_.clock = [] { return NowSeconds(); };
  EngineOptions eo;
  eo.db_dir = options_.data_dir / "db";
  eo.platforms = options_.platforms;
  eo.policy.quorum = options_.quorum;
  eo.policy.max_results = options_.max_results;
  eo.lease_seconds = options_.lease_seconds;
  eo.latest_only = options_.releases == "latest";
  eo.read_only = options_.read_only;
  eo.policy.distinct_prefix = options_.distinct_prefix;
  eo.policy.require_established = options_.require_standing;
  eo.trusted_accounts = options_.trusted_accounts;
  eo.cleared_accounts = options_.cleared_accounts;
  eo.reputation.adaptive_replication = options_.adaptive_replication;
  eo.reputation.trust_after = options_.trust_after;
  eo.reputation.trust_min_validated = options_.trust_min_validated;
  eo.reputation.min_recheck = options_.min_recheck;
  eo.known_answer_rate = options_.known_answer_rate;
  eo.min_isolation = options_.min_isolation;
  eo.index_url = options_.index_url;
  eo.machine_fault_retry_s = options_.machine_fault_retry_s;
  eo.reputation.quota.max_in_flight = options_.max_in_flight;
  eo.reputation.quota.initial_per_day = options_.initial_daily_quota;
  eo.reputation.quota.artifact_bytes_per_day = options_.artifact_mb_per_day << 20;
  eo.seed = options_.seed;
  eo.platform_min_accounts = options_.platform_min_accounts;
  const size_t cache_bytes = options_.cache_mb << 20;
  eo.memory.cache_bytes = cache_bytes / 4 * 3;
  eo.memory.write_buffer_bytes = eo.memory.cache_bytes / 4;
  engine_ = std::make_unique<Engine>(eo);
  artifacts_ = std::make_unique<ArtifactStore>(options_.data_dir / "artifacts",
                                               options_.max_artifact_bytes, cache_bytes / 4);
  nonces_ = std::make_unique<NonceCache>(options_.max_skew_s);
  if (!options_.index_url.empty()) {
    IndexLimits limits;
    limits.max_page_bytes = options_.max_index_page_bytes;
    limits.max_root_bytes = options_.max_index_page_bytes * 16;
    index_ = std::make_unique<IndexClient>(options_.index_url, limits);
  }
  ApiOptions ao;
  ao.max_skew_s = options_.max_skew_s;
  ao.public_url = options_.public_url;
  ao.result_cpu_slots = options_.result_cpu_slots;
  wheels_ = std::make_unique<WheelIndex>(engine_->store(), *artifacts_);
  engine_->SetVerdictObserver(
      [w = wheels_.get()](const VerdictEvent& e, WriteSet* writes) { w->Publish(e, writes); });
  engine_->SetReopenObserver([e = engine_.get()](const std::set<std::string>& tasks, WriteSet* writes) {
    return UnpublishTasks(e->store(), tasks, writes);
  });
  api_ = std::make_unique<Api>(*engine_, *artifacts_, *nonces_, ao, options_.clock, wheels_.get());
}

Coordinator::~Coordinator() { Stop(); }

int64_t Coordinator::Now() const { return options_.clock(); }

bool Coordinator::Open(std::string* err) {
  if (options_.releases != "all" && options_.releases != "latest") {
    *err = "--releases must be 'all' or 'latest', got '" + options_.releases + "'";
    return false;
  }
  if (options_.quorum < 1 || options_.max_results < options_.quorum) {
    *err = "quorum must be at least 1 and max_results at least the quorum";
    return false;
  }
  if (!options_.read_only &&
      (!EnsureDir(options_.data_dir / "db", err) || !EnsureDir(options_.data_dir / "artifacts", err)))
    return false;
  if (!engine_->Open(err)) return false;
  if (!options_.read_only) {
    // The nonces of the last skew window, so that a request captured before
    // a restart cannot be replayed after it; then every new one written down.
    const int64_t now = Now();
    const std::string prefix = std::string("nonce") + '\0';
    engine_->store().Scan(Cf::kMeta, prefix,
                          prefix + OrderedHex(static_cast<uint64_t>(std::max<int64_t>(now - options_.max_skew_s - 1, 0))),
                          [&](std::string_view k, std::string_view) {
                            std::vector<std::string> parts = SplitKey(k);
                            if (parts.size() == 4)
                              nonces_->Load(parts[2], parts[3], static_cast<int64_t>(std::stoull(parts[1], nullptr, 16)), now);
                            return true;
                          });
    nonces_->SetJournal([engine = engine_.get()](const std::string& key, const std::string& nonce, int64_t date,
                                                 bool add) {
      WriteSet w;
      if (add)
        w.Put(Cf::kMeta, NonceCache::JournalKey(key, nonce, date), "");
      else
        w.Delete(Cf::kMeta, NonceCache::JournalKey(key, nonce, date));
      std::string e;
      if (engine->WriteAside(w, &e)) return true;
      spdlog::error("nonce journal: {}", e);
      return false;
    });
  }
  return true;
}

bool Coordinator::SyncOnce(std::string* err, SyncStats* stats) {
  SyncStats st;
  if (stats) *stats = st;
  if (!index_) return true;
  std::lock_guard<std::mutex> lock(sync_mu_);
  IndexRoot root;
  if (!index_->FetchRoot(&root, err)) {
    *err = "index sync: " + *err;
    return false;
  }
  for (const auto& p : root.problems) spdlog::warn("index sync: {}: {}", index_->index_url(), p);
  st.bad_entries = static_cast<int64_t>(root.problems.size());
  st.listed = static_cast<int64_t>(root.projects.size());

  // Which pages to fetch: those whose serial moved (all of them when the
  // root gives no serials, as PEP 503 HTML does; conditional GETs keep that
  // cheap).
  struct Job {
    const IndexProject* project;
    std::string name, etag;
  };
  std::vector<Job> jobs;
  for (const auto& p : root.projects) {
    std::string name = NormalizeProjectName(p.name);
    if (p.last_serial >= 0) {
      auto c = serials_.find(name);
      if (c != serials_.end() && c->second >= p.last_serial) {
        ++st.unchanged;
        continue;
      }
    }
    int64_t serial = -1;
    std::string etag;
    bool known = engine_->ProjectSyncState(name, &serial, &etag);
    if (known && serial >= 0) serials_[name] = serial;
    if (known && p.last_serial >= 0 && serial >= p.last_serial) {
      ++st.unchanged;
      continue;
    }
    jobs.push_back({&p, name, etag});
  }

  std::mutex st_mu;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; !stop_sync_ && (i = next++) < jobs.size();) {
      const Job& job = jobs[i];
      const IndexProject& p = *job.project;
      IndexPage page;
      std::string perr;
      auto count = [&](int64_t SyncStats::*field) {
        std::lock_guard<std::mutex> l(st_mu);
        ++(st.*field);
      };
      if (!index_->FetchProject(job.name, job.etag, &page, &perr)) {
        spdlog::warn("index sync: project '{}' skipped: {}; retried on the next pass", job.name,
                     perr);
        count(&SyncStats::failed);
        continue;
      }
      if (p.last_serial >= 0 && page.serial >= 0 && page.serial < p.last_serial) {
        spdlog::warn("index sync: project '{}' skipped: its page is stale (serial {}, older than "
                     "the {} the root lists; an outdated cache?); retried on the next pass",
                     job.name, page.serial, p.last_serial);
        count(&SyncStats::stale);
        continue;
      }
      int64_t serial = std::max(p.last_serial, page.serial);
      if (page.not_modified) {
        // Unchanged since the ETag. Record the new serial only when the
        // answer vouches for it; otherwise ask again (conditionally) next pass.
        count(&SyncStats::not_modified);
        if (page.serial >= 0 && engine_->RecordProjectSerial(job.name, serial, &perr)) {
          std::lock_guard<std::mutex> l(serials_mu_);
          serials_[job.name] = serial;
        }
        continue;
      }
      for (const auto& problem : page.problems)
        spdlog::warn("index sync: project '{}': {}", job.name, problem);
      IngestReport rep;
      if (!engine_->IngestProject(p.name, serial, page.etag, page.files, Now(), &rep, &perr)) {
        spdlog::error("index sync: {}; retried on the next pass", perr);
        count(&SyncStats::failed);
        continue;
      }
      if (rep.cancelled)
        spdlog::info("index sync: project '{}': {} pending task(s) cancelled (input yanked or "
                     "replaced)", job.name, rep.cancelled);
      if (rep.new_release_tasks)
        spdlog::info("index sync: project '{}': a new release, {} task(s) ahead of the backlog",
                     job.name, rep.new_release_tasks);
      std::lock_guard<std::mutex> l(st_mu);
      ++st.fetched;
      st.bad_entries += static_cast<int64_t>(page.problems.size());
      st.tasks_created += rep.tasks_created;
      st.new_release_tasks += rep.new_release_tasks;
      st.cancelled += rep.cancelled;
      st.restored += rep.restored;
      st.placeholders_resolved += rep.resolved;
      st.placeholders_dropped += rep.dropped;
      if (serial >= 0) {
        std::lock_guard<std::mutex> sl(serials_mu_);
        serials_[job.name] = serial;
      }
    }
  };
  int workers = static_cast<int>(std::min<size_t>(std::max(1, options_.sync_workers), jobs.size()));
  std::vector<std::thread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  if (!stop_sync_) {
    std::string ferr;
    if (!engine_->MarkFirstSyncDone(&ferr)) spdlog::error("index sync: {}", ferr);
  }
  if (!jobs.empty())
    spdlog::info("index sync: {} listed, {} fetched, {} not modified, {} stale, {} failed; {} new "
                 "task(s) ({} for new releases), {} cancelled",
                 st.listed, st.fetched, st.not_modified, st.stale, st.failed, st.tasks_created,
                 st.new_release_tasks, st.cancelled);
  if (stats) *stats = st;
  return true;
}

void Coordinator::StartBackground() {
  std::lock_guard<std::mutex> lock(bg_mu_);
  if (background_.joinable()) return;
  stopping_ = false;
  stop_sync_ = false;
  background_ = std::thread([this] {
    auto next_sync = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(bg_mu_);
    while (!stopping_) {
      lock.unlock();
      if (std::chrono::steady_clock::now() >= next_sync) {
        std::string err;
        if (!SyncOnce(&err)) spdlog::warn("{}", err);
        next_sync = std::chrono::steady_clock::now() + std::chrono::seconds(options_.sync_interval_s);
      }
      ExpireLeases();
      lock.lock();
      bg_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  });
}

void Coordinator::Stop() {
  stop_sync_ = true;
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    stopping_ = true;
  }
  bg_cv_.notify_all();
  if (background_.joinable()) background_.join();
}

HttpResponse Coordinator::Handle(const HttpRequest& req) { return api_->Handle(req); }

std::optional<HttpResponse> Coordinator::CheckHeaders(const HttpRequest& req) { return api_->CheckHeaders(req); }

bool Coordinator::NeverWaitsForDisk(const HttpRequest& req) {
  return req.method == "POST" && (req.path == "/api/v1/lease" || req.path == "/api/v1/heartbeat" ||
                                  req.path == "/api/v1/leases/return");
}

size_t Coordinator::BodyLimitFor(const std::string& method, const std::string& path) {
  if (method == "PUT" && path.rfind("/api/v1/artifacts/", 0) == 0) return 0;
  if (method == "POST" && (path == "/api/v1/results" || path == "/api/v1/results/batch")) return 4u << 20;
  return 64u << 10;
}

const Store& Coordinator::store() const { return engine_->store(); }

int Coordinator::ExpireLeases() { return engine_->ExpireLeases(Now()); }

bool Coordinator::FindReputation(const std::string& volunteer_id, ReputationRecord* out) {
  return engine_->FindReputation(volunteer_id, out);
}

Coordinator::Progress Coordinator::GetProgress() {
  Counters c = engine_->GetCounters();
  Progress p;
  p.tasks = c.tasks;
  p.verdicts = c.verdicts;
  p.pending = c.tasks - c.verdicts;
  p.leased = engine_->ActiveLeases();
  p.results = c.results;
  return p;
}

}  // namespace corral::coordinator
