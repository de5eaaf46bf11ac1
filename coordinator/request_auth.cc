#include "coordinator/request_auth.h"

#include <algorithm>

#include "coordinator/store.h"

#include "common/http_server.h"
#include "common/signing.h"

#include <cstdlib>

namespace corral::coordinator {

void NonceCache::SetJournal(Journal journal) {
  std::lock_guard<std::mutex> lock(mu_);
  journal_ = std::move(journal);
}

void NonceCache::Load(const std::string& key, const std::string& nonce, int64_t date, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (date < now - window_s_ - 1) return;
  auto entry = std::make_pair(key, nonce);
  if (seen_.insert(entry).second) by_date_.emplace(date, entry);
}

bool NonceCache::Seen(const std::string& key, const std::string& nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.count(std::make_pair(key, nonce)) > 0;
}

std::string NonceCache::JournalKey(const std::string& key, const std::string& nonce, int64_t date) {
  return Key({"nonce", OrderedHex(static_cast<uint64_t>(std::max<int64_t>(date, 0))), key, nonce});
}

bool NonceCache::Remember(const std::string& key, const std::string& nonce, int64_t date, int64_t now,
                          bool* unrecorded) {
  std::lock_guard<std::mutex> lock(mu_);
  // Forget nonces whose date can no longer pass the skew check.
  while (!by_date_.empty() && by_date_.begin()->first < now - window_s_ - 1) {
    const auto& [old_date, old] = *by_date_.begin();
    if (journal_) journal_(old.first, old.second, old_date, false);  // best effort: Load skips it anyway
    seen_.erase(old);
    by_date_.erase(by_date_.begin());
  }
  auto entry = std::make_pair(key, nonce);
  if (seen_.count(entry)) return false;
  // Written down first: a pair that could not be recorded is refused, so a
  // restart can never make it new again.
  if (journal_ && !journal_(key, nonce, date, true)) {
    if (unrecorded) *unrecorded = true;
    return false;
  }
  seen_.insert(entry);
  by_date_.emplace(date, entry);
  return true;
}

AuthResult AuthenticateRequest(const HttpRequest& req, int64_t now, int64_t max_skew_s,
                               NonceCache* nonces, const std::function<bool(const std::string&)>& is_known) {
  AuthResult r;
  RequestSignature sig{req.Header("corral-key"), req.Header("corral-date"),
                       req.Header("corral-nonce"), req.Header("corral-signature")};
  if (sig.key.empty() || sig.date.empty() || sig.nonce.empty() || sig.signature.empty()) {
    r.code = "missing_signature";
    r.detail = "this endpoint needs a signed request: Corral-Key, Corral-Date, Corral-Nonce and "
               "Corral-Signature headers";
    return r;
  }
  if (is_known && !is_known(sig.key)) {
    r.code = "unknown_volunteer";
    r.detail = "key " + sig.key.substr(0, 16) +
               "... is not enrolled; enrol it first with POST /api/v1/volunteers";
    return r;
  }
  if (!VerifyRequest(sig, req.method, req.target, req.body, now, max_skew_s, &r.code, &r.detail))
    return r;
  bool unrecorded = false;
  if (!nonces->Remember(sig.key, sig.nonce, std::atoll(sig.date.c_str()), now, &unrecorded)) {
    if (unrecorded) {
      r.code = "nonce_unrecorded";
      r.detail = "the coordinator could not record this request's nonce (its store refused a write); "
                 "retry later with a fresh nonce";
      return r;
    }
    r.code = "replayed_nonce";
    r.detail = "nonce " + sig.nonce + " was already used by this key; sign every request afresh";
    return r;
  }
  r.ok = true;
  r.key = sig.key;
  return r;
}

AuthResult PrecheckRequest(const HttpRequest& req, int64_t now, int64_t max_skew_s, NonceCache* nonces,
                           const std::function<bool(const std::string&)>& is_known) {
  AuthResult r;
  RequestSignature sig{req.Header("corral-key"), req.Header("corral-date"), req.Header("corral-nonce"),
                       req.Header("corral-signature")};
  if (sig.key.empty() || sig.date.empty() || sig.nonce.empty() || sig.signature.empty()) {
    r.code = "missing_signature";
    r.detail = "this endpoint needs a signed request: Corral-Key, Corral-Date, Corral-Nonce and "
               "Corral-Signature headers";
    return r;
  }
  char* end = nullptr;
  long long date = std::strtoll(sig.date.c_str(), &end, 10);
  if (end == sig.date.c_str() || *end != '\0') {
    r.code = "bad_signature";
    r.detail = "Corral-Date must be decimal unix seconds, got '" + sig.date.substr(0, 32) + "'";
    return r;
  }
  if (date < now - max_skew_s || date > now + max_skew_s) {
    r.code = "stale_date";
    r.detail = "Corral-Date " + sig.date + " is more than " + std::to_string(max_skew_s) +
               " s from the coordinator's clock (" + std::to_string(now) + "); fix the machine's clock";
    return r;
  }
  if (is_known && !is_known(sig.key)) {
    r.code = "unknown_volunteer";
    r.detail = "key " + sig.key.substr(0, 16) + "... is not enrolled; enrol it first with POST /api/v1/volunteers";
    return r;
  }
  if (nonces->Seen(sig.key, sig.nonce)) {
    r.code = "replayed_nonce";
    r.detail = "nonce " + sig.nonce.substr(0, 128) + " was already used by this key; sign every request afresh";
    return r;
  }
  r.ok = true;
  r.key = sig.key;
  return r;
}

}  // namespace corral::coordinator
