#include "volunteer/download_cache.h"

#include <algorithm>
#include <vector>

namespace corral::volunteer {

namespace fs = std::filesystem;

void TouchCached(const fs::path& file) {
  std::error_code ec;
  fs::last_write_time(file, fs::file_time_type::clock::now(), ec);
}

bool TrimCache(const fs::path& dir, uint64_t cap_bytes, const std::set<std::string>& in_use, CacheTrim* out,
               std::string* err) {
  *out = CacheTrim{};
  // One cached file, as listed, so the list can be ordered by age.
  struct File {
    fs::path path;
    uint64_t size;
    fs::file_time_type mtime;
    bool removable;
  };
  std::vector<File> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return true;
    *err = "listing the download cache " + dir.string() + ": " + ec.message();
    return false;
  }
  uint64_t total = 0;
  for (const auto& e : it) {
    std::error_code fe;
    if (!e.is_regular_file(fe)) continue;
    uint64_t size = e.file_size(fe);
    if (fe) continue;
    auto mtime = e.last_write_time(fe);
    std::string name = e.path().filename().string();
    bool removable = !in_use.count(name) && name.find(".part-") == std::string::npos;
    files.push_back({e.path(), size, mtime, removable});
    total += size;
  }
  if (cap_bytes > 0 && total > cap_bytes) {
    std::sort(files.begin(), files.end(), [](const File& a, const File& b) { return a.mtime < b.mtime; });
    for (const File& f : files) {
      if (total <= cap_bytes) break;
      if (!f.removable) continue;
      std::error_code re;
      if (fs::remove(f.path, re)) {
        total -= f.size;
        ++out->files_removed;
        out->bytes_removed += f.size;
      }
    }
  }
  out->bytes_left = total;
  return true;
}

}  // namespace corral::volunteer
