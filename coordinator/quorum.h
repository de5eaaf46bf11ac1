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
  std::string prefix;  // the sender's network (network_prefix.h); "" when unknown
  Outcome outcome = Outcome::kInfraError;
  std::vector<std::string> failing_tests;  // any order; compared as a set
  std::string wheel_content_digest;        // "" when no wheel was built
  double total_seconds = 0;
  std::string summary;
  // Stored but without a vote: its volunteer was suspended for lying, or it
  // answered a known-answer check (known_answer.h) rather than a replica.
  bool excluded = false;
  // Its volunteer has standing (reputation.h, Established): trusted by the
  // operator, or validated by established volunteers of other accounts.
  bool established = false;
};

// How much agreement a verdict needs.
struct QuorumPolicy {
  int quorum = 2;       // agreeing results from distinct accounts
  int max_results = 5;  // voting results after which the task is inconclusive
  // Agreeing results must also come from distinct network prefixes (/24,
  // /48). On for `corral serve`; off where every volunteer shares one
  // network, as in `corral demo` on one machine.
  bool distinct_prefix = true;
  // Standing (issue "verdicts a colluding ring cannot forge"): a verdict's
  // agreeing group must hold an established vote, and disagreeing groups are
  // ranked by their established votes before their size, so that a group of
  // newcomers agreeing among themselves never decides. On for `corral
  // serve`.
  bool require_established = false;
};

// How two results differ. A wheel digest difference alone is told apart: an
// honest volunteer with another compiler can build a different wheel, so the
// verifier does not take it as a lie (reputation.h), though it never agrees.
enum class Difference { kNone, kDigestOnly, kResult };

// Outcomes that mean a wheel was built (or, for a wheel-only release, given),
// so that the wheel's content digest is part of the result.
bool OutcomeHasWheel(Outcome outcome);

// kNone when outcome and failing-test set agree and, for outcomes with a
// wheel, so does the wheel content digest; kDigestOnly when only the digests
// differ, both present; kResult otherwise (a digest missing where the other
// result has one included: a built outcome without its wheel is no
// compiler's doing).
// infra_error differs from everything, itself included.
Difference Compare(const Vote& a, const Vote& b);

// Two results agree when Compare finds no difference.
bool Agree(const Vote& a, const Vote& b);

struct QuorumDecision {
  enum class Kind { kNeedMore, kVerdict, kInconclusive };
  Kind kind = Kind::kNeedMore;
  Outcome outcome = Outcome::kInfraError;  // for kVerdict
  std::vector<size_t> agreeing;            // indices into the votes, one per account
  int voting = 0;                          // results that are not infra_error
  int wanted = 0;                          // kNeedMore: more voting results wanted now
  bool needs_established = false;          // kNeedMore: only an established volunteer may add one
  std::string reason;                      // one line, for the verdict's evidence
};

// Decides from every result stored for one task. infra_error and excluded
// results never vote. With require_established, a group needs an
// established vote to decide; groups are ranked by established votes, then
// size; newcomers' votes alone never make a task inconclusive (only
// `max_results` voting results of which `quorum` are established, or three
// times max_results in all); when newcomers agree in a quorum, or are
// max_results without a verdict, the task waits for one established
// replica (needs_established). A verdict needs `quorum` mutually agreeing results from
// distinct accounts (and distinct prefixes, when the policy says so); with
// `max_results` voting results and no such group the task is inconclusive. Otherwise says how many more replicas to run at once: up to
// the quorum at first, one at a time after a disagreement.
QuorumDecision Decide(const std::vector<Vote>& votes, const QuorumPolicy& policy);

}  // namespace corral::coordinator
