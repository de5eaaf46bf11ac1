#include "volunteer/coordinator_client.h"

#include "common/fs_util.h"
#include "common/signing.h"

namespace corral::volunteer {

namespace {

CallStatus FromResult(const HttpResult& r, const std::string& what, nlohmann::json* answer) {
  CallStatus s;
  s.http_status = r.status;
  if (!r.error.empty()) {
    s.retryable = true;
    s.message = what + ": coordinator unreachable: " + r.error;
    return s;
  }
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status >= 200 && r.status < 300) {
    if (body.is_discarded()) {
      s.retryable = true;
      s.message = what + ": the coordinator's answer is not JSON";
      return s;
    }
    s.ok = true;
    if (answer) *answer = std::move(body);
    return s;
  }
  s.retryable = r.status >= 500 || r.status == 429;
  if (body.is_object()) {
    s.error_code = body.value("error", "");
    s.message = what + " refused (HTTP " + std::to_string(r.status) + " " + s.error_code + "): " +
                body.value("detail", "");
  } else {
    s.message = what + " failed: " + r.Describe();
  }
  return s;
}

}  // namespace

CoordinatorClient::CoordinatorClient(std::string base_url, const SigningKey& machine_key,
                                     HttpClientOptions http)
    : base_url_(std::move(base_url)), key_(machine_key), http_(std::move(http)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

CallStatus CoordinatorClient::Signed(const std::string& method, const std::string& path,
                                     const std::string& body, nlohmann::json* answer) {
  Headers headers = SignRequest(key_, method, path, body, NowSeconds());
  headers.emplace_back("Content-Type", "application/json");
  HttpResult r = method == "PUT" ? http_.Put(base_url_ + path, body, headers)
                                 : http_.Post(base_url_ + path, body, headers);
  return FromResult(r, method + " " + path, answer);
}

CallStatus CoordinatorClient::Enrol(const EnrolRequest& request) {
  nlohmann::json j = request;
  return Signed("POST", "/api/v1/volunteers", j.dump(), nullptr);
}

CallStatus CoordinatorClient::Lease(const LeaseRequest& request, LeaseResponse* out) {
  nlohmann::json j = request, answer;
  CallStatus s = Signed("POST", "/api/v1/lease", j.dump(), &answer);
  std::string err;
  if (s.ok && !ParseLeaseResponse(answer, out, &err)) {
    s.ok = false;
    s.retryable = true;
    s.message = "lease answer malformed: " + err;
  }
  return s;
}

CallStatus CoordinatorClient::Heartbeat(const HeartbeatRequest& request, HeartbeatResponse* out) {
  nlohmann::json j = request, answer;
  CallStatus s = Signed("POST", "/api/v1/heartbeat", j.dump(), &answer);
  std::string err;
  if (s.ok && !ParseHeartbeatResponse(answer, out, &err)) {
    s.ok = false;
    s.retryable = true;
    s.message = "heartbeat answer malformed: " + err;
  }
  return s;
}

CallStatus CoordinatorClient::ReturnLeases(const LeaseReturnRequest& request, LeaseReturnResponse* out) {
  nlohmann::json j = request, answer;
  CallStatus s = Signed("POST", "/api/v1/leases/return", j.dump(), &answer);
  std::string err;
  if (s.ok && !ParseLeaseReturnResponse(answer, out, &err)) {
    s.ok = false;
    s.retryable = true;
    s.message = "lease return answer malformed: " + err;
  }
  return s;
}

CallStatus CoordinatorClient::SubmitResult(const nlohmann::json& envelope, bool* duplicate) {
  nlohmann::json answer;
  CallStatus s = Signed("POST", "/api/v1/results", envelope.dump(), &answer);
  *duplicate = s.ok && answer.is_object() && answer.value("duplicate", false);
  return s;
}

CallStatus CoordinatorClient::SubmitResults(const std::vector<nlohmann::json>& envelopes,
                                            ResultBatchResponse* out) {
  ResultBatchRequest request;
  request.envelopes = envelopes;
  nlohmann::json j = request, answer;
  CallStatus s = Signed("POST", "/api/v1/results/batch", j.dump(), &answer);
  std::string err;
  if (s.ok && (!ParseResultBatchResponse(answer, out, &err) ||
               out->results.size() != envelopes.size())) {
    s.ok = false;
    s.retryable = true;
    s.message = "result batch answer malformed: " +
                (err.empty() ? "it has " + std::to_string(out->results.size()) + " items for " +
                                   std::to_string(envelopes.size()) + " results"
                             : err);
  }
  return s;
}

CallStatus CoordinatorClient::PutArtifact(const std::string& sha256, const std::string& lease_id,
                                          const std::string& bytes) {
  return Signed("PUT", "/api/v1/artifacts/" + sha256 + "?lease=" + lease_id, bytes, nullptr);
}

CallStatus CoordinatorClient::GetJson(const std::string& path, nlohmann::json* out) {
  return FromResult(http_.Get(base_url_ + path, {{"Accept", "application/json"}}), "GET " + path, out);
}

}  // namespace corral::volunteer
