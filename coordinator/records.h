// The records the coordinator stores (one kind per column family, see
// store.h), as plain structs with their JSON forms. They are the
// coordinator's own vocabulary: the wire messages live in common/protocol.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace corral::coordinator {

// A project seen on the index, with counters kept up to date as tasks are
// created and decided so that list pages never scan tasks.
struct ProjectRecord {
  std::string name;          // normalised (PEP 503)
  std::string display_name;  // as the index spells it
  std::string summary;
  int64_t last_serial = -1;  // the index's _last-serial when last ingested
  int64_t tasks = 0, verdicts = 0;
  std::vector<std::string> versions;  // every version with a file, any order
  int64_t download_rank = 0;  // 1 = most downloaded (from the snapshot); 0 unranked
  std::string etag;           // of the project page last ingested, for conditional GETs
};

// One file of a release, as the index described it.
struct FileRecord {
  std::string project, version, filename, url, sha256;
  int64_t size = 0;
  std::string requires_python;
  bool yanked = false;
  std::string yanked_reason;
  std::string upload_time;  // ISO 8601 as given (PEP 700), or ""
  std::string kind;         // "sdist" or "wheel"
  bool core_metadata = false;        // PEP 658/714: FILE.metadata is served
  std::string core_metadata_sha256;  // its hash when the index gives one
};

// One input file to build and test on one platform (DESIGN.md section 2).
struct TaskRecord {
  std::string task_id, project, version, filename, url, sha256, platform, requires_python;
  int64_t size = 0;
  uint64_t priority = 0;  // smaller goes first
  int64_t created_at = 0;
  bool decided = false;
  int results = 0;  // results stored, voting or not
  // Its input was yanked before a verdict: out of the queue, leases
  // cancelled. Un-yanking the file puts it back.
  bool cancelled = false;
  std::string cancelled_reason;
};

// One replica's assignment. Active leases are also held in memory by the
// scheduler; the record keeps history and survives restarts.
struct LeaseRecord {
  std::string lease_id, task_id, volunteer_id, account;
  int64_t issued_at = 0, deadline = 0;
  std::string state;  // "active", "completed", "expired", "cancelled", "returned"
  std::string prefix;        // the volunteer's network prefix when leased (network_prefix.h)
  bool single = false;       // the task's only replica, to a trusted volunteer (reputation.h)
  bool known_answer = false;  // a decided task re-issued as a check (known_answer.h)
  int64_t artifacts = 0;      // new artifacts stored under it (QuotaPolicy::artifacts_per_lease)
};

// A result as received: the DSSE envelope verbatim (anyone can re-verify it
// with the volunteer's public key), and who sent it when.
struct ResultRecord {
  std::string task_id, lease_id, volunteer_id, account;
  int64_t received_at = 0;
  std::string envelope;  // JSON text as verified: re-serialised, only the checked fields
  std::string prefix;    // the sender's network prefix (from its lease)
  // A known-answer check (known_answer.h): it never votes; whether it
  // matched the settled verdict.
  bool known_answer = false;
  bool matches_known_answer = false;
};

// The coordinator's conclusion for a task.
struct VerdictRecord {
  std::string task_id;
  std::string status;  // an outcome word, or "inconclusive"
  std::string summary;
  std::string evidence;  // why: agreement, or the Requires-Python clause
  int results = 0, agreeing = 0;
  std::vector<std::string> agreeing_leases;
  double credit_each = 0;
  int64_t decided_at = 0;
  std::string wheel_content_digest;  // the agreed wheel digest, "" when no wheel was built
};

struct VolunteerRecord {
  std::string volunteer_id;  // machine key hex
  std::string name, account;
  std::vector<std::string> platforms;
  std::string remote_addr;
  int64_t enrolled_at = 0;
  int64_t verified_results = 0;
  double credit = 0;
  double decayed_credit = 0;  // recent credit, decaying with a 7-day half-life
  int64_t decayed_at = 0;
  // Cross-verification (issue 6): a volunteer caught lying is suspended, its
  // credit clawed back; those whose results exposed it earn a bounty.
  bool suspended = false;
  std::string suspended_reason;
  int64_t suspended_at = 0;
  double clawed_back = 0;
  int64_t cheaters_exposed = 0;
  double bounty = 0;
  int64_t verdicts_reopened = 0;  // verdicts it helped decide, reopened at its suspension
};

struct AccountRecord {
  std::string account_key, name;
  std::vector<std::string> machines;
  int64_t created_at = 0;
  bool suspended = false;  // flagged: one of its machines was caught lying
  std::string suspended_reason;
  int64_t cleared_at = 0;  // when the operator last cleared the flag (`serve --clear-account`)
  // Marked trusted by the operator (`corral serve --trusted-account`): its
  // machines have standing from the start (reputation.h, EarnedStanding).
  bool trusted = false;
};

// One grant of credit, for windowed leaderboards.
struct CreditEntry {
  std::string volunteer_id, account, task_id;
  double credit = 0;
  int64_t granted_at = 0;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProjectRecord, name, display_name, summary,
                                                last_serial, tasks, verdicts, versions,
                                                download_rank, etag)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FileRecord, project, version, filename, url,
                                                sha256, size, requires_python, yanked,
                                                yanked_reason, upload_time, kind, core_metadata,
                                                core_metadata_sha256)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TaskRecord, task_id, project, version, filename,
                                                url, sha256, platform, requires_python, size,
                                                priority, created_at, decided, results,
                                                cancelled, cancelled_reason)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LeaseRecord, lease_id, task_id, volunteer_id,
                                                account, issued_at, deadline, state, prefix, single,
                                                known_answer, artifacts)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ResultRecord, task_id, lease_id, volunteer_id,
                                                account, received_at, envelope, prefix, known_answer,
                                                matches_known_answer)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VerdictRecord, task_id, status, summary, evidence,
                                                results, agreeing, agreeing_leases, credit_each,
                                                decided_at, wheel_content_digest)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VolunteerRecord, volunteer_id, name, account,
                                                platforms, remote_addr, enrolled_at,
                                                verified_results, credit, decayed_credit,
                                                decayed_at, suspended, suspended_reason,
                                                suspended_at, clawed_back, cheaters_exposed, bounty,
                                                verdicts_reopened)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AccountRecord, account_key, name, machines,
                                                created_at, suspended, suspended_reason, cleared_at,
                                                trusted)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CreditEntry, volunteer_id, account, task_id,
                                                credit, granted_at)

// Reads a record of type T; false when absent or of the wrong shape.
template <typename T>
bool FromJson(const nlohmann::json& j, T* out) {
  try {
    *out = j.get<T>();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace corral::coordinator
