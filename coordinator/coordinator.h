// The coordinator (DESIGN.md section 3) as one object: what `corral serve`
// runs and `corral demo` embeds. It ties the store, the engine (leases,
// results, verdicts), index sync, the HTTP API and the site together, and
// runs a background thread that re-syncs the index and expires leases.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/http_server.h"

namespace corral::coordinator {

class Engine;
struct ReputationRecord;
class Api;
class ArtifactStore;
class NonceCache;
class IndexClient;
class WheelIndex;
class Store;

struct Options {
  std::filesystem::path data_dir;      // RocksDB in data_dir/db, artifacts in data_dir/artifacts
  std::string index_url;               // e.g. http://127.0.0.1:8081/simple/  (may be empty: no sync)
  std::vector<std::string> platforms;  // the only platform tags (EngineOptions::platforms); empty: from volunteers
  int sync_interval_s = 60;
  int lease_seconds = 900;
  int quorum = 2;
  int max_results = 5;
  std::string public_url;              // for reproduce commands; default http://<Host header>
  // Additions:
  std::string releases = "all";        // "all", or "latest": tasks for each project's newest release
  size_t max_artifact_bytes = 64u << 20;  // PUT /api/v1/artifacts cap
  // Memory for caches, the bound of the coordinator's RSS beyond its working
  // state: three quarters for the store (StoreMemory: blocks, index and
  // filter blocks, a quarter of that for memtables), a quarter for the
  // artifacts read last (wheels checked for publication, logs served).
  size_t cache_mb = 768;
  int max_skew_s = 300;                // accepted clock skew of signed requests
  std::function<int64_t()> clock;      // unix seconds; default the system clock (tests set it)
  int sync_workers = 4;                // project pages fetched at once during a sync
  int result_cpu_slots = 0;            // ApiOptions::result_cpu_slots (0: one per core)
  size_t max_index_page_bytes = 32u << 20;  // a larger project page is refused (root: 16x)
  bool read_only = false;              // open data_dir read-only (static export): reads only, no sync
  // Cross-verification (DESIGN.md section 6). Agreeing results must come
  // from distinct network prefixes (/24, /48): on for `corral serve`, off for
  // `corral demo`, whose volunteers all run on one machine.
  bool distinct_prefix = true;
  // Tasks go out singly to volunteers trusted on their platform (off: every
  // verdict has `quorum` agreeing results, as the demo shows).
  bool adaptive_replication = true;
  int64_t trust_after = 4;             // consecutive validated results before single replicas
  int64_t trust_min_validated = 20;    // validated results in all before the first single replica
  double min_recheck = 0.1;            // floor of a trusted volunteer's full re-checks
  double known_answer_rate = 0.02;     // chance that a leased slot is a known-answer check
  std::string min_isolation;           // isolation every task needs (EngineOptions); "" any
  int max_in_flight = 32;              // active leases per volunteer
  int64_t machine_fault_retry_s = 600;  // an account's first wait before retrying a task its machine failed
  int64_t initial_daily_quota = 32;    // a new volunteer's tasks per day; grows with validated results
  int64_t artifact_mb_per_day = 2048;  // new artifact MiB a volunteer may store per UTC day (quota.h)
  uint64_t seed = 0;                   // the verifier's random choices (0: from the system)
  int platform_min_accounts = 2;       // accounts that must offer a tag before it is a platform (EngineOptions)
  // Standing (QuorumPolicy::require_established): verdicts and wheels need
  // established volunteers; on for `corral serve`. The accounts the
  // operator trusts have standing from the start (EngineOptions).
  bool require_standing = false;
  std::vector<std::string> trusted_accounts;
  std::vector<std::string> cleared_accounts;  // EngineOptions::cleared_accounts
};

// What one sync pass did (Coordinator::SyncOnce).
struct SyncStats {
  int64_t listed = 0;        // distinct valid projects on the root page
  int64_t unchanged = 0;     // serial as recorded: not fetched
  int64_t fetched = 0;       // pages fetched and ingested
  int64_t not_modified = 0;  // conditional GETs answered 304
  int64_t stale = 0;         // pages older than the root's serial: skipped, retried next pass
  int64_t failed = 0;        // pages that could not be fetched, parsed or stored: retried next pass
  int64_t bad_entries = 0;   // root entries and files left out (each logged with its project)
  int64_t tasks_created = 0, new_release_tasks = 0, cancelled = 0, restored = 0;
  int64_t placeholders_resolved = 0, placeholders_dropped = 0;
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
  // One index sync pass (also called by the background thread): the root
  // page, then (sync_workers at a time, conditionally with their ETags) the
  // pages of projects whose serial moved. A page that cannot be fetched or
  // parsed, has the wrong content type, is too large, or is older than the
  // root's serial for it (stale) is logged with the project's name and
  // skipped: its serial is not recorded, so the next pass retries it. False
  // only when the root page fails. `stats` may be null.
  bool SyncOnce(std::string* err, SyncStats* stats = nullptr);
  // Periodic sync (every sync_interval_s) and lease expiry (every second).
  void StartBackground();
  // Every route: the JSON API, /metrics and the HTML site.
  HttpResponse Handle(const HttpRequest&);
  // For HttpServerOptions::check_headers: the refusal of a signed request
  // whose headers alone fail (missing, stale date, unknown key, replayed
  // nonce), before its body is read; nullopt otherwise. Thread-safe.
  std::optional<HttpResponse> CheckHeaders(const HttpRequest& headers_only);
  // The POST routes that never wait for the disk (lease, heartbeat, lease
  // return: none of them syncs the WAL), for HttpServerOptions::answer_inline,
  // so that a lease never queues behind results waiting for their fsync.
  static bool NeverWaitsForDisk(const HttpRequest&);
  // The most body bytes each route takes, for
  // HttpServerOptions::route_body_limit: results (one or a batch) 4 MiB,
  // artifact uploads 0 (the server's limit), everything else 64 KiB (an
  // enrolment, a lease, a heartbeat). Pure, no locking.
  static size_t BodyLimitFor(const std::string& method, const std::string& path);
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

  // The store, for tools that read it beside the routes (static export).
  const Store& store() const;

  // What the verifier knows of a volunteer (reputation.h), for tests and
  // tools: false before its first lease or result. Not public on the site:
  // a volunteer that saw its trust count could time its lies.
  bool FindReputation(const std::string& volunteer_id, ReputationRecord* out);

 private:
  int64_t Now() const;

  Options options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<NonceCache> nonces_;
  std::unique_ptr<IndexClient> index_;
  std::unique_ptr<WheelIndex> wheels_;
  std::unique_ptr<Api> api_;
  std::mutex sync_mu_;  // one sync pass at a time
  // Serials recorded per project (normalised name), so that a pass over an
  // unchanged index reads no project records; under sync_mu_ (and
  // serials_mu_ while a pass's workers run).
  std::unordered_map<std::string, int64_t> serials_;
  std::mutex serials_mu_;
  std::atomic<bool> stop_sync_{false};
  std::mutex bg_mu_;
  std::condition_variable bg_cv_;
  bool stopping_ = false;
  std::thread background_;
};

}  // namespace corral::coordinator
