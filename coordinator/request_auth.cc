#include "coordinator/request_auth.h"

#include "common/http_server.h"
#include "common/signing.h"

#include <cstdlib>

namespace corral::coordinator {

bool NonceCache::Remember(const std::string& key, const std::string& nonce, int64_t date,
                          int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  // Forget nonces whose date can no longer pass the skew check.
  while (!by_date_.empty() && by_date_.begin()->first < now - window_s_ - 1) {
    seen_.erase(by_date_.begin()->second);
    by_date_.erase(by_date_.begin());
  }
  auto entry = std::make_pair(key, nonce);
  if (!seen_.insert(entry).second) return false;
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
  if (!nonces->Remember(sig.key, sig.nonce, std::atoll(sig.date.c_str()), now)) {
    r.code = "replayed_nonce";
    r.detail = "nonce " + sig.nonce + " was already used by this key; sign every request afresh";
    return r;
  }
  r.ok = true;
  r.key = sig.key;
  return r;
}

}  // namespace corral::coordinator
