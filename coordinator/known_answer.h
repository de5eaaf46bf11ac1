// Known-answer tasks (DESIGN.md section 6): tasks whose verdict is settled are
// re-issued, unannounced, in the same shape as fresh ones (same task, a new
// lease id, the same TaskSpec). A volunteer that contradicts a settled verdict
// is caught at once, without waiting for a peer; one that answers it truly
// earns trust (reputation.h) but no credit: the task was already paid for,
// and a volunteer that looked the answer up on the public matrix must gain
// nothing by copying it.
//
// Only a settled verdict is a known answer: an outcome reached by at least two
// agreeing results with no dissenting one (a task whose replicas ever
// disagreed may be flaky, and contradicting a flaky task is no lie), never
// `unsupported` (decided without building) nor `inconclusive`.
//
// The pool holds, per platform, a bounded random sample of settled task ids in
// memory; the Engine fills it at start-up and with every new verdict, and
// drops a task when its verdict is reopened. Not thread-safe: the Engine
// serialises every call.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/records.h"

namespace corral::coordinator {

// True when `v` may be re-issued as a known answer.
bool IsSettledVerdict(const VerdictRecord& v);

class KnownAnswerPool {
 public:
  explicit KnownAnswerPool(size_t per_platform = 4096, uint64_t seed = 0x5eed);

  // Offers a settled task; when the platform's sample is full it replaces a
  // random member (reservoir sampling keeps the sample uniform).
  void Add(const std::string& platform, const std::string& task_id);
  // Forgets a task (its verdict was reopened).
  void Remove(const std::string& task_id);
  // Up to `n` distinct random candidates among `platforms`, for the caller to
  // screen (not the asker's own tasks).
  std::vector<std::string> Candidates(const std::vector<std::string>& platforms, size_t n);
  size_t size() const { return where_.size(); }

 private:
  struct Sample {
    std::vector<std::string> ids;
    uint64_t seen = 0;
  };
  size_t per_platform_;
  std::mt19937_64 rng_;
  std::map<std::string, Sample> samples_;
  std::unordered_map<std::string, std::string> where_;  // task id -> platform
};

}  // namespace corral::coordinator
