#include "coordinator/quota.h"

#include <algorithm>

namespace corral::coordinator {

namespace {
int64_t DayOf(int64_t now) { return now >= 0 ? now / 86400 : -((-now + 86399) / 86400); }
}  // namespace

int64_t QuotaLimit(const DailyQuota& q, const QuotaPolicy& policy) {
  int64_t limit = q.limit < 0 ? policy.initial_per_day : q.limit;
  return std::clamp(limit, policy.min_per_day, policy.max_per_day);
}

int64_t QuotaRemaining(const DailyQuota& q, int64_t now, const QuotaPolicy& policy) {
  int64_t used = q.day == DayOf(now) ? q.used : 0;
  return std::max<int64_t>(0, QuotaLimit(q, policy) - used);
}

void UseQuota(DailyQuota* q, int64_t now, int64_t n, const QuotaPolicy& policy) {
  int64_t day = DayOf(now);
  if (q->day != day) {
    q->day = day;
    q->used = 0;
  }
  q->used += n;
  if (q->limit < 0) q->limit = QuotaLimit(*q, policy);
}

void QuotaOnValid(DailyQuota* q, const QuotaPolicy& policy) {
  q->limit = std::min(policy.max_per_day, QuotaLimit(*q, policy) + policy.grow_per_valid);
}

void QuotaOnFailure(DailyQuota* q, const QuotaPolicy& policy) {
  q->limit = std::max(policy.min_per_day, QuotaLimit(*q, policy) - policy.shrink_per_failure);
}

int64_t ArtifactBytesRemaining(const DailyBytes& b, int64_t now, const QuotaPolicy& policy) {
  int64_t used = b.day == DayOf(now) ? b.bytes : 0;
  return std::max<int64_t>(0, policy.artifact_bytes_per_day - used);
}

void UseArtifactBytes(DailyBytes* b, int64_t now, int64_t n) {
  int64_t day = DayOf(now);
  if (b->day != day) {
    b->day = day;
    b->bytes = 0;
  }
  b->bytes += n;
}

int64_t SecondsToNextDay(int64_t now) { return (DayOf(now) + 1) * 86400 - now; }

}  // namespace corral::coordinator
