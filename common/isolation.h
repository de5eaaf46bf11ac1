// Isolation levels as sets of named features (DESIGN.md section 5: "the
// daemon measures and reports its isolation level; a task needing more is
// not taken"). The sandbox writes its level as a string such as
//
//   bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs=512M;rlimits;
//   timeouts;seccomp=denylist;cgroups=memory,pids,cpu;disk-cap
//
// and a requirement is written the same way, listing only what it needs
// ("bwrap:net;seccomp=denylist;cgroups=pids"). A level satisfies a
// requirement when it has every feature the requirement names; sizes (the
// tmpfs's) are not compared, only presence.
#pragma once

#include <set>
#include <string>

namespace corral {

// The features of a level or requirement: "bwrap", "ns:net" (one per
// namespace), "caps=none", "ro-host", "tmpfs", "rlimits", "timeouts",
// "seccomp=denylist" (absent for seccomp=none), "cgroup:memory" (one per
// controller), "disk-cap", and any other ';'-separated word as written.
std::set<std::string> IsolationFeatures(const std::string& level);

// True when `level` has every feature of `requirement` (an empty
// requirement is met by anything, even an empty level). Otherwise false,
// and *missing (may be null) lists the missing features, comma-separated.
bool IsolationSatisfies(const std::string& level, const std::string& requirement,
                        std::string* missing);

}  // namespace corral
