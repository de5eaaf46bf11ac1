// The prepare phase's only egress (DESIGN.md section 5, phase 2): a GET-only
// HTTP proxy towards the configured package index, run by the volunteer and
// reached from inside the sandbox through a unix socket bound into it (the
// sandbox has no network at all, not even a route to the host's loopback).
//
// It is a reverse proxy: the sandbox asks for origin-form paths and never
// names a host itself.
//   GET /simple/NAME/                  -> INDEX/simple/NAME/ (the index's path)
//   GET /OTHER/PATH                    -> the index's host/OTHER/PATH (files
//                                         its pages link to relatively)
//   GET /__upstream/SCHEME/HOST/PATH   -> SCHEME://HOST/PATH, HOST allow-listed
// Absolute URLs to allow-listed hosts in the index's pages (PyPI's file links
// to files.pythonhosted.org, say) are rewritten to the /__upstream/ form, so
// pip inside the sandbox (pointed at the proxy through a loopback relay)
// resolves and downloads with its own tags, markers and hash checks while
// every byte goes through here. Redirects are not followed: they are passed
// on (rewritten), and the next request is checked like any other.
// Anything else (another method, another host, a body past the caps) is
// refused with a 4xx/5xx and a line in the log.
//
// The proxy learns each file's sha256 from the pages it serves (PEP 691
// `hashes`, PEP 503 `#sha256=` fragments, PEP 658/714 metadata hashes). A
// file whose hash it knows is checked before it is passed on (a mismatch is
// refused, 502) and, with a cache folder, kept there under its sha256, so the
// next job that needs it is served from disk without touching the index:
// the volunteer's shared, content-addressed wheelhouse. The sandbox never
// writes into that folder; only this process does, after the check.
//
// Whose fault (DESIGN.md section 5): every answer that says the index could
// not be reached or misbehaved (a transport error or timeout, a 5xx or 429,
// an answer past the caps, a hash mismatch, a refused host) is recorded as a
// failure (Failures()). A prepare run that failed while the proxy recorded a
// failure is infra_error; a 404 is an answer ("no such project"), not one.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corral::sandbox {

struct IndexProxyOptions {
  std::filesystem::path socket_path;   // created by Start (an old file there is replaced)
  std::string index_url;               // "http://127.0.0.1:8700/simple/" (scheme, host, path)
  std::vector<std::string> extra_hosts;  // where files may live besides the index's host ("host[:port]")
  uint64_t max_response_bytes = 64ull << 20;  // one answer
  uint64_t max_total_bytes = 1ull << 30;      // all answers of this proxy together
  int max_requests = 2000;
  int upstream_timeout_s = 60;
  // Content-addressed cache of verified files, named by their sha256 (the
  // volunteer's download cache: trimmed by its owner, not here). Empty: none.
  std::filesystem::path cache_dir;
  // Local IP address the proxy's requests go out from (CURLOPT_INTERFACE);
  // "" lets the system choose (multi-homed hosts).
  std::string source_address;
};

// What a proxy did, for the job's log and the fault decision.
struct IndexProxyStats {
  int requests = 0;
  int files_from_cache = 0;     // served from cache_dir, the index not asked
  int files_fetched = 0;        // fetched from upstream (and cached when the hash was known)
  uint64_t bytes_fetched = 0;   // from upstream
  std::vector<std::string> failures;  // one line per failure (see the top of this file)
};

// Thread-safe: Start once, then requests are served on a thread of its own
// until Stop (or destruction). One request per connection (answers say
// "Connection: close").
class IndexProxy {
 public:
  explicit IndexProxy(IndexProxyOptions options);
  ~IndexProxy();
  IndexProxy(const IndexProxy&) = delete;
  IndexProxy& operator=(const IndexProxy&) = delete;

  // Binds the socket (mode 0666: the sandbox's user must connect) and starts
  // serving. False with *err on a bad index_url or a socket that cannot be made.
  bool Start(std::string* err);
  // Stops serving and removes the socket file. Idempotent.
  void Stop();

  // One line per request since the last call: "GET /simple/x/ -> 200 1234 bytes
  // (http://index/simple/x/)" or "... -> 403 host evil.example is not allowed".
  std::vector<std::string> TakeLog();
  uint64_t bytes_served() const { return bytes_; }
  // Counts and failures since Start. Thread-safe.
  IndexProxyStats Stats() const;

 private:
  struct Impl;
  void Serve();
  IndexProxyOptions options_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex log_mu_;
  std::vector<std::string> log_;
  IndexProxyStats stats_;  // under log_mu_
};

}  // namespace corral::sandbox
