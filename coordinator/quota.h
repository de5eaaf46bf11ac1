// Per-volunteer limits on work (DESIGN.md section 3): how many tasks a
// volunteer may hold at once, how many it may lease per UTC day, and how
// many bytes of artifacts (logs, wheels) it may store per lease and per UTC
// day. The
// daily limit starts small, grows with every validated result and shrinks
// with every error, contradicted result or expired lease, so that a new or
// broken machine (or a cheater answering without building) can waste little
// before the verifier has seen enough of its results, while a reliable one
// soon leases as much as it can do. Pure logic, no storage.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

namespace corral::coordinator {

struct QuotaPolicy {
  int max_in_flight = 32;            // active leases per volunteer
  int64_t initial_per_day = 32;      // a new volunteer's daily limit
  int64_t min_per_day = 4;           // never less: a broken machine may still recover
  int64_t max_per_day = 100000;
  int64_t grow_per_valid = 1;        // added per validated result
  int64_t shrink_per_failure = 4;    // taken per error, contradicted result or expired lease
  // Artifacts (PROTOCOL.md section 10): each upload names a lease of its
  // volunteer; new content counts against both limits, content already
  // stored costs nothing.
  int64_t artifacts_per_lease = 2;                      // a log and a wheel
  int64_t artifact_bytes_per_day = int64_t{2} << 30;    // per volunteer, new bytes
  int64_t artifact_lease_age_s = 7 * 86400;             // uploads for older leases are refused
};

// One volunteer's daily limit and what it used of the current UTC day.
struct DailyQuota {
  int64_t limit = -1;  // -1: not set yet (a new volunteer): QuotaPolicy::initial_per_day
  int64_t day = 0;     // days since the epoch of `used`
  int64_t used = 0;    // tasks leased on `day`
};

// New artifact bytes stored on one UTC day.
struct DailyBytes {
  int64_t day = 0;    // days since the epoch of `bytes`
  int64_t bytes = 0;
};

// Tasks the volunteer may still lease on the UTC day of `now` (>= 0).
int64_t QuotaRemaining(const DailyQuota& q, int64_t now, const QuotaPolicy& policy);
// Counts `n` tasks leased at `now` (a new day starts from zero).
void UseQuota(DailyQuota* q, int64_t now, int64_t n, const QuotaPolicy& policy);
// A validated result raises the limit; a failure lowers it.
void QuotaOnValid(DailyQuota* q, const QuotaPolicy& policy);
void QuotaOnFailure(DailyQuota* q, const QuotaPolicy& policy);
// The limit in force (the initial one for a new volunteer).
int64_t QuotaLimit(const DailyQuota& q, const QuotaPolicy& policy);
// Artifact bytes the volunteer may still store on the UTC day of `now` (>= 0).
int64_t ArtifactBytesRemaining(const DailyBytes& b, int64_t now, const QuotaPolicy& policy);
// Counts `n` new artifact bytes stored at `now` (a new day starts from zero).
void UseArtifactBytes(DailyBytes* b, int64_t now, int64_t n);
// Seconds from `now` to the next UTC midnight.
int64_t SecondsToNextDay(int64_t now);

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DailyQuota, limit, day, used)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DailyBytes, day, bytes)

}  // namespace corral::coordinator
