#include "coordinator/quorum.h"

#include <algorithm>
#include <set>

namespace corral::coordinator {

bool OutcomeHasWheel(Outcome o) {
  return o == Outcome::kPassed || o == Outcome::kTestsFailed || o == Outcome::kNoTests ||
         o == Outcome::kTestsUnrunnable || o == Outcome::kImportFailed || o == Outcome::kInstallFailed;
}

Difference Compare(const Vote& a, const Vote& b) {
  if (a.outcome == Outcome::kInfraError || b.outcome == Outcome::kInfraError) return Difference::kResult;
  if (a.outcome != b.outcome) return Difference::kResult;
  std::set<std::string> fa(a.failing_tests.begin(), a.failing_tests.end());
  std::set<std::string> fb(b.failing_tests.begin(), b.failing_tests.end());
  if (fa != fb) return Difference::kResult;
  if (OutcomeHasWheel(a.outcome) && a.wheel_content_digest != b.wheel_content_digest)
    // No wheel where the outcome says one was built is no compiler's doing.
    return a.wheel_content_digest.empty() || b.wheel_content_digest.empty() ? Difference::kResult
                                                                             : Difference::kDigestOnly;
  return Difference::kNone;
}

bool Agree(const Vote& a, const Vote& b) { return Compare(a, b) == Difference::kNone; }

QuorumDecision Decide(const std::vector<Vote>& votes, const QuorumPolicy& policy) {
  QuorumDecision d;
  std::vector<size_t> voting;
  for (size_t i = 0; i < votes.size(); ++i)
    if (votes[i].outcome != Outcome::kInfraError && !votes[i].excluded) voting.push_back(i);
  d.voting = static_cast<int>(voting.size());

  // Agreement need not be transitive when digests are missing, so build, from
  // each seed, the group of votes agreeing with every member so far, keeping
  // one vote per account (and per prefix); the largest group wins (earliest
  // seed on ties). An unknown prefix ("") is nobody's.
  // With standing required, groups rank by established votes, then size.
  std::vector<size_t> best;
  int best_established = 0;
  auto established_in = [&](const std::vector<size_t>& g) {
    return static_cast<int>(std::count_if(g.begin(), g.end(), [&](size_t i) { return votes[i].established; }));
  };
  for (size_t seed : voting) {
    std::vector<size_t> group{seed};
    std::set<std::string> accounts{votes[seed].account};
    std::set<std::string> prefixes;
    if (!votes[seed].prefix.empty()) prefixes.insert(votes[seed].prefix);
    for (size_t j : voting) {
      if (j == seed || accounts.count(votes[j].account)) continue;
      if (policy.distinct_prefix && prefixes.count(votes[j].prefix)) continue;
      bool all = std::all_of(group.begin(), group.end(),
                             [&](size_t g) { return Agree(votes[g], votes[j]); });
      if (all) {
        group.push_back(j);
        accounts.insert(votes[j].account);
        if (!votes[j].prefix.empty()) prefixes.insert(votes[j].prefix);
      }
    }
    int established = established_in(group);
    bool better = policy.require_established
                      ? std::make_pair(established, group.size()) > std::make_pair(best_established, best.size())
                      : group.size() > best.size();
    if (better) best = group, best_established = established;
  }
  int voting_established = 0;
  for (size_t i : voting) voting_established += votes[i].established ? 1 : 0;

  const bool standing_ok = !policy.require_established || best_established > 0;
  if (static_cast<int>(best.size()) >= policy.quorum && standing_ok) {
    d.kind = QuorumDecision::Kind::kVerdict;
    // Established members first, so the group kept holds one.
    std::stable_partition(best.begin(), best.end(), [&](size_t i) { return votes[i].established; });
    d.agreeing.assign(best.begin(), best.begin() + policy.quorum);
    d.outcome = votes[best[0]].outcome;
    d.reason = std::to_string(d.agreeing.size()) + " volunteers of different accounts" +
               (policy.distinct_prefix ? " and networks" : "") + " agreed" +
               (policy.require_established ? ", " + std::to_string(best_established) + " of them established" : "");
    return d;
  }
  const bool exhausted = policy.require_established
                             ? (d.voting >= policy.max_results && voting_established >= policy.quorum) ||
                                   d.voting >= 3 * policy.max_results
                             : d.voting >= policy.max_results;
  if (exhausted) {
    d.kind = QuorumDecision::Kind::kInconclusive;
    d.reason = std::to_string(d.voting) + " results never reached " +
               std::to_string(policy.quorum) + " in agreement";
    return d;
  }
  d.kind = QuorumDecision::Kind::kNeedMore;
  if (policy.require_established &&
      (static_cast<int>(best.size()) >= policy.quorum || d.voting >= policy.max_results)) {
    d.wanted = 1;
    d.needs_established = true;
    d.reason = "no established volunteer among the agreeing results yet; one more replica issued to one";
    return d;
  }
  if (d.voting < policy.quorum) {
    d.wanted = policy.quorum - d.voting;
    d.reason = "waiting for " + std::to_string(d.wanted) + " more result(s)";
  } else {
    d.wanted = 1;  // a disagreement: one more replica to break it
    d.reason = "results disagree; one more replica issued";
  }
  d.wanted = std::min(d.wanted, policy.max_results - d.voting);
  return d;
}

}  // namespace corral::coordinator
