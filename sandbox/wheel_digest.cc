#include "sandbox/wheel_digest.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/archive_error.h"
#include "common/crypto.h"

namespace corral::sandbox {

namespace {

bool IsRecordFile(std::string_view path) {
  size_t slash = path.find('/');
  if (slash == std::string_view::npos || path.find('/', slash + 1) != std::string_view::npos)
    return false;
  std::string_view dir = path.substr(0, slash), name = path.substr(slash + 1);
  if (dir.size() < 10 || dir.substr(dir.size() - 10) != ".dist-info") return false;
  return name == "RECORD" || name == "RECORD.jws" || name == "RECORD.p7s";
}

}  // namespace

bool WheelContentDigest(const std::filesystem::path& wheel, std::string* digest,
                        std::string* err) {
  constexpr size_t kMaxEntries = 200000;
  constexpr uint64_t kMaxBytes = 8ull << 30;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(),
                                                           &archive_read_free);
  archive_read_support_format_zip_seekable(a.get());
  if (archive_read_open_filename(a.get(), wheel.c_str(), 1 << 16) != ARCHIVE_OK) {
    *err = "cannot open wheel " + wheel.string() + " as a zip: " +
           ArchiveError(a.get());
    return false;
  }
  std::vector<std::pair<std::string, std::string>> files;
  uint64_t total = 0;
  archive_entry* entry = nullptr;
  std::vector<char> buf(1 << 16);
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      *err = "wheel " + wheel.string() + " is not a valid zip: " + ArchiveError(a.get());
      return false;
    }
    if (files.size() >= kMaxEntries) {
      *err = "wheel " + wheel.string() + " has more than 200000 entries";
      return false;
    }
    if (archive_entry_filetype(entry) == AE_IFDIR) continue;
    std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (IsRecordFile(path)) continue;
    Sha256Stream sha;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) {
        *err = "cannot read '" + path + "' in wheel " + wheel.string() + ": " +
               ArchiveError(a.get());
        return false;
      }
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > kMaxBytes) {
        *err = "wheel " + wheel.string() + " unpacks to more than 8 GiB";
        return false;
      }
      sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
    files.emplace_back(std::move(path), sha.FinalHex());
  }
  std::sort(files.begin(), files.end());
  Sha256Stream all;
  for (const auto& [path, hex] : files) {
    all.Update(path);
    all.Update("\t");
    all.Update(hex);
    all.Update("\n");
  }
  *digest = all.FinalHex();
  return true;
}

}  // namespace corral::sandbox
