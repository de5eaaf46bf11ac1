// Credit (DESIGN.md section 6): assigned by the coordinator once a verdict
// validated the work, from its measured cost. A client's own claim counts only
// as one sample of a median over the agreeing replicas, so one volunteer
// exaggerating its durations cannot raise what anyone earns; the cap bounds
// what colluding replicas could claim. The median is the lower one: with the
// usual two replicas it is the smaller claim, since the mean of two would let
// either replica raise both credits by inflating its own. A task accepted
// from a single trusted replica (reputation.h) has no peer to compare with,
// so its one claim is bounded by what the coordinator itself measured: how
// long the volunteer held the lease.
#pragma once

#include <cstdint>
#include <vector>

namespace corral::coordinator {

inline constexpr double kCreditCapSeconds = 3600;
inline constexpr double kRecentCreditHalfLifeS = 7 * 86400;

// The credit each agreeing volunteer earns: the lower median of their
// reported total seconds (the smaller of the middle two for an even count),
// clamped to [0, cap]. 0 for no samples.
double CreditForVerdict(std::vector<double> total_seconds, double cap = kCreditCapSeconds);

// The credit of a verdict taken from one trusted replica: its claimed total
// seconds, at most the seconds between lease and result, clamped to [0, cap].
double CreditForSingle(double claimed_seconds, double held_seconds, double cap = kCreditCapSeconds);

// Recent credit with exponential decay: `decayed` as of `decayed_at`, seen at
// `now`.
double DecayCredit(double decayed, int64_t decayed_at, int64_t now);
// Recent average credit per day for a decayed total (BOINC's RAC idea).
double RecentAverageCredit(double decayed, int64_t decayed_at, int64_t now);

}  // namespace corral::coordinator
