#include "coordinator/quorum.h"

#include <algorithm>
#include <set>

namespace corral::coordinator {

bool Agree(const Vote& a, const Vote& b) {
  if (a.outcome == Outcome::kInfraError || b.outcome == Outcome::kInfraError) return false;
  if (a.outcome != b.outcome) return false;
  std::set<std::string> fa(a.failing_tests.begin(), a.failing_tests.end());
  std::set<std::string> fb(b.failing_tests.begin(), b.failing_tests.end());
  if (fa != fb) return false;
  if (!a.wheel_content_digest.empty() && !b.wheel_content_digest.empty() &&
      a.wheel_content_digest != b.wheel_content_digest)
    return false;
  return true;
}

QuorumDecision Decide(const std::vector<Vote>& votes, const QuorumPolicy& policy) {
  QuorumDecision d;
  std::vector<size_t> voting;
  for (size_t i = 0; i < votes.size(); ++i)
    if (votes[i].outcome != Outcome::kInfraError) voting.push_back(i);
  d.voting = static_cast<int>(voting.size());

  // Agreement need not be transitive when digests are missing, so build, from
  // each seed, the group of votes agreeing with every member so far, keeping
  // one vote per account; the largest group wins (earliest seed on ties).
  std::vector<size_t> best;
  for (size_t seed : voting) {
    std::vector<size_t> group{seed};
    std::set<std::string> accounts{votes[seed].account};
    for (size_t j : voting) {
      if (j == seed || accounts.count(votes[j].account)) continue;
      bool all = std::all_of(group.begin(), group.end(),
                             [&](size_t g) { return Agree(votes[g], votes[j]); });
      if (all) {
        group.push_back(j);
        accounts.insert(votes[j].account);
      }
    }
    if (group.size() > best.size()) best = group;
  }

  if (static_cast<int>(best.size()) >= policy.quorum) {
    d.kind = QuorumDecision::Kind::kVerdict;
    d.agreeing.assign(best.begin(), best.begin() + policy.quorum);
    d.outcome = votes[best[0]].outcome;
    d.reason = std::to_string(d.agreeing.size()) + " volunteers of different accounts agreed";
    return d;
  }
  if (d.voting >= policy.max_results) {
    d.kind = QuorumDecision::Kind::kInconclusive;
    d.reason = std::to_string(d.voting) + " results never reached " +
               std::to_string(policy.quorum) + " in agreement";
    return d;
  }
  d.kind = QuorumDecision::Kind::kNeedMore;
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
