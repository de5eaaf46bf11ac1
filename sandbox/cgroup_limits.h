// Per-job cgroups (DESIGN.md section 5: "cgroup limits where the machine
// delegates them"). rlimits bound one process at a time; a cgroup bounds the
// whole job: the memory of every process and its tmpfs pages together, the
// number of processes (the only bound on a fork bomb when the volunteer runs
// as root, where RLIMIT_NPROC does not apply), and its share of the CPU.
//
// Two layouts are supported, found once per process by DetectCgroups():
//  - cgroup v2 with a delegated subtree: our own cgroup's controllers
//    include memory and pids and we may write in it. Job cgroups are made
//    under it (after moving this process into a leaf "corral-daemon" child
//    when needed, as the "no internal processes" rule requires).
//  - cgroup v1: each of the memory, pids and cpu hierarchies where our own
//    cgroup folder is writable (root, or a delegated folder).
// Controllers that are neither are simply not used, and the isolation level
// says which ones were (see Reached()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace corral::sandbox {

// Where job cgroups can be made on this machine.
struct CgroupSupport {
  int version = 0;  // 0: none usable, 1: v1 hierarchies, 2: v2 delegated subtree
  // Parent folders for job cgroups, empty when the controller is unusable.
  // With v2 all three are the same folder.
  std::filesystem::path memory, pids, cpu;
  std::string notes;  // what was found and why a controller is not used
};

// Probes /proc/self/cgroup and /sys/fs/cgroup once (thread-safe, cached).
// May move this process into a leaf child of its v2 cgroup (see above).
const CgroupSupport& DetectCgroups();

// Limits for one job's cgroup; 0 leaves a limit unset.
struct CgroupLimits {
  uint64_t memory_bytes = 0;  // memory.max (v2) / memory.limit_in_bytes (v1), swap included
  uint64_t pids = 0;          // pids.max
  uint64_t cpu_weight = 0;    // cpu.weight 1..10000 (v2); v1 cpu.shares = weight * 1024 / 100
};

// What the job's processes did against the cgroup's limits.
struct CgroupUsage {
  uint64_t memory_peak = 0;    // bytes (v1 max_usage_in_bytes, v2 memory.peak)
  uint64_t oom_kills = 0;      // processes killed for reaching memory_bytes
  uint64_t memory_max_hits = 0;  // times the memory limit was reached (v2 "max" event)
  uint64_t pids_peak = 0;
  uint64_t pids_max_hits = 0;  // forks refused for reaching pids
};

// One job's cgroup(s): made by Create, emptied (SIGKILL) and removed by the
// destructor. Not copyable: removing a cgroup twice would be a bug.
class JobCgroup {
 public:
  JobCgroup() = default;
  ~JobCgroup();
  JobCgroup(const JobCgroup&) = delete;
  JobCgroup& operator=(const JobCgroup&) = delete;

  // Makes "corral-job-<random>" under each usable controller's parent and
  // writes `limits`. True when at least one controller was set up; false
  // with *err when none could be (nothing usable, or every write failed).
  bool Create(const CgroupLimits& limits, std::string* err);

  // The cgroup.procs files a process must be written into to join the job's
  // cgroups (one per hierarchy; one with v2).
  const std::vector<std::string>& procs_files() const { return procs_files_; }

  // "memory,pids,cpu" (the controllers whose limits were written), "" if none.
  std::string Reached() const;

  // Reads the counters; fields of unused controllers stay 0.
  CgroupUsage Read() const;

  // Kills every process left in the cgroups (cgroup.kill on v2, else
  // SIGKILL to each pid until empty, for at most ~2 s).
  void KillAll();

 private:
  std::vector<std::filesystem::path> dirs_;  // made by Create, removed on destruction
  std::vector<std::string> procs_files_;
  std::filesystem::path memory_, pids_, cpu_;  // job cgroup folder per controller
  int version_ = 0;
};

}  // namespace corral::sandbox
