#include "volunteer/host_environment.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>

#include <sstream>

#include "common/fs_util.h"
#include "sandbox/bwrap_runner.h"

namespace corral::volunteer {

namespace {

// The value of KEY= in an os-release file, without its quotes.
std::string OsReleaseValue(const std::string& text, const std::string& key) {
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.rfind(key + "=", 0) != 0) continue;
    std::string v = line.substr(key.size() + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    return v;
  }
  return "";
}

std::string BwrapVersion(const std::string& path) {
  sandbox::RunLimits limits;
  limits.timeout_s = 5;
  limits.max_log_bytes = 4096;
  sandbox::RunExit exit;
  std::string err;
  if (!sandbox::RunProcess({path, "--version"}, {"PATH=/usr/bin:/bin"}, limits, -1, &exit, &err) ||
      exit.exit_code != 0)
    return "";
  std::string v = exit.log;
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v;
}

}  // namespace

HostEnvironment DescribeHost() {
  HostEnvironment h;
  std::string text, err;
  if (ReadFile("/etc/os-release", &text, &err) || ReadFile("/usr/lib/os-release", &text, &err)) {
    h.os = OsReleaseValue(text, "PRETTY_NAME");
    if (h.os.empty()) h.os = OsReleaseValue(text, "NAME") + " " + OsReleaseValue(text, "VERSION_ID");
  } else {
    h.os = "unknown (" + err + ")";
  }
  struct utsname u;
  if (uname(&u) == 0) {
    h.kernel = std::string(u.sysname) + " " + u.release + " " + u.version;
    h.arch = u.machine;
  } else {
    h.kernel = h.arch = "unknown (uname failed)";
  }
  h.libc = std::string("glibc ") + gnu_get_libc_version();
  std::string bwrap = sandbox::BwrapPath();
  if (bwrap.empty()) {
    h.bwrap = "bubblewrap not installed";
  } else {
    std::string v = BwrapVersion(bwrap);
    h.bwrap = (v.empty() ? "bubblewrap (version unknown)" : v) + " at " + bwrap;
  }
  return h;
}

std::string HostEnvironmentLine(const HostEnvironment& h) {
  return h.os + "; kernel " + h.kernel + "; " + h.arch + "; " + h.libc + "; " + h.bwrap;
}

}  // namespace corral::volunteer
