// The two signatures of the protocol (DESIGN.md section 4):
//  - request signatures: every volunteer request carries Corral-Key,
//    Corral-Date, Corral-Nonce and Corral-Signature headers, an Ed25519
//    signature over "corral-v1\nMETHOD\nPATH\nDATE\nNONCE\nhex(sha256(body))";
//  - result envelopes: DSSE, signed over the pre-authentication encoding, so
//    that a stored result stays verifiable by anyone with the public key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto.h"

namespace corral {

inline constexpr char kResultPayloadType[] = "application/vnd.corral.result.v1+json";

// The exact bytes a request signature covers. `path` is the request target
// (path and query) as sent.
std::string CanonicalRequest(const std::string& method, const std::string& path,
                             const std::string& date, const std::string& nonce,
                             const std::string& body);

// The four Corral-* headers for a request signed by `key` at `now` (unix s).
std::vector<std::pair<std::string, std::string>> SignRequest(const SigningKey& key,
                                                             const std::string& method,
                                                             const std::string& path,
                                                             const std::string& body,
                                                             int64_t now);

// Headers of a signed request as received (values, possibly empty).
struct RequestSignature {
  std::string key;        // Corral-Key: the machine key's public hex
  std::string date;       // Corral-Date: unix seconds
  std::string nonce;      // Corral-Nonce
  std::string signature;  // Corral-Signature: base64 of the raw signature
};

// Checks the form, the clock skew (|now - date| <= max_skew_s) and the
// signature. Replayed nonces are the caller's to track. On failure returns
// false, sets *code to a protocol error code ("missing_signature",
// "stale_date", "bad_signature") and *detail to a human explanation.
bool VerifyRequest(const RequestSignature& sig, const std::string& method,
                   const std::string& path, const std::string& body, int64_t now,
                   int64_t max_skew_s, std::string* code, std::string* detail);

// DSSE pre-authentication encoding: "DSSEv1 LEN(type) type LEN(body) body".
std::string DssePae(const std::string& payload_type, const std::string& payload);

// {"payloadType", "payload" (base64), "signatures": [{"keyid", "sig" (base64)}]}
nlohmann::json DsseSign(const std::string& payload_type, const std::string& payload,
                        const SigningKey& key);

// Checks that `envelope` is well formed, of `payload_type`, and signed by
// `public_hex` (keyid must match). Fills *payload with the decoded bytes and,
// when `verified` is given, *verified with the envelope reduced to what was
// checked (payloadType, payload, the one signature that verified): what a
// receiver stores, never the fields nobody checked. False with *err (and
// *payload, *verified untouched) otherwise. Pure, no locking.
bool DsseVerify(const nlohmann::json& envelope, const std::string& payload_type,
                const std::string& public_hex, std::string* payload, std::string* err,
                nlohmann::json* verified = nullptr);

// The keyid of an envelope's first signature, or "" when malformed.
std::string DsseKeyId(const nlohmann::json& envelope);

}  // namespace corral
