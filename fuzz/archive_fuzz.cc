// libFuzzer target: archive extraction (the sdists and wheels a volunteer
// unpacks come from an index nobody vouches for). The input is written as
// an archive file and extracted with small caps into a fresh folder; the
// wheel content digest is computed over it too. Links, absolute paths, `..`
// and bombs must be refused with an error, never a crash or a write outside
// the folder.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "sandbox/archive_extract.h"
#include "sandbox/wheel_digest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const fs::path base = fs::temp_directory_path() / ("corral-fuzz-archive-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove_all(base, ec);
  fs::create_directories(base / "out", ec);
  const fs::path file = base / "input.tar.gz";
  if (FILE* f = std::fopen(file.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  corral::sandbox::ExtractLimits limits;
  limits.max_entries = 200;
  limits.max_bytes = 4u << 20;
  limits.ratio_floor_bytes = 1u << 20;
  corral::sandbox::ExtractStats stats;
  std::string err;
  corral::sandbox::SafeExtract(file, base / "out", limits, &stats, &err);
  std::string digest;
  corral::sandbox::WheelContentDigest(file, &digest, &err);
  fs::remove_all(base, ec);
  return 0;
}
