// The download cache (data/cache/files): inputs addressed by sha256, kept so
// that a task leased again, or the same sdist on another interpreter, is not
// fetched twice. Capped in size: the least recently used files go first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

namespace corral::volunteer {

// What a trim did, for the log.
struct CacheTrim {
  int files_removed = 0;
  uint64_t bytes_removed = 0;
  uint64_t bytes_left = 0;
};

// Marks a cached file as just used (its mtime), so eviction keeps it longest.
void TouchCached(const std::filesystem::path& file);

// Removes the oldest regular files of `dir` (by mtime) until the total is at
// most cap_bytes. Files named in `in_use` (by file name) and partial
// downloads (".part-" in the name) are never removed. cap_bytes 0: no cap.
// False with *err only when `dir` cannot be listed; a file that cannot be
// removed is skipped.
bool TrimCache(const std::filesystem::path& dir, uint64_t cap_bytes, const std::set<std::string>& in_use,
               CacheTrim* out, std::string* err);

}  // namespace corral::volunteer
