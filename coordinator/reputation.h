// What the verifier has learnt about one volunteer (DESIGN.md section 6), and
// the two decisions it takes from that: may a fresh task go out to it as the
// only replica (adaptive replication), and has it lied often enough to be
// suspended (cheater detection). Pure logic over a plain record; the Engine
// stores the record (column family "reputation") and acts on the decisions.
//
// Adaptive replication. Per (volunteer, platform), the count of consecutive
// validated results. From `trust_after` on, a fresh task goes out singly with
// probability 1 - 1/count, never above 1 - min_recheck: a trusted volunteer is
// still re-checked at random, forever (known-answer checks count as
// re-checks: see SingleReplicaProbability). Any contradicted result, error or
// expired lease resets the count. A result accepted singly is not itself
// validated, so it never raises the count: trust is earned only from results
// someone else reproduced. One rule beyond BOINC's: no single replica while
// the volunteer's contradiction score (below) is above zero. An honest
// volunteer contradicted once (a flaky test) is back to zero after ~19
// confirmed results; a volunteer lying on 10% of its tasks almost never is,
// so it is almost never trusted with a task alone (without this rule such a
// liar reaches 10 consecutive confirmations about one time in three, and
// then lies unchecked on ~9 of every 100 tasks). And one more: a newcomer
// gets no single replica before `trust_min_validated` results of its were
// confirmed in all. A count reset (an error, an expired lease) is earned back
// after `trust_after`, but the first trust takes longer: a liar lying on 10%
// of its tasks passes 4 checks in a row two times in three (66%), 20 only
// one time in eight.
//
// Cheater detection. Honest volunteers are contradicted too, now and then
// (flaky tests, a machine gone bad), so one contradiction proves nothing. The
// record keeps a CUSUM of log-likelihood ratios between two hypotheses, "an
// honest volunteer, contradicted at rate honest_invalid_rate" and "a liar,
// contradicted at rate liar_invalid_rate": each contradicted result adds
// ln(liar/honest), each confirmed one adds ln((1-liar)/(1-honest)) < 0, and
// the score never falls below zero. The volunteer is suspended when the score
// reaches `suspend_at` with at least `min_invalid` contradictions. With the
// defaults (2%, 10%, 8): an honest volunteer contradicted on 1% of its checked
// results is practically never suspended, one at 2% in about 2% of cases
// after 3000 checked results; a liar contradicted on 10% is caught after a
// median of ~80 checked results, one that is always contradicted after 5.
//
// A wheel that differs only in its digest is not counted as a lie (another
// compiler builds another wheel), but it resets the trust count like an error.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/outcome.h"
#include "coordinator/quota.h"

