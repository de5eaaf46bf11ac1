// `corral volunteer install-service`: runs the daemon as a systemd service
// under a dedicated unprivileged user, hardened as far as bubblewrap allows
// (it needs unprivileged user namespaces, netlink for the sandbox's
// loopback, and a procfs it can mount). packaging/corral-volunteer.service
// is this unit for a binary in /usr/local/bin.
#pragma once

#include <filesystem>
#include <string>

namespace corral::volunteer {

// What to install, where; defaults are those of a normal installation.
struct ServiceOptions {
  std::filesystem::path root = "/";                            // prefix for every path written (tests, packaging)
  std::filesystem::path binary;                                // the corral binary; empty: this process's own
  std::filesystem::path config = "/etc/corral/volunteer.toml"; // written when missing, never overwritten
  std::filesystem::path data_dir = "/var/lib/corral-volunteer";  // = StateDirectory
  std::string coordinator_url;                                 // for a new config file
  std::filesystem::path account_key;                           // copied to /etc/corral/, readable by `user`
  std::string user = "corral";
  bool create_user = true;                                     // useradd --system when missing (only with root "/")
};

// The unit file's text for these options.
std::string ServiceUnitText(const ServiceOptions& options);

// Writes root/etc/systemd/system/corral-volunteer.service (replacing an
// older one), the configuration file when missing, copies the account key,
// creates the user when asked and missing, and prints the systemctl
// commands to run next. Returns a process exit code: 0 done, 2 when a file
// cannot be written or useradd failed (the message says which and why).
int InstallService(const ServiceOptions& options);

}  // namespace corral::volunteer
