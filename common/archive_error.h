// libarchive's error text for a handle, never null: archive_error_string
// returns NULL when libarchive set no message (an empty or unrecognised
// file, some write failures), and appending NULL to a std::string crashes.
// Found by the archive fuzz target (fuzz/archive_fuzz.cc).
#pragma once

#include <archive.h>

#include <string>

namespace corral {

// The handle's last error message, or "unknown libarchive error". No locking:
// the handle is the caller's.
inline std::string ArchiveError(struct archive* a) {
  const char* s = a ? archive_error_string(a) : nullptr;
  return s ? s : "unknown libarchive error";
}

}  // namespace corral
