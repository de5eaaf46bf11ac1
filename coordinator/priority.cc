#include "coordinator/priority.h"

#include <cstdio>
#include <ctime>

namespace corral::coordinator {

uint64_t TaskPriority(bool new_release, int64_t download_rank, int64_t upload_unix) {
  const uint64_t time_mask = (1ull << kRankShift) - 1;
  uint64_t rank = download_rank > 0 && static_cast<uint64_t>(download_rank) < kUnranked
                      ? static_cast<uint64_t>(download_rank)
                      : kUnranked;
  uint64_t t = upload_unix > 0 && static_cast<uint64_t>(upload_unix) < time_mask
                   ? static_cast<uint64_t>(upload_unix)
                   : 0;
  return (new_release ? 0 : kBacklogTier) | (rank << kRankShift) | (time_mask - t);
}

int64_t ParseUploadTime(const std::string& upload_time) {
  std::tm tm{};
  if (upload_time.size() < 19 ||
      std::sscanf(upload_time.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = static_cast<int64_t>(timegm(&tm));
  return t > 0 ? t : 0;
}

}  // namespace corral::coordinator
