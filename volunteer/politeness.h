// How the volunteer stays out of its owner's way (DESIGN.md section 5): a low
// CPU and I/O priority that every sandbox inherits, and no new work while
// the machine is busy.
#pragma once

#include <string>

namespace corral::volunteer {

// Sets nice (0..19) and the I/O scheduling class ("idle", "best-effort" at
// its lowest level, or "none": unchanged) for every thread of this process;
// threads and processes started later inherit them. Raising priority back
// needs CAP_SYS_NICE, so a reload towards 0 may fail: false with *err.
bool ApplyPriority(int nice, const std::string& ionice, std::string* err);

// The 1-minute load average from /proc/loadavg.
bool ReadLoadAverage(double* one_minute, std::string* err);

// Whether the daemon may lease now, given the 1-minute load and how many
// tasks it runs itself. max_load > 0: load must not exceed it. idle_only:
// load less `running` must be below 0.5. When false, *why says which limit
// held it back, for the log.
bool LeaseAllowed(double load, int running, double max_load, bool idle_only, std::string* why);

}  // namespace corral::volunteer
