#include "coordinator/known_answer.h"

#include <algorithm>

#include "common/outcome.h"

namespace corral::coordinator {

bool IsSettledVerdict(const VerdictRecord& v) {
  auto o = ParseOutcome(v.status);
  if (!o || *o == Outcome::kUnsupported || IsSpurious(*o)) return false;
  return v.agreeing >= 2 && v.results == v.agreeing;
}

KnownAnswerPool::KnownAnswerPool(size_t per_platform, uint64_t seed)
    : per_platform_(std::max<size_t>(1, per_platform)), rng_(seed) {}

void KnownAnswerPool::Add(const std::string& platform, const std::string& task_id) {
  if (where_.count(task_id)) return;
  Sample& s = samples_[platform];
  ++s.seen;
  if (s.ids.size() < per_platform_) {
    s.ids.push_back(task_id);
    where_[task_id] = platform;
    return;
  }
  uint64_t k = std::uniform_int_distribution<uint64_t>(0, s.seen - 1)(rng_);
  if (k >= s.ids.size()) return;
  where_.erase(s.ids[k]);
  s.ids[k] = task_id;
  where_[task_id] = platform;
}

void KnownAnswerPool::Remove(const std::string& task_id) {
  auto it = where_.find(task_id);
  if (it == where_.end()) return;
  Sample& s = samples_[it->second];
  auto pos = std::find(s.ids.begin(), s.ids.end(), task_id);
  if (pos != s.ids.end()) {
    *pos = s.ids.back();
    s.ids.pop_back();
  }
  where_.erase(it);
}

std::vector<std::string> KnownAnswerPool::Candidates(const std::vector<std::string>& platforms,
                                                     size_t n) {
  std::vector<const std::vector<std::string>*> lists;
  size_t total = 0;
  for (const auto& p : platforms) {
    auto it = samples_.find(p);
    if (it != samples_.end() && !it->second.ids.empty()) {
      lists.push_back(&it->second.ids);
      total += it->second.ids.size();
    }
  }
  std::vector<std::string> out;
  for (size_t tries = 0; total > 0 && out.size() < n && tries < 4 * n; ++tries) {
    // Uniform over the union of the platforms' samples.
    uint64_t k = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng_);
    for (const auto* l : lists) {
      if (k < l->size()) {
        const std::string& id = (*l)[k];
        if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
        break;
      }
      k -= l->size();
    }
  }
  return out;
}

}  // namespace corral::coordinator
