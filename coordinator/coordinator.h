// The coordinator (DESIGN.md section 3) as one object: what `corral serve`
// runs and `corral demo` embeds. It ties the store, the engine (leases,
// results, verdicts), index sync, the HTTP API and the site together, and
// runs a background thread that re-syncs the index and expires leases.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http_server.h"

namespace corral::coordinator {

class Engine;
class Api;
class ArtifactStore;
class NonceCache;
class IndexClient;

struct Options {
  std::filesystem::path data_dir;      // RocksDB in data_dir/db, artifacts in data_dir/artifacts
  std::string index_url;               // e.g. http://127.0.0.1:8081/simple/  (may be empty: no sync)
  std::vector<std::string> platforms;  // initial platform tags
  int sync_interval_s = 60;
  int lease_seconds = 900;
  int quorum = 2;
  int max_results = 5;
  std::string public_url;              // for reproduce commands; default http://<Host header>
  // Additions:
  std::string releases = "all";        // "all", or "latest": tasks for each project's newest release
  size_t max_artifact_bytes = 64u << 20;  // PUT /api/v1/artifacts cap
  int max_skew_s = 300;                // accepted clock skew of signed requests
  std::function<int64_t()> clock;      // unix seconds; default the system clock (tests set it)
};

class Coordinator {  // thread-safe
 public:
  explicit Coordinator(Options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Opens/creates the store (schema version), loads the dispatch cache.
  // False with *err naming the data directory and the reason.
  bool Open(std::string* err);
  // One index sync pass (also called by the background thread). A project
  // page that cannot be fetched or parsed is logged with the project's name
  // and skipped (retried next pass); false only when the root page fails.
  bool SyncOnce(std::string* err);
  // Periodic sync (every sync_interval_s) and lease expiry (every second).
  void StartBackground();
  // Every route: the JSON API, /metrics and the HTML site.
  HttpResponse Handle(const HttpRequest&);
  // Stops the background thread. Idempotent; also done by the destructor.
  void Stop();

  // Ends leases past their deadline now (the background thread does this
  // every second); returns how many.
  int ExpireLeases();

  // for tests / the demo's progress line:
  struct Progress {
    int64_t tasks = 0, verdicts = 0, pending = 0, leased = 0, results = 0;
  };
  Progress GetProgress();

 private:
  int64_t Now() const;

  Options options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<NonceCache> nonces_;
  std::unique_ptr<IndexClient> index_;
  std::unique_ptr<Api> api_;
  std::mutex sync_mu_;  // one sync pass at a time
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool stopping_ = false;
  std::thread background_;
};

}  // namespace corral::coordinator
