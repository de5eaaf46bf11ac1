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
  // `http` sets the timeouts (a stopping daemon uses short ones).
  CoordinatorClient(std::string base_url, const SigningKey& machine_key, HttpClientOptions http = {});

  CallStatus Enrol(const EnrolRequest& request);
  CallStatus Lease(const LeaseRequest& request, LeaseResponse* out);
  CallStatus Heartbeat(const HeartbeatRequest& request, HeartbeatResponse* out);
  // Gives leases back (POST /api/v1/leases/return) so their tasks go out again now.
  CallStatus ReturnLeases(const LeaseReturnRequest& request, LeaseReturnResponse* out);
  // Posts a DSSE envelope. *duplicate tells that the coordinator had it already.
  CallStatus SubmitResult(const nlohmann::json& envelope, bool* duplicate);
  // Posts several envelopes at once (POST /api/v1/results/batch, at most
  // kMaxResultBatch). On ok, *out has one item per envelope, in order, each
  // accepted, duplicate or refused. A coordinator without the route answers
  // 404 (error_code "not_found"): the caller then submits one by one.
  CallStatus SubmitResults(const std::vector<nlohmann::json>& envelopes, ResultBatchResponse* out);
  // Uploads a log or wheel of the result for `lease_id` (PROTOCOL.md
  // section 10). 429 artifact_quota (retryable: the day's bytes are used)
  // and the final refusals come back in the status like any call's.
  CallStatus PutArtifact(const std::string& sha256, const std::string& lease_id, const std::string& bytes);
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
