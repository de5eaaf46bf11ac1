// Unpacking untrusted archives (DESIGN.md section 5, "Archives"). An sdist is
// the first thing a volunteer touches that the package author controls, so it
// is extracted in C++ with libarchive's secure flags before any Python runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace corral::sandbox {

// Caps on what one archive may unpack to. Defaults suit PyPI sdists (the
// largest real ones are a few hundred MB unpacked).
struct ExtractLimits {
  uint64_t max_entries = 100000;
  uint64_t max_bytes = 2ull << 30;  // real bytes written, all files together
  // Unpacked/packed ratio beyond which an archive is a bomb; only checked
  // once more than `ratio_floor_bytes` have been written.
  double max_ratio = 200.0;
  uint64_t ratio_floor_bytes = 64ull << 20;
};

// Why an extraction stopped, which decides the task's outcome.
enum class ExtractFailure {
  kNone,
  kRefused,  // an entry breaks the rules (link, device, '..', absolute): build_failed
  kLimit,    // entries, bytes or ratio cap reached (a bomb): resource_exhausted
  kDamaged,  // not a readable archive: build_failed
  kIo,       // our own disk or folder failed: infra_error
};

// What an extraction did, for the log.
struct ExtractStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  ExtractFailure failure = ExtractFailure::kNone;  // set when SafeExtract returns false
};

// Extracts `archive` (tar, tar.gz/bz2/xz, zip) into the existing folder
// `dest`. Only regular files and folders are accepted: symlinks, hard links,
// devices, FIFOs and sockets are refused, as are absolute paths and `..`
// components (libarchive's SECURE_NODOTDOT | SECURE_SYMLINKS |
// SECURE_NOABSOLUTEPATHS, plus our own check). Any refusal or cap stops the
// extraction and returns false with *err naming the entry and the rule;
// `dest` may then hold a partial tree. Thread-safe: the working directory is
// changed only in a private helper thread (unshare(CLONE_FS)).
bool SafeExtract(const std::filesystem::path& archive, const std::filesystem::path& dest,
                 const ExtractLimits& limits, ExtractStats* stats, std::string* err);

}  // namespace corral::sandbox
