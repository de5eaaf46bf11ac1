#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/names.h"
#include "coordinator/api.h"
#include "coordinator/artifact_store.h"
#include "coordinator/engine.h"
#include "coordinator/index_sync.h"
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
  engine_ = std::make_unique<Engine>(eo);
  artifacts_ = std::make_unique<ArtifactStore>(options_.data_dir / "artifacts",
                                               options_.max_artifact_bytes);
  nonces_ = std::make_unique<NonceCache>(options_.max_skew_s);
  if (!options_.index_url.empty()) index_ = std::make_unique<IndexClient>(options_.index_url);
  ApiOptions ao;
  ao.max_skew_s = options_.max_skew_s;
  ao.public_url = options_.public_url;
  api_ = std::make_unique<Api>(*engine_, *artifacts_, *nonces_, ao, options_.clock);
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
  if (!EnsureDir(options_.data_dir / "db", err) || !EnsureDir(options_.data_dir / "artifacts", err))
    return false;
  return engine_->Open(err);
}

bool Coordinator::SyncOnce(std::string* err) {
  if (!index_) return true;
  std::lock_guard<std::mutex> lock(sync_mu_);
  std::vector<IndexProject> projects;
  if (!index_->FetchRoot(&projects, err)) {
    *err = "index sync: " + *err;
    return false;
  }
  int fetched = 0, skipped = 0;
  for (const auto& p : projects) {
    std::string name = NormalizeProjectName(p.name);
    if (p.last_serial >= 0 && engine_->ProjectSerial(name) == p.last_serial) continue;
    std::vector<IndexFile> files;
    std::string perr;
    if (!index_->FetchProject(name, &files, &perr)) {
      spdlog::warn("index sync: skipping project '{}': {}; it is retried on the next pass", name, perr);
      ++skipped;
      continue;
    }
    if (!engine_->IngestProject(p.name, p.last_serial, files, Now(), &perr)) {
      spdlog::error("index sync: {}", perr);
      ++skipped;
      continue;
    }
    ++fetched;
  }
  if (fetched || skipped)
    spdlog::info("index sync: {} project(s) updated, {} skipped, {} listed", fetched, skipped,
                 projects.size());
  return true;
}

void Coordinator::StartBackground() {
  std::lock_guard<std::mutex> lock(bg_mu_);
  if (background_.joinable()) return;
  stopping_ = false;
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
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    stopping_ = true;
  }
  bg_cv_.notify_all();
  if (background_.joinable()) background_.join();
}

HttpResponse Coordinator::Handle(const HttpRequest& req) { return api_->Handle(req); }

int Coordinator::ExpireLeases() { return engine_->ExpireLeases(Now()); }

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
