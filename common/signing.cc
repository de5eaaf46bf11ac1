#include "common/signing.h"

#include <cstdlib>

namespace corral {

std::string CanonicalRequest(const std::string& method, const std::string& path,
                             const std::string& date, const std::string& nonce,
                             const std::string& body) {
  return "corral-v1\n" + method + "\n" + path + "\n" + date + "\n" + nonce + "\n" +
         Sha256Hex(body);
}

std::vector<std::pair<std::string, std::string>> SignRequest(const SigningKey& key,
                                                             const std::string& method,
                                                             const std::string& path,
                                                             const std::string& body,
                                                             int64_t now) {
  std::string date = std::to_string(now);
  std::string nonce = RandomHex(16);
  std::string sig = key.Sign(CanonicalRequest(method, path, date, nonce, body));
  return {{"Corral-Key", key.public_hex()},
          {"Corral-Date", date},
          {"Corral-Nonce", nonce},
          {"Corral-Signature", Base64Encode(sig)}};
}

bool VerifyRequest(const RequestSignature& sig, const std::string& method,
                   const std::string& path, const std::string& body, int64_t now,
                   int64_t max_skew_s, std::string* code, std::string* detail) {
  if (sig.key.empty() || sig.date.empty() || sig.nonce.empty() || sig.signature.empty()) {
    *code = "missing_signature";
    *detail = "this endpoint needs a signed request: Corral-Key, Corral-Date, Corral-Nonce "
              "and Corral-Signature headers";
    return false;
  }
  char* end = nullptr;
  long long date = std::strtoll(sig.date.c_str(), &end, 10);
  if (end == sig.date.c_str() || *end != '\0') {
    *code = "bad_signature";
    *detail = "Corral-Date must be unix seconds, got '" + sig.date + "'";
    return false;
  }
  if (date < now - max_skew_s || date > now + max_skew_s) {
    *code = "stale_date";
    *detail = "Corral-Date " + sig.date + " is more than " + std::to_string(max_skew_s) +
              " s away from the coordinator's clock (" + std::to_string(now) +
              "); check this machine's clock";
    return false;
  }
  if (sig.nonce.size() < 16 || sig.nonce.size() > 128) {
    *code = "bad_signature";
    *detail = "Corral-Nonce must be 16 to 128 characters";
    return false;
  }
  std::string raw;
  if (!Base64Decode(sig.signature, &raw) ||
      !VerifySignature(sig.key, CanonicalRequest(method, path, sig.date, sig.nonce, body), raw)) {
    *code = "bad_signature";
    *detail = "the request signature does not verify with key " + sig.key.substr(0, 16) +
              "...; the body, path or headers were altered or signed with another key";
    return false;
  }
  return true;
}

std::string DssePae(const std::string& payload_type, const std::string& payload) {
  return "DSSEv1 " + std::to_string(payload_type.size()) + " " + payload_type + " " +
         std::to_string(payload.size()) + " " + payload;
}

nlohmann::json DsseSign(const std::string& payload_type, const std::string& payload,
                        const SigningKey& key) {
  return {{"payloadType", payload_type},
          {"payload", Base64Encode(payload)},
          {"signatures",
           {{{"keyid", key.public_hex()}, {"sig", Base64Encode(key.Sign(DssePae(payload_type, payload)))}}}}};
}

std::string DsseKeyId(const nlohmann::json& envelope) {
  if (!envelope.is_object()) return "";
  auto it = envelope.find("signatures");
  if (it == envelope.end() || !it->is_array() || it->empty() || !(*it)[0].is_object()) return "";
  auto k = (*it)[0].find("keyid");
  return k != (*it)[0].end() && k->is_string() ? k->get<std::string>() : "";
}

bool DsseVerify(const nlohmann::json& envelope, const std::string& payload_type,
                const std::string& public_hex, std::string* payload, std::string* err,
                nlohmann::json* verified) {
  if (!envelope.is_object() || !envelope.contains("payloadType") ||
      !envelope["payloadType"].is_string() || !envelope.contains("payload") ||
      !envelope["payload"].is_string() || DsseKeyId(envelope).empty()) {
    *err = "not a DSSE envelope: expected {payloadType, payload, signatures: [{keyid, sig}]}";
    return false;
  }
  if (envelope["payloadType"] != payload_type) {
    *err = "envelope payloadType is '" + envelope["payloadType"].get<std::string>() +
           "', expected '" + payload_type + "'";
    return false;
  }
  std::string body;
  if (!Base64Decode(envelope["payload"].get<std::string>(), &body)) {
    *err = "envelope payload is not valid base64";
    return false;
  }
  for (const auto& s : envelope["signatures"]) {
    if (!s.is_object() || s.value("keyid", "") != public_hex || !s.contains("sig") ||
        !s["sig"].is_string())
      continue;
    std::string raw;
    if (Base64Decode(s["sig"].get<std::string>(), &raw) &&
        VerifySignature(public_hex, DssePae(payload_type, body), raw)) {
      if (verified)
        *verified = {{"payloadType", payload_type},
                     {"payload", envelope["payload"]},
                     {"signatures", nlohmann::json::array({{{"keyid", public_hex}, {"sig", s["sig"]}}})}};
      *payload = std::move(body);
      return true;
    }
  }
  *err = "the result envelope's signature does not verify with key " + public_hex.substr(0, 16) +
         "...";
  return false;
}

}  // namespace corral
