#include "volunteer/pause_file.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "common/fs_util.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

namespace {

std::string UserName() {
  if (const passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "uid " + std::to_string(getuid());
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int PauseDaemon(const fs::path& data_dir, bool pause) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    std::fprintf(stderr, "no volunteer data folder at %s; pass the daemon's --data DIR\n", data_dir.c_str());
    return 2;
  }
  fs::path file = data_dir / "paused";
  std::string who;
  bool paused = IsPaused(data_dir, &who);
  if (pause) {
    if (paused) {
      std::printf("already paused (%s)\n", who.c_str());
      return 0;
    }
    std::string err;
    if (!WriteFileAtomic(file, "by " + UserName() + " at " + UtcNow() + "\n", &err)) {
      std::fprintf(stderr, "cannot pause: %s\n", err.c_str());
      return 2;
    }
    std::printf("paused: the daemon using %s leases no new tasks; running ones finish. "
                "`corral volunteer resume` undoes it\n",
                data_dir.c_str());
    return 0;
  }
  if (!paused) {
    std::printf("not paused\n");
    return 0;
  }
  if (!fs::remove(file, ec) && ec) {
    std::fprintf(stderr, "cannot resume: removing %s: %s\n", file.c_str(), ec.message().c_str());
    return 2;
  }
  std::printf("resumed (had been paused %s)\n", who.c_str());
  return 0;
}

bool IsPaused(const fs::path& data_dir, std::string* who) {
  fs::path file = data_dir / "paused";
  std::error_code ec;
  if (!fs::exists(file, ec)) return false;
  std::string text, err;
  if (ReadFile(file, &text, &err)) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    *who = text.empty() ? "by someone" : text;
  } else {
    *who = "(unreadable: " + err + ")";
  }
  return true;
}

}  // namespace corral::volunteer
