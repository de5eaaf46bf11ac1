// The order in which tasks are handed out (DESIGN.md section 3): new releases
// first, then the backlog; within each, projects by download rank (most
// downloaded first; a project's newer releases before its older ones), then
// the unranked projects, newest upload first. A task's priority is fixed when
// it is created and is part of its queue key (scheduler.h), so the dispatch
// cache reads the queue in this order and a new release's tasks jump ahead
// of everything already waiting.
#pragma once

#include <cstdint>
#include <string>

namespace corral::coordinator {

// Layout of a priority, most significant first:
//   bit 62       tier: 0 new release, 1 backlog
//   bits 40-61   download rank (1 = most downloaded); kUnranked when unknown
//   bits 0-39    2^40 - 1 - upload time (unix seconds): newer first, unknown last
inline constexpr uint64_t kBacklogTier = 1ull << 62;
inline constexpr uint64_t kUnranked = (1ull << 22) - 1;  // ranks from here on count as unranked
inline constexpr int kRankShift = 40;

// A task's priority (smaller goes first). `download_rank` <= 0 means
// unranked; `upload_unix` <= 0 means unknown.
uint64_t TaskPriority(bool new_release, int64_t download_rank, int64_t upload_unix);

// Reads a PEP 700 upload time ("2024-03-01T10:00:00.000000Z", fractions and
// the zone suffix optional, UTC assumed); 0 when it is not one.
int64_t ParseUploadTime(const std::string& upload_time);

// True when `priority` belongs to the new-release tier.
inline bool IsNewReleasePriority(uint64_t priority) { return priority < kBacklogTier; }

}  // namespace corral::coordinator
