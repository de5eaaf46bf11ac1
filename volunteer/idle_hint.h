// Whether the machine's owner is using it, for idle_only (DESIGN.md section
// 5). systemd-logind knows best: its IdleHint is "no" while any session is in
// use (a desktop that reports activity, or a terminal typed into within the
// last minutes). The daemon reads the manager's hint, which covers every
// session, with `loginctl show-session --property=IdleHint` (no session
// argument: the manager itself), so it needs no D-Bus library. Where logind
// does not answer (no systemd, containers) only the load average decides;
// the daemon logs which source it uses.
#pragma once

#include <chrono>
#include <string>

namespace corral::volunteer {

// Reads loginctl's "IdleHint=yes|no" line. False with *err when the text
// has no such line or an unexpected value.
bool ParseIdleHint(const std::string& loginctl_output, bool* idle, std::string* err);

// logind's idle hint, asked at most once per `refresh`; the answer in
// between is the cached one. Not thread-safe (one owner: the main loop).
class LogindIdleHint {
 public:
  // `loginctl`: the program to run; empty: found in /usr/bin, /bin or $PATH.
  explicit LogindIdleHint(std::string loginctl = "",
                          std::chrono::seconds refresh = std::chrono::seconds(10));

  // True with *idle when logind answered (now or within `refresh`); false
  // with *why ("loginctl: System has not been booted with systemd ...")
  // when it is unavailable, and then the caller falls back to the load.
  bool Read(bool* idle, std::string* why);

 private:
  std::string loginctl_;
  std::chrono::seconds refresh_;
  std::chrono::steady_clock::time_point asked_{};
  bool asked_once_ = false, available_ = false, idle_ = true;
  std::string why_;
};

}  // namespace corral::volunteer
