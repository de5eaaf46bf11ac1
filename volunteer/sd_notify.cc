#include "volunteer/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace corral::volunteer {

bool SdNotify(const std::string& state, std::string* err) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (!name || !*name) return false;
  std::string path(name);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof(addr.sun_path)) {
    *err = "NOTIFY_SOCKET=" + path + " is not a unix socket path";
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("sd_notify: socket: ") + std::strerror(errno);
    return false;
  }
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int saved = errno;
  close(fd);
  if (n != static_cast<ssize_t>(state.size())) {
    *err = "sd_notify to " + path + ": " + (n < 0 ? std::strerror(saved) : "short write");
    return false;
  }
  return true;
}

std::chrono::microseconds WatchdogPingInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec || !*usec) return std::chrono::microseconds(0);
  if (const char* pid = std::getenv("WATCHDOG_PID"); pid && *pid && std::atol(pid) != getpid())
    return std::chrono::microseconds(0);
  long long v = std::atoll(usec);
  return std::chrono::microseconds(v > 0 ? v / 2 : 0);
}

void WatchdogPinger::MaybePing() {
  if (interval_.count() <= 0) return;
  auto now = std::chrono::steady_clock::now();
  if (last_.time_since_epoch().count() != 0 && now - last_ < interval_) return;
  last_ = now;
  std::string err;
  SdNotify("WATCHDOG=1", &err);
}

}  // namespace corral::volunteer
