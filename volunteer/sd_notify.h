// The systemd notification protocol (sd_notify(3)), written by hand so the
// volunteer needs no libsystemd: one datagram per message to the unix
// socket named by $NOTIFY_SOCKET. With Type=notify the unit is "started"
// at READY=1; with WatchdogSec=, systemd restarts a daemon that stops
// sending WATCHDOG=1.
#pragma once

#include <chrono>
#include <string>

namespace corral::volunteer {

// Sends `state` (e.g. "READY=1\nSTATUS=leasing") to $NOTIFY_SOCKET; a leading
// '@' names an abstract socket. Returns false without *err when the
// variable is unset (not run by systemd), false with *err when sending failed.
bool SdNotify(const std::string& state, std::string* err);

// How often to send WATCHDOG=1: half of $WATCHDOG_USEC, or zero when systemd
// asked for no watchdog (unset, or $WATCHDOG_PID names another process).
std::chrono::microseconds WatchdogPingInterval();

// Sends WATCHDOG=1 (with an optional STATUS line) when the ping interval has
// passed since the last one; cheap to call often. Not thread-safe: one
// owner, the daemon's main loop.
class WatchdogPinger {
 public:
  WatchdogPinger() : interval_(WatchdogPingInterval()) {}
  void MaybePing();
  bool enabled() const { return interval_.count() > 0; }

 private:
  std::chrono::microseconds interval_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace corral::volunteer
