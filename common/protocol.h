// The messages volunteers and the coordinator exchange (DESIGN.md section 4),
// with their JSON forms. Parsing is strict: a message missing a required
// field or with a field of the wrong type is refused with a named reason.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
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
  std::string isolation;               // the sandbox's measured isolation level (common/isolation.h)
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
  // The isolation the task needs (common/isolation.h); "" for none. A
  // volunteer whose level lacks a feature gives the lease back unrun.
  std::string min_isolation;
  // The simple index (PEP 503/691) the input comes from: the volunteer's
  // prepare phase fetches build, runtime and test requirements from it,
  // through its GET-only proxy (PyPI in production). "" when unknown.
  std::string index_url;
};

// POST /api/v1/lease
struct LeaseRequest {
  std::vector<std::string> platforms;  // tags the volunteer can run
  int slots = 1;                       // how many tasks it can take now
  std::string isolation;               // its measured isolation level (common/isolation.h)
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

// POST /api/v1/leases/return: a volunteer gives up leases it will not finish
// (it is stopping), so their tasks are re-issued at once instead of after
// the deadline. No result is accepted for a returned lease.
struct LeaseReturnRequest {
  std::vector<std::string> lease_ids;
};
struct LeaseReturnResponse {
  std::vector<std::string> returned;  // now free for someone else
  std::vector<std::string> unknown;   // not active leases of this volunteer (finished, expired, ...)
};

// POST /api/v1/results/batch: several signed result envelopes in one signed
// request (a volunteer delivering its journal after being offline). Each
// envelope is verified and stored on its own, exactly as POST
// /api/v1/results would; one refused envelope does not refuse the others.
inline constexpr size_t kMaxResultBatch = 100;
struct ResultBatchRequest {
  std::vector<nlohmann::json> envelopes;  // DSSE envelopes, at most kMaxResultBatch
};
struct ResultBatchItem {
  std::string task_id, lease_id;  // from the payload, when it could be read
  std::string status;             // "accepted", "duplicate" or "refused"
  std::string error, detail;      // when refused: the code and text POST /api/v1/results answers
};
struct ResultBatchResponse {
  std::vector<ResultBatchItem> results;  // one per envelope, in the request's order
};

// The port `corral serve` and `corral demo` listen on, and the coordinator
// every client command (volunteer examples, lookup, reproduce) assumes.
constexpr int kDefaultPort = 8787;
constexpr const char* kDefaultCoordinator = "http://127.0.0.1:8787";

// How a test suite ran, for the verdict page: what a maintainer needs to
// trust the verdict or reproduce it. Optional in a result (absent: empty).
// Bounds, checked by ParseResultPayload: each list at most
// kMaxTestEvidenceItems entries, each string at most kMaxTestEvidenceText
// bytes, at most kMaxFirstFailures failures.
struct TestFailure {
  std::string id;    // "classname.name", as in failing_tests
  std::string text;  // the failure's message and traceback, cut to kMaxTestEvidenceText
};
struct TestEvidence {
  std::string runner;     // "pytest", "unittest" or "" (no suite ran)
  std::string command;    // the command line that ran the suite (cd DIR && ...)
  std::string found_by;   // where the test list came from ("testpaths in pyproject.toml", ...)
  std::string degraded;   // what was changed from the project's own configuration, and why
  std::vector<std::string> requirements;          // test requirements asked for
  std::vector<std::string> requirements_missing;  // those the index could not give
  std::vector<std::string> not_run;  // test modules set aside: "tests.test_x (needs lib)"
  std::vector<std::string> flaky;    // failed, then passed when run again; not in failing_tests
  std::vector<TestFailure> first_failures;  // the first failing tests, with their tracebacks
};
constexpr size_t kMaxTestEvidenceItems = 500;
constexpr size_t kMaxTestEvidenceText = 4096;
constexpr size_t kMaxFirstFailures = 5;

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
  std::vector<std::string> failing_tests;  // sorted ids; flaky tests are not failing
  TestEvidence test_run;                   // JSON "test_run"
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
void to_json(nlohmann::json& j, const LeaseReturnRequest& v);
void to_json(nlohmann::json& j, const LeaseReturnResponse& v);
void to_json(nlohmann::json& j, const TestEvidence& v);
void to_json(nlohmann::json& j, const ResultPayload& v);
void to_json(nlohmann::json& j, const ResultBatchRequest& v);
void to_json(nlohmann::json& j, const ResultBatchResponse& v);

// Strict parsers: false with *err naming the field that is missing or wrong.
bool ParseEnrolRequest(const nlohmann::json& j, EnrolRequest* out, std::string* err);
bool ParseTaskSpec(const nlohmann::json& j, TaskSpec* out, std::string* err);
bool ParseLeaseRequest(const nlohmann::json& j, LeaseRequest* out, std::string* err);
bool ParseLeaseResponse(const nlohmann::json& j, LeaseResponse* out, std::string* err);
bool ParseHeartbeatRequest(const nlohmann::json& j, HeartbeatRequest* out, std::string* err);
bool ParseHeartbeatResponse(const nlohmann::json& j, HeartbeatResponse* out, std::string* err);
bool ParseLeaseReturnRequest(const nlohmann::json& j, LeaseReturnRequest* out, std::string* err);
bool ParseLeaseReturnResponse(const nlohmann::json& j, LeaseReturnResponse* out, std::string* err);
bool ParseResultPayload(const nlohmann::json& j, ResultPayload* out, std::string* err);
// A result's "test_run" object (an absent field is an empty object); false
// with *err when a field has the wrong type or is over the bounds above.
bool ParseTestEvidence(const nlohmann::json& j, TestEvidence* out, std::string* err);
// The result payload inside a stored DSSE envelope (its JSON text), without
// checking the signature (it was checked when the result was accepted).
bool ParseStoredResultEnvelope(const std::string& envelope_text, ResultPayload* out, std::string* err);
bool ParseResultBatchRequest(const nlohmann::json& j, ResultBatchRequest* out, std::string* err);
bool ParseResultBatchResponse(const nlohmann::json& j, ResultBatchResponse* out, std::string* err);

// The most platform tags one enrolment or lease request may list.
inline constexpr size_t kMaxPlatformsPerMachine = 32;

// Bounds every JSON text Corral reads (request bodies, DSSE envelopes and
// their payloads, stored records): nlohmann's parser and dump() recurse, so
// a value nested 100,000 deep overflows the stack. The depth and value count
// are checked by a byte scan before any parsing starts.
inline constexpr int kMaxJsonDepth = 64;
inline constexpr size_t kMaxJsonBytes = 64u << 20;
inline constexpr size_t kMaxJsonValues = 1u << 20;  // '[', '{' and ',' outside strings

// True when `text` nests arrays/objects at most `max_depth` deep and holds at
// most `max_values` values, counting brackets and commas outside strings (it
// does not check that the text is JSON; the parser does). Sets *err otherwise.
// Pure, no locking.
bool JsonWithinBounds(std::string_view text, int max_depth, size_t max_values, std::string* err);

// Parses text as JSON without throwing, within kMaxJsonDepth, `max_bytes`
// and `max_values` (a caller whose input is already size-capped elsewhere,
// such as an index's root page, passes larger ones). False with *err (naming
// the bound or the syntax error) on text too large, too deep, with too many
// values or not JSON; *out is then discarded. Pure, no locking.
bool ParseJson(std::string_view text, nlohmann::json* out, std::string* err,
               size_t max_bytes = kMaxJsonBytes, size_t max_values = kMaxJsonValues);

// ParseJson for records read back from the store, whose readers skip what
// does not parse: the value, or a discarded one (is_discarded()) when the
// text is not JSON or breaks a bound. Never throws. Pure, no locking.
nlohmann::json ParseJsonOrDiscarded(std::string_view text);

}  // namespace corral
