// What this machine is, stated in the daemon's log at start (with each
// interpreter and its build) so that any failure it reports can be
// reproduced on another machine with the same OS, kernel and libc.
#pragma once

#include <string>

namespace corral::volunteer {

struct HostEnvironment {
  std::string os;       // PRETTY_NAME of /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)"
  std::string kernel;   // "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1"
  std::string arch;     // "x86_64"
  std::string libc;     // "glibc 2.36"
  std::string bwrap;    // "bubblewrap 0.8.0 at /usr/bin/bwrap", or "bubblewrap not installed"
};

// Reads the above; fields that cannot be read say "unknown (why)".
HostEnvironment DescribeHost();

// One line for the log: "Debian GNU/Linux 12 (bookworm); kernel ...; x86_64; glibc 2.36; ...".
std::string HostEnvironmentLine(const HostEnvironment& host);

}  // namespace corral::volunteer
