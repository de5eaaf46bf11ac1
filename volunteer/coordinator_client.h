// The volunteer's side of the protocol: every call is signed with the
// machine key (DESIGN.md section 4). Transport failures and refusals are
// told apart, because the first is retried and the second is not.
#pragma once

#include <string>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/protocol.h"

namespace corral::volunteer {

// What became of one call.
struct CallStatus {
  bool ok = false;
  bool retryable = false;   // transport error or 5xx: try again later
  long http_status = 0;
  std::string error_code;   // the coordinator's "error" field, when it refused
  std::string message;      // human text for the log
};

class CoordinatorClient {
 public:
  // `base_url` like "http://127.0.0.1:8080" (no trailing slash needed).
  CoordinatorClient(std::string base_url, const SigningKey& machine_key);

  CallStatus Enrol(const EnrolRequest& request);
  CallStatus Lease(const LeaseRequest& request, LeaseResponse* out);
  CallStatus Heartbeat(const HeartbeatRequest& request, HeartbeatResponse* out);
  // Posts a DSSE envelope. *duplicate tells that the coordinator had it already.
  CallStatus SubmitResult(const nlohmann::json& envelope, bool* duplicate);
  CallStatus PutArtifact(const std::string& sha256, const std::string& bytes);
  // Unsigned public read, e.g. "/api/v1/tasks/ID".
  CallStatus GetJson(const std::string& path, nlohmann::json* out);

  const std::string& base_url() const { return base_url_; }

 private:
  CallStatus Signed(const std::string& method, const std::string& path, const std::string& body,
                    nlohmann::json* answer);
  std::string base_url_;
  const SigningKey& key_;
  HttpClient http_;
};

}  // namespace corral::volunteer
