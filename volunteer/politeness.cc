#include "volunteer/politeness.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <vector>
#include <spdlog/fmt/fmt.h>

#include "common/fs_util.h"

namespace corral::volunteer {

namespace {

// From linux/ioprio.h, which not every libc ships.
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassBe = 2;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioWhoProcess = 1;

}  // namespace

bool ApplyPriority(int nice, const std::string& ionice, std::string* err) {
  int ioprio = -1;
  if (ionice == "idle") ioprio = kIoprioClassIdle << kIoprioClassShift;
  else if (ionice == "best-effort") ioprio = (kIoprioClassBe << kIoprioClassShift) | 7;
  else if (ionice != "none" && !ionice.empty()) {
    *err = "ionice must be idle, best-effort or none, not \"" + ionice + "\"";
    return false;
  }
  // On Linux both settings belong to a thread, not to the process: set
  // them on each thread that exists now; later ones inherit them.
  std::error_code ec;
  std::vector<pid_t> tids;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec))
    tids.push_back(static_cast<pid_t>(std::atoi(e.path().filename().c_str())));
  if (tids.empty()) tids.push_back(0);
  std::string problems;
  for (pid_t tid : tids) {
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0 && errno != ESRCH)
      problems = fmt::format("setting nice {}: {} (lowering it needs CAP_SYS_NICE; restart the daemon)",
                             nice, std::strerror(errno));
    if (ioprio >= 0 && syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, ioprio) != 0 && errno != ESRCH)
      problems = fmt::format("setting I/O class {}: {}", ionice, std::strerror(errno));
  }
  if (!problems.empty()) {
    *err = problems;
    return false;
  }
  return true;
}

bool ReadLoadAverage(double* one_minute, std::string* err) {
  std::string text;
  if (!ReadFile("/proc/loadavg", &text, err)) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) {
    *err = "/proc/loadavg does not start with a number: " + text.substr(0, 40);
    return false;
  }
  *one_minute = v;
  return true;
}

bool LeaseAllowed(double load, int running, double max_load, bool idle_only, std::string* why) {
  if (max_load > 0 && load > max_load) {
    *why = fmt::format("the 1-minute load {:.2f} is above max_load {:.2f}", load, max_load);
    return false;
  }
  if (idle_only && load - running >= 0.5) {
    *why = fmt::format("idle_only and the machine is in use (1-minute load {:.2f}, {} of it ours at most)",
                       load, running);
    return false;
  }
  return true;
}

}  // namespace corral::volunteer
