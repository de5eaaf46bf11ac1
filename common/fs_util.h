// Small file helpers with the error style used everywhere: false and a
// message naming the file and the system's reason.
#pragma once

#include <filesystem>
#include <string>

namespace corral {

bool ReadFile(const std::filesystem::path& path, std::string* out, std::string* err);
// Writes to a temporary file beside `path`, fsyncs it and renames it over
// `path`, so readers see the old or the new content, never a mix.
bool WriteFileAtomic(const std::filesystem::path& path, const std::string& data,
                     std::string* err, int mode = 0644);
// Creates `dir` and its parents; false with *err when impossible.
bool EnsureDir(const std::filesystem::path& dir, std::string* err);
// Seconds since the epoch.
int64_t NowSeconds();

}  // namespace corral
