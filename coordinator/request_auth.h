// Who is asking: checks a signed volunteer request (Corral-* headers, DESIGN.md
// section 4) and remembers nonces for the clock-skew window so that a
// captured request cannot be replayed. Holds no business rules.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace corral {
struct HttpRequest;
}

namespace corral::coordinator {

// Remembers (key, nonce) pairs seen within the skew window. Thread-safe (one
// mutex; the journal is called under it). With a journal, every pair is also
// written down (and forgotten pairs deleted) so that a restart reloads them
// (Load) and a captured request cannot be replayed after it either.
class NonceCache {
 public:
  // Writes one change of the remembered set; false when it could not.
  using Journal = std::function<bool(const std::string& key, const std::string& nonce, int64_t date, bool add)>;
  explicit NonceCache(int64_t window_s) : window_s_(window_s) {}
  // Starts journaling. Call once, before serving.
  void SetJournal(Journal journal);
  // Adds a pair read back from the journal (at start, before serving);
  // pairs too old to pass the skew check at `now` are skipped.
  void Load(const std::string& key, const std::string& nonce, int64_t date, int64_t now);
  // True the first time (key, nonce) is seen; false for a replay, and false
  // too when the journal cannot record it (the request is refused rather
  // than left replayable; the caller says so with code nonce_unrecorded).
  bool Remember(const std::string& key, const std::string& nonce, int64_t date, int64_t now,
                bool* unrecorded = nullptr);
  // True when (key, nonce) was seen (a replay), without remembering it.
  bool Seen(const std::string& key, const std::string& nonce);
  // The journal's key of a pair (kMeta): "nonce", date, key, nonce.
  static std::string JournalKey(const std::string& key, const std::string& nonce, int64_t date);

 private:
  int64_t window_s_;
  Journal journal_;
  std::mutex mu_;
  std::set<std::pair<std::string, std::string>> seen_;
  std::multimap<int64_t, std::pair<std::string, std::string>> by_date_;
};

// The verified identity of a request, or why there is none.
struct AuthResult {
  bool ok = false;
  std::string key;           // the machine key that signed
  int status = 401;
  std::string code, detail;  // when !ok
};

// Checks headers, clock, signature and nonce. `known_key` says whether the
// key is an enrolled volunteer; pass an empty function to skip that (enrolment).
AuthResult AuthenticateRequest(const HttpRequest& req, int64_t now, int64_t max_skew_s,
                               NonceCache* nonces, const std::function<bool(const std::string&)>& is_known);

// What can be checked before the body is read: the headers are there, the
// key is enrolled (when `is_known` is given), the date is within the skew,
// the nonce is not a replay. Remembers nothing; the signature, which covers
// the body, is AuthenticateRequest's to check once the body is read.
AuthResult PrecheckRequest(const HttpRequest& headers_only, int64_t now, int64_t max_skew_s, NonceCache* nonces,
                           const std::function<bool(const std::string&)>& is_known);

}  // namespace corral::coordinator
