#include "sandbox/archive_extract.h"
#include "common/archive_error.h"

#include <archive.h>
#include <archive_entry.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

namespace corral::sandbox {

namespace {

// Our own check on the archive's names, before libarchive's: no absolute
// paths, no `..` component, nothing empty.
bool PathAcceptable(std::string_view p, std::string* why) {
  if (p.empty()) {
    *why = "an entry has an empty name";
    return false;
  }
  if (p.front() == '/') {
    *why = "absolute path";
    return false;
  }
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    if (p.substr(start, end - start) == "..") {
      *why = "'..' component escapes the extraction folder";
      return false;
    }
    start = end + 1;
  }
  return true;
}

const char* KindName(mode_t type) {
  switch (type) {
    case AE_IFLNK: return "symbolic link";
    case AE_IFCHR: return "character device";
    case AE_IFBLK: return "block device";
    case AE_IFIFO: return "FIFO";
    case AE_IFSOCK: return "socket";
    default: return "special file";
  }
}

// Runs in a thread whose working directory is private (unshare(CLONE_FS)),
// so the relative names libarchive's secure flags require resolve in `dest`.
void ExtractInThread(const std::filesystem::path& archive_path,
                     const std::filesystem::path& dest, const ExtractLimits& limits,
                     ExtractStats* stats, std::string* err, bool* ok) {
  *ok = false;
  if (unshare(CLONE_FS) != 0) {
    *err = std::string("cannot give the extraction thread its own working directory: ") +
           std::strerror(errno);
    stats->failure = ExtractFailure::kIo;
    return;
  }
  if (chdir(dest.c_str()) != 0) {
    *err = "cannot enter extraction folder " + dest.string() + ": " + std::strerror(errno);
    stats->failure = ExtractFailure::kIo;
    return;
  }
  std::error_code ec;
  uint64_t packed = std::filesystem::file_size(archive_path, ec);
  if (ec) packed = 0;

  std::unique_ptr<archive, decltype(&archive_read_free)> in(archive_read_new(),
                                                            &archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  archive_read_support_format_zip(in.get());
  std::unique_ptr<archive, decltype(&archive_write_free)> out(archive_write_disk_new(),
                                                              &archive_write_free);
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    *err = "cannot open archive " + archive_path.filename().string() + ": " +
           ArchiveError(in.get());
    stats->failure = ExtractFailure::kDamaged;
    return;
  }
  std::string name = archive_path.filename().string();
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      *err = "archive " + name + " is damaged or of an unknown kind: " +
             ArchiveError(in.get());
      stats->failure = ExtractFailure::kDamaged;
      return;
    }
    // The UTF-8 name first: in a C locale (a daemon under systemd) the
    // locale's form of a non-ASCII name is missing and the read says WARN.
    const char* raw = archive_entry_pathname_utf8(entry);
    if (!raw) raw = archive_entry_pathname(entry);
    std::string path = raw ? raw : "";
    if (++stats->entries > limits.max_entries) {
      *err = "archive " + name + " has more than " + std::to_string(limits.max_entries) +
             " entries; refused";
      stats->failure = ExtractFailure::kLimit;
      return;
    }
    std::string why;
    if (!PathAcceptable(path, &why)) {
      *err = "archive " + name + " refused: entry '" + path + "': " + why;
      stats->failure = ExtractFailure::kRefused;
      return;
    }
    if (archive_entry_hardlink(entry)) {
      *err = "archive " + name + " refused: entry '" + path + "' is a hard link";
      stats->failure = ExtractFailure::kRefused;
      return;
    }
    mode_t type = archive_entry_filetype(entry);
    if (type != AE_IFREG && type != AE_IFDIR) {
      *err = "archive " + name + " refused: entry '" + path + "' is a " + KindName(type) +
             " (only regular files and folders are accepted)";
      stats->failure = ExtractFailure::kRefused;
      return;
    }
    // Regular permissions only: no set-id bits, owner always may read/write.
    archive_entry_set_perm(entry, (archive_entry_perm(entry) & 0755) | 0600 |
                                      (type == AE_IFDIR ? 0700 : 0));
    r = archive_write_header(out.get(), entry);
    if (r != ARCHIVE_OK) {
      *err = "archive " + name + " refused: entry '" + path + "': " +
             ArchiveError(out.get());
      stats->failure = ExtractFailure::kRefused;
      return;
    }
    if (type == AE_IFREG) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      for (;;) {
        r = archive_read_data_block(in.get(), &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
          *err = "archive " + name + ": cannot read entry '" + path + "': " +
                 ArchiveError(in.get());
          stats->failure = ExtractFailure::kDamaged;
          return;
        }
        stats->bytes += size;
        if (stats->bytes > limits.max_bytes) {
          *err = "archive " + name + " unpacks to more than " +
                 std::to_string(limits.max_bytes >> 20) + " MiB; refused";
          stats->failure = ExtractFailure::kLimit;
          return;
        }
        if (packed > 0 && stats->bytes > limits.ratio_floor_bytes &&
            static_cast<double>(stats->bytes) / static_cast<double>(packed) > limits.max_ratio) {
          *err = "archive " + name + " expands more than " +
                 std::to_string(static_cast<int>(limits.max_ratio)) +
                 "x (a decompression bomb?); refused";
          stats->failure = ExtractFailure::kLimit;
          return;
        }
        if (archive_write_data_block(out.get(), buf, size, offset) != ARCHIVE_OK) {
          *err = "cannot write '" + path + "' from archive " + name + ": " +
                 ArchiveError(out.get());
          stats->failure = ExtractFailure::kIo;
          return;
        }
      }
    }
    if (archive_write_finish_entry(out.get()) != ARCHIVE_OK) {
      *err = "cannot finish '" + path + "' from archive " + name + ": " +
             ArchiveError(out.get());
      stats->failure = ExtractFailure::kIo;
      return;
    }
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    *err = "cannot finish extracting archive " + name + ": " + ArchiveError(out.get());
    stats->failure = ExtractFailure::kIo;
    return;
  }
  *ok = true;
}

}  // namespace

bool SafeExtract(const std::filesystem::path& archive_path, const std::filesystem::path& dest,
                 const ExtractLimits& limits, ExtractStats* stats, std::string* err) {
  ExtractStats local;
  if (!stats) stats = &local;
  *stats = ExtractStats{};
  std::filesystem::path abs_archive = std::filesystem::absolute(archive_path);
  std::filesystem::path abs_dest = std::filesystem::absolute(dest);
  bool ok = false;
  std::thread worker(ExtractInThread, std::cref(abs_archive), std::cref(abs_dest),
                     std::cref(limits), stats, err, &ok);
  worker.join();
  return ok;
}

}  // namespace corral::sandbox
