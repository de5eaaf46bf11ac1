// Cross-verification (DESIGN.md section 6): when do replicas of a task agree,
// and when is there enough agreement for a verdict? Pure domain logic: no
// storage, no HTTP, no JSON, so it can be tested and reasoned about alone.
#pragma once

#include <string>
#include <vector>

#include "common/outcome.h"

namespace corral::coordinator {

// What the verifier needs from one result.
struct Vote {
  std::string lease_id, volunteer_id, account;
  Outcome outcome = Outcome::kInfraError;
  std::vector<std::string> failing_tests;  // any order; compared as a set
  std::string wheel_content_digest;        // "" when no wheel was built
  double total_seconds = 0;
  std::string summary;
};

// How much agreement a verdict needs.
struct QuorumPolicy {
  int quorum = 2;       // agreeing results from distinct accounts
  int max_results = 5;  // voting results after which the task is inconclusive
};

// Two results agree when outcome, failing-test set and, when both built a
// wheel, its content digest agree. infra_error agrees with nothing.
bool Agree(const Vote& a, const Vote& b);

struct QuorumDecision {
  enum class Kind { kNeedMore, kVerdict, kInconclusive };
  Kind kind = Kind::kNeedMore;
  Outcome outcome = Outcome::kInfraError;  // for kVerdict
  std::vector<size_t> agreeing;            // indices into the votes, one per account
  int voting = 0;                          // results that are not infra_error
  int wanted = 0;                          // kNeedMore: more voting results wanted now
  std::string reason;                      // one line, for the verdict's evidence
};

// Decides from every result stored for one task. infra_error results never
// vote. A verdict needs `quorum` mutually agreeing results from distinct
// accounts; with `max_results` voting results and no such group the task is
// inconclusive. Otherwise says how many more replicas to run at once: up to
// the quorum at first, one at a time after a disagreement.
QuorumDecision Decide(const std::vector<Vote>& votes, const QuorumPolicy& policy);

}  // namespace corral::coordinator
