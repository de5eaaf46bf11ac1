// Telling "the package failed" from "the package hit a limit" (DESIGN.md
// section 2: resource_exhausted is memory, disk, processes or output limit
// reached). A memory bomb ends as a MemoryError in a test or an OOM-killed
// process; a fork bomb as EAGAIN from fork or a refused fork in the pids
// cgroup; a disk filler as ENOSPC on the tmpfs or EFBIG/SIGXFSZ at the
// file-size limit. Without this, each would read as tests_failed or timeout,
// which says something false about the package.
#pragma once

#include <string>

#include "sandbox/cgroup_limits.h"

namespace corral::sandbox {

// The output of the step that failed: from the last "==> [corral] STEP"
// header of `log` (STEP empty: the last header of any step) to the end,
// at most the last `max_bytes`.
std::string StepOutput(const std::string& log, const std::string& step, size_t max_bytes = 1 << 20);

// Evidence that a failed or killed run reached a limit, as one human line
// ("memory limit reached: MemoryError"), or "" when there is none. Looks at
// the cgroup counters (OOM kills, refused forks) and at `output` (the failed
// step's output) for the errors the kernel gives at a limit: MemoryError /
// ENOMEM, EAGAIN from fork or thread creation, ENOSPC, EFBIG, EMFILE, and
// processes killed by SIGXFSZ or SIGXCPU. Call it only for a run that did
// not pass: a passing suite may well print these words.
std::string ResourceEvidence(const CgroupUsage& usage, const std::string& output);

}  // namespace corral::sandbox