namespace corral::coordinator {

struct ReputationPolicy {
  // Adaptive replication.
  bool adaptive_replication = true;
  int64_t trust_after = 4;     // consecutive validated results before a task may go out singly (bench/adversarial)
  double min_recheck = 0.1;    // the chance of a full re-check never falls below this
  double max_suspicion_for_single = 0;  // no single replica above this contradiction score
  int64_t trust_min_validated = 20;  // validated results in all, ever, before the first single replica
  // Cheater detection.
  double honest_invalid_rate = 0.02;
  double liar_invalid_rate = 0.10;
  double suspend_at = 8.0;
  int64_t min_invalid = 3;
  // Part of a suspended volunteer's clawed-back credit shared among the
  // volunteers whose results exposed it. Only a share of what is taken back,
  // so that exposing one's own sock puppet never pays.
  double bounty_share = 0.5;
  // Known-answer checks owed by the other machines of an account one of
  // whose machines was caught, and the chance that a lease is one of them.
  int64_t review_checks = 10;
  double review_check_rate = 0.5;
  QuotaPolicy quota;
  // Standing (Established): results that tested something, confirmed by
  // established volunteers of at least `established_vouchers` other
  // accounts, `established_after` times in all.
  int64_t established_after = 10;
  int64_t established_vouchers = 2;
};

struct ReputationRecord {
  std::string volunteer_id;
  std::map<std::string, int64_t> consecutive;  // platform -> consecutive validated results
  int64_t results = 0;             // results submitted: replicas and known-answer checks
  int64_t validated = 0;           // confirmed by a quorum or a known answer
  int64_t invalid = 0;             // contradicted by a quorum or a known answer
  int64_t digest_mismatches = 0;   // same result, another wheel digest
  int64_t errors = 0;              // infra_error results
  int64_t expired = 0;             // leases that ran out
  int64_t checks = 0, checks_failed = 0;  // known-answer checks answered / contradicted
  double suspicion = 0;            // the CUSUM score
  DailyQuota quota;
  DailyBytes artifact_bytes;       // new artifact bytes stored today (quota.h)
  int64_t review_checks = 0;       // known-answer checks still owed (an account-mate was caught)
  // Volunteers whose agreeing results contradicted this one, with how often:
  // who earns a bounty should it be suspended.
  std::map<std::string, int64_t> exposed_by;
  std::vector<std::string> contradicted_tasks;  // the latest few, newest last
  int64_t results_at_suspension = 0;
  // Standing: validated results that tested something and agreed with an
  // established volunteer of another account, and those accounts (up to
  // kVouchersKept, oldest first).
  int64_t independent = 0;
  std::vector<std::string> vouchers;
};

// The most voucher accounts a record keeps.
inline constexpr size_t kVouchersKept = 8;

// What one result turned out to be.
// True for the outcomes of a result that ran a test suite (passed,
// tests_failed): the only agreements that earn trust.
bool TestedSomething(Outcome outcome);

enum class Judgement {
  kValid,       // agreed with the verdict or the known answer
  kInvalid,     // contradicted it
  kDigestOnly,  // agreed but for the wheel digest
  kError,       // infra_error
  kExpired,     // the lease ran out without a result
  kUnchecked,   // accepted as the single replica: nobody compared it
};

// Applies one judgement on `platform`. `exposers`: for kInvalid, the
// volunteers whose results contradicted this one. `tested`: the result
// built, installed and ran a test suite (passed or tests_failed). A valid
// result that tested nothing (no_tests, tests_unrunnable: a wheel-only task,
// a suite the index cannot run) earns no trust: it counts as kUnchecked, so
// a run of trivial agreements never opens single replicas (issue 17).
void RecordJudgement(ReputationRecord* r, const std::string& platform, Judgement j,
                     const ReputationPolicy& policy, bool tested, const std::vector<std::string>& exposers = {},
                     const std::string& task_id = "");

// The chance that a fresh task on `platform` goes out to this volunteer as
// the only replica: 0 below trust_after consecutive validated results,
// below trust_min_validated validated results in all, or above
// max_suspicion_for_single, then 1 - 1/count, capped at
// 1 - min_recheck. 0 when adaptive replication is off.
//
// `known_answer_rate` is the chance that any leased slot is a known-answer
// check (EngineOptions): those check the volunteer as surely as a second
// replica does, at the same cost (one more result), so they count towards the
// re-check rate, and a fresh task is re-checked only for the rest. It never
// falls below half of min_recheck, so fresh work stays re-checked too.
double SingleReplicaProbability(const ReputationRecord& r, const std::string& platform,
                                const ReputationPolicy& policy, double known_answer_rate = 0);

// Counts one validated result that tested something and agreed with an
// established volunteer of `voucher_account` (another account than this
// volunteer's).
void RecordIndependentValidation(ReputationRecord* r, const std::string& voucher_account);

// True when the record earned standing by itself: `established_after`
// independent validations from at least `established_vouchers` accounts, and
// suspicion below half of suspend_at. Operator trust is the other
// way to standing (Engine::IsEstablished). A group of accounts created
// together cannot grant it to one another: only an established voucher
// counts.
bool EarnedStanding(const ReputationRecord& r, const ReputationPolicy& policy);

// True when the record shows enough contradictions to suspend the volunteer.
bool ShouldSuspend(const ReputationRecord& r, const ReputationPolicy& policy);

// Forgets every trust count (another machine of the account was caught) and
// owes `policy.review_checks` known-answer checks.
void ResetTrust(ReputationRecord* r, const ReputationPolicy& policy);

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ReputationRecord, volunteer_id, consecutive, results,
                                                validated, invalid, digest_mismatches, errors, expired,
                                                checks, checks_failed, suspicion, quota, artifact_bytes, review_checks,
                                                exposed_by, contradicted_tasks, results_at_suspension,
                                                independent, vouchers)

}  // namespace corral::coordinator
