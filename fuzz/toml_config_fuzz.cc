// libFuzzer target: the volunteer's TOML configuration file (volunteer.toml),
// read at start and on SIGHUP. Bad input must be an error naming the line,
// never a crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "volunteer/config.h"
#include "volunteer/daemon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("corral-fuzz-config-" + std::to_string(getpid()) + ".toml");
  if (FILE* f = std::fopen(file.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    return 0;
  }
  corral::volunteer::DaemonOptions options;
  std::string err;
  corral::volunteer::LoadConfig(file, &options, &err);
  return 0;
}
