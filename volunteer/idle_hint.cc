#include "volunteer/idle_hint.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <vector>

#include "sandbox/bwrap_runner.h"

namespace corral::volunteer {

namespace {

std::string FindLoginctl() {
  std::vector<std::string> dirs = {"/usr/bin", "/bin"};
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':'))
      if (!d.empty()) dirs.push_back(d);
  }
  for (const auto& d : dirs) {
    std::string p = d + "/loginctl";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string FirstLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s.size() > 160 ? s.substr(0, 157) + "..." : s;
}

}  // namespace

bool ParseIdleHint(const std::string& text, bool* idle, std::string* err) {
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("IdleHint=", 0) != 0) continue;
    std::string v = line.substr(9);
    if (v == "yes") {
      *idle = true;
      return true;
    }
    if (v == "no") {
      *idle = false;
      return true;
    }
    *err = "loginctl said IdleHint=" + v + ", expected yes or no";
    return false;
  }
  *err = "loginctl's answer has no IdleHint= line: " + FirstLine(text);
  return false;
}

LogindIdleHint::LogindIdleHint(std::string loginctl, std::chrono::seconds refresh)
    : loginctl_(loginctl.empty() ? FindLoginctl() : std::move(loginctl)), refresh_(refresh) {}

bool LogindIdleHint::Read(bool* idle, std::string* why) {
  auto now = std::chrono::steady_clock::now();
  if (!asked_once_ || now - asked_ >= refresh_) {
    asked_once_ = true;
    asked_ = now;
    available_ = false;
    if (loginctl_.empty()) {
      why_ = "loginctl is not installed";
    } else {
      sandbox::RunLimits limits;
      limits.timeout_s = 3;  // logind that hangs must not stall the daemon
      limits.no_output_timeout_s = 3;
      limits.max_log_bytes = 16 << 10;
      limits.rlimits = sandbox::ResourceLimits{};
      sandbox::RunExit exit;
      std::string err;
      std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"};
      if (!sandbox::RunProcess({loginctl_, "--no-pager", "show-session", "--property=IdleHint"}, env, limits,
                               -1, &exit, &err)) {
        why_ = loginctl_ + ": " + err;
      } else if (exit.wall_timeout || exit.quiet_timeout) {
        why_ = loginctl_ + " did not answer within 3 s";
      } else if (exit.exit_code != 0) {
        why_ = loginctl_ + ": " + FirstLine(exit.log);
      } else if (!ParseIdleHint(exit.log, &idle_, &err)) {
        why_ = err;
      } else {
        available_ = true;
        why_.clear();
      }
    }
  }
  if (!available_) {
    *why = why_;
    return false;
  }
  *idle = idle_;
  return true;
}

}  // namespace corral::volunteer
