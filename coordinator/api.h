// The coordinator's HTTP surface (DESIGN.md section 4, docs/API_SHAPES.md):
// routes requests, checks signatures and parses bodies, then hands the
// domain work to the Engine and answers in the protocol's JSON (errors as
// {"error": code, "detail": text}). Holds no business rules.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/http_server.h"

namespace corral::coordinator {

class Engine;
class ArtifactStore;
class NonceCache;
class WheelIndex;

struct ApiOptions {
  int max_skew_s = 300;
  std::string public_url;  // "" -> from the request's Host header
  // Result handlers doing CPU work (signature checks, parsing, the engine)
  // at once; the others wait for their fsync or for a slot, asleep. 0: one
  // per core. Keeps leases, answered on the I/O threads, from queueing for
  // the CPU behind a pool of result handlers.
  int result_cpu_slots = 0;
};

// A count of slots whose waiters sleep at once, held with std::lock_guard
// (lock takes a slot, unlock gives it back). std::counting_semaphore spins
// and yields before it sleeps, which showed as 3% of the samples of result
// handlers at saturation (bench/README.md, lease_cycle).
class SleepingSlots {
 public:
  explicit SleepingSlots(int n) : free_(n) {}
  void lock() {
    std::unique_lock<std::mutex> lock(mu_);
    freed_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    freed_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable freed_;
  int free_;
};

class Api {
 public:
  // `wheels` serves /simple/ and /wheels/ (none: those answer 404).
  Api(Engine& engine, ArtifactStore& artifacts, NonceCache& nonces, ApiOptions options,
      std::function<int64_t()> clock, WheelIndex* wheels = nullptr);
  // Thread-safe.
  // The early answer to a signed route whose headers alone already fail
  // (PrecheckRequest), before its body is read (HttpServerOptions::
  // check_headers); nullopt for every other request. Thread-safe; reads the
  // volunteers' records and the nonce cache, no disk write.
  std::optional<HttpResponse> CheckHeaders(const HttpRequest& headers_only);
  HttpResponse Handle(const HttpRequest& req);

 private:
  HttpResponse Enrol(const HttpRequest& req);
  HttpResponse Lease(const HttpRequest& req);
  HttpResponse Heartbeat(const HttpRequest& req);
  HttpResponse ReturnLeases(const HttpRequest& req);
  // POST /api/v1/results and /results/batch: checked and stored, not yet
  // synced; *duplicate when a result was already there.
  HttpResponse StoreResult(const HttpRequest& req, bool* duplicate);
  HttpResponse StoreResultBatch(const HttpRequest& req, bool* duplicate);
  // Runs `store` under a result CPU slot, then answers once its writes are
  // on disk (group commit).
  HttpResponse Durably(const HttpRequest& req,
                       HttpResponse (Api::*store)(const HttpRequest&, bool* duplicate));
  HttpResponse PutArtifact(const HttpRequest& req, const std::string& sha);
  HttpResponse GetArtifact(const std::string& sha);
  HttpResponse Project(const std::string& name, bool html);
  HttpResponse Task(const HttpRequest& req, const std::string& id, bool html);
  HttpResponse Compat(const HttpRequest& req, bool html);
  HttpResponse Leaderboard(const HttpRequest& req, bool html);
  HttpResponse Volunteer(const std::string& id, bool html);
  HttpResponse Home();
  // The wheel index (api_wheels.cc): PEP 503/691 pages, wheels and their
  // PEP 658 metadata.
  HttpResponse Simple(const HttpRequest& req);
  HttpResponse WheelFile(const HttpRequest& req, const std::string& rest);
  std::string PublicUrl(const HttpRequest& req) const;

  Engine& engine_;
  ArtifactStore& artifacts_;
  NonceCache& nonces_;
  ApiOptions options_;
  std::function<int64_t()> clock_;
  WheelIndex* wheels_;
  SleepingSlots result_cpu_slots_;
};

// The HTTP status for a protocol error code.
int StatusForCode(const std::string& code);

}  // namespace corral::coordinator
