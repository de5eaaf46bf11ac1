#include "coordinator/reputation.h"

#include <algorithm>
#include <cmath>

namespace corral::coordinator {

namespace {
constexpr size_t kContradictionsKept = 20;
}  // namespace

bool TestedSomething(Outcome outcome) {
  return outcome == Outcome::kPassed || outcome == Outcome::kTestsFailed;
}

void RecordIndependentValidation(ReputationRecord* r, const std::string& voucher_account) {
  ++r->independent;
  if (std::find(r->vouchers.begin(), r->vouchers.end(), voucher_account) != r->vouchers.end()) return;
  r->vouchers.push_back(voucher_account);
  if (r->vouchers.size() > kVouchersKept) r->vouchers.erase(r->vouchers.begin());
}

bool EarnedStanding(const ReputationRecord& r, const ReputationPolicy& policy) {
  return r.independent >= policy.established_after &&
         static_cast<int64_t>(r.vouchers.size()) >= policy.established_vouchers &&
         r.suspicion < policy.suspend_at / 2;
}

void RecordJudgement(ReputationRecord* r, const std::string& platform, Judgement j,
                     const ReputationPolicy& policy, bool tested, const std::vector<std::string>& exposers,
                     const std::string& task_id) {
  if (j == Judgement::kValid && !tested) j = Judgement::kUnchecked;
  const double q0 = policy.honest_invalid_rate, q1 = policy.liar_invalid_rate;
  switch (j) {
    case Judgement::kValid:
      ++r->validated;
      ++r->consecutive[platform];
      r->suspicion = std::max(0.0, r->suspicion + std::log((1 - q1) / (1 - q0)));
      QuotaOnValid(&r->quota, policy.quota);
      break;
    case Judgement::kInvalid:
      ++r->invalid;
      r->consecutive[platform] = 0;
      r->suspicion += std::log(q1 / q0);
      QuotaOnFailure(&r->quota, policy.quota);
      for (const auto& e : exposers) ++r->exposed_by[e];
      if (!task_id.empty()) {
        r->contradicted_tasks.push_back(task_id);
        if (r->contradicted_tasks.size() > kContradictionsKept)
          r->contradicted_tasks.erase(r->contradicted_tasks.begin());
      }
      break;
    case Judgement::kDigestOnly:
      ++r->digest_mismatches;
      r->consecutive[platform] = 0;
      break;
    case Judgement::kError:
      ++r->errors;
      r->consecutive[platform] = 0;
      QuotaOnFailure(&r->quota, policy.quota);
      break;
    case Judgement::kExpired:
      ++r->expired;
      r->consecutive[platform] = 0;
      QuotaOnFailure(&r->quota, policy.quota);
      break;
    case Judgement::kUnchecked:
      // Nothing was compared: no trust earned, but the work was accepted.
      QuotaOnValid(&r->quota, policy.quota);
      break;
  }
}

double SingleReplicaProbability(const ReputationRecord& r, const std::string& platform,
                                const ReputationPolicy& policy, double known_answer_rate) {
  if (!policy.adaptive_replication) return 0;
  auto it = r.consecutive.find(platform);
  int64_t count = it == r.consecutive.end() ? 0 : it->second;
  if (count < policy.trust_after || count <= 0) return 0;
  if (r.validated < policy.trust_min_validated) return 0;
  if (r.suspicion > policy.max_suspicion_for_single) return 0;
  // The re-check rate wanted, known-answer checks included: 1/count, never
  // below the floor.
  double recheck = std::max(1.0 / static_cast<double>(count), std::max(policy.min_recheck, 1e-6));
  double ka = std::clamp(known_answer_rate, 0.0, 0.5);
  double fresh_recheck = std::max((recheck - ka) / (1.0 - ka), std::max(policy.min_recheck, 1e-6) / 2);
  return std::clamp(1.0 - fresh_recheck, 0.0, 1.0);
}

bool ShouldSuspend(const ReputationRecord& r, const ReputationPolicy& policy) {
  return r.invalid >= policy.min_invalid && r.suspicion >= policy.suspend_at;
}

void ResetTrust(ReputationRecord* r, const ReputationPolicy& policy) {
  for (auto& [_, count] : r->consecutive) count = 0;
  r->review_checks = std::max(r->review_checks, policy.review_checks);
}

}  // namespace corral::coordinator
