// The messages volunteers and the coordinator exchange (DESIGN.md section 4),
// with their JSON forms. Parsing is strict: a message missing a required
// field or with a field of the wrong type is refused with a named reason.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/outcome.h"
#include "common/platform.h"

namespace corral {

// POST /api/v1/volunteers: a machine key enrolled under an account key.
// The account signs "corral-enrol-v1\n<machine key>\n<account name>\n<machine name>"
// so that nobody can enrol a machine in someone else's account.
struct EnrolRequest {
  std::string account_key;        // hex Ed25519 public key
  std::string account_name;       // display name of the account
  std::string machine_key;        // hex Ed25519 public key (the volunteer id)
  std::string machine_name;       // display name of the machine
  std::string account_signature;  // base64
  std::vector<std::string> platforms;  // tags offered, for the site
};
std::string EnrolmentMessage(const std::string& machine_key, const std::string& account_name,
                             const std::string& machine_name);

// One unit of work handed to a volunteer under a lease.
struct TaskSpec {
  std::string task_id;
  std::string lease_id;
  std::string project;        // normalised name
  std::string version;
  std::string filename;
  std::string url;            // absolute URL of the input file
  std::string sha256;         // of the input file
  int64_t size = 0;
  std::string platform;       // tag, e.g. "cp311-linux_x86_64"
  std::string requires_python;
  int64_t lease_deadline = 0;  // unix seconds; heartbeat before it
};

// POST /api/v1/lease
struct LeaseRequest {
  std::vector<std::string> platforms;  // tags the volunteer can run
  int slots = 1;                       // how many tasks it can take now
};
struct LeaseResponse {
  std::vector<TaskSpec> tasks;
  int next_poll_s = 10;
};

// POST /api/v1/heartbeat
struct HeartbeatRequest {
  std::vector<std::string> lease_ids;
};
struct HeartbeatResponse {
  std::map<std::string, int64_t> extended;  // lease id -> new deadline
  std::vector<std::string> cancelled;       // leases to abandon
};

// What a volunteer attests for one replica; the payload of a DSSE envelope.
struct ResultPayload {
  std::string task_id;
  std::string lease_id;
  std::string volunteer_id;   // machine key hex
  std::string input_sha256;
  Platform platform;
  Outcome outcome = Outcome::kInfraError;
  std::string summary;        // one line: why this outcome
  double build_seconds = 0, test_seconds = 0, total_seconds = 0;
  std::string wheel_filename, wheel_sha256, wheel_content_digest;
  int tests_passed = 0, tests_failed = 0, tests_errors = 0, tests_skipped = 0;
  std::vector<std::string> failing_tests;  // sorted ids
  std::string log_sha256;                  // artifact uploaded with PUT
  std::vector<std::string> commands;       // what ran, in order
  std::map<std::string, std::string> environment;
  std::string isolation;                   // level the sandbox reached
  std::string client_version;
  int64_t finished_at = 0;                 // unix seconds
};

void to_json(nlohmann::json& j, const EnrolRequest& v);
void to_json(nlohmann::json& j, const TaskSpec& v);
void to_json(nlohmann::json& j, const LeaseRequest& v);
void to_json(nlohmann::json& j, const LeaseResponse& v);
void to_json(nlohmann::json& j, const HeartbeatRequest& v);
void to_json(nlohmann::json& j, const HeartbeatResponse& v);
void to_json(nlohmann::json& j, const ResultPayload& v);

// Strict parsers: false with *err naming the field that is missing or wrong.
bool ParseEnrolRequest(const nlohmann::json& j, EnrolRequest* out, std::string* err);
bool ParseTaskSpec(const nlohmann::json& j, TaskSpec* out, std::string* err);
bool ParseLeaseRequest(const nlohmann::json& j, LeaseRequest* out, std::string* err);
bool ParseLeaseResponse(const nlohmann::json& j, LeaseResponse* out, std::string* err);
bool ParseHeartbeatRequest(const nlohmann::json& j, HeartbeatRequest* out, std::string* err);
bool ParseHeartbeatResponse(const nlohmann::json& j, HeartbeatResponse* out, std::string* err);
bool ParseResultPayload(const nlohmann::json& j, ResultPayload* out, std::string* err);

// Parses text as JSON without throwing; false with *err on a syntax error.
bool ParseJson(const std::string& text, nlohmann::json* out, std::string* err);

}  // namespace corral
