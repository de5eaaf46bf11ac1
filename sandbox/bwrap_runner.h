// Running one command inside bubblewrap (DESIGN.md section 5, "Isolation"):
// every namespace unshared (no network), a new session, capabilities dropped,
// a cleared environment, the host read-only, a size-capped /tmp, one writable
// job folder at /job; rlimits set before bwrap starts; wall-clock and
// no-output timeouts enforced here, killing the whole process tree.
//
// `SandboxPolicy::seccomp_fd` is passed to bwrap's --seccomp when set (a
// compiled BPF program: see sandbox/seccomp_filter.h; RunSandboxed reopens
// it per run, so one fd may serve many runs). `RunLimits::cgroup_procs`
// puts the child in a job cgroup (sandbox/cgroup_limits.h) before it execs
// bwrap, so everything in the sandbox is in it. The job folder is on the
// volunteer's disk, so its growth is watched here (`max_dir_bytes`,
// `min_free_bytes`) and the run killed when it grows too far.
#pragma once

#include <cstdint>
#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace corral::sandbox {

// What the sandbox looks like: which host folders it sees and what it may do.
struct SandboxPolicy {
  std::filesystem::path job_dir;          // bound read-write at /job
  std::vector<std::string> ro_paths;      // extra host folders bound read-only at the same path
  std::map<std::string, std::string> ro_binds;  // host path -> sandbox path, read-only
  std::map<std::string, std::string> env;       // the whole environment (--clearenv first)
  uint64_t tmp_bytes = 512ull << 20;      // size of the /tmp tmpfs (if bwrap supports --size)
  int seccomp_fd = -1;                    // see the seam above; -1: none
  std::string chdir = "/job";
};

// Process limits applied in the child before exec (inherited by everything
// in the sandbox). 0 leaves a limit as it is.
struct ResourceLimits {
  uint64_t address_space = 4ull << 30;
  uint64_t file_size = 2ull << 30;
  uint64_t open_files = 1024;
  uint64_t processes = 4096;  // per user namespace on Linux >= 5.14
  uint64_t cpu_seconds = 0;   // set from the job's timeout
};

// How long and how loud a run may be.
struct RunLimits {
  int timeout_s = 900;
  int no_output_timeout_s = 300;
  size_t max_log_bytes = 1 << 20;        // kept: the first and last halves
  uint64_t max_output_bytes = 256ull << 20;  // beyond this the run is killed
  ResourceLimits rlimits;
  // cgroup.procs files the child is written into before it execs (it waits
  // for that), so that the whole tree lives in the job's cgroups.
  std::vector<std::string> cgroup_procs;
  // Disk watch of the writable job folder; empty `watch_dir`: none. The
  // run is killed when the folder holds more than `max_dir_bytes` (0: no
  // cap) or its file system has less than `min_free_bytes` free (0: no
  // floor). Checked about once a second, more rarely for huge trees.
  std::filesystem::path watch_dir;
  uint64_t max_dir_bytes = 0;
  uint64_t min_free_bytes = 0;
  // While *pause is true (the daemon's idle_only policy: someone uses the
  // machine) the run is suspended: SIGSTOP to every process of the job's
  // cgroup (the first of `cgroup_procs`), or of its process group without
  // cgroups, SIGCONT when it turns false. Suspended time counts towards
  // neither timeout. Checked about once a second. Null: never suspended.
  const std::atomic<bool>* pause = nullptr;
};

// What happened to one run.
struct RunExit {
  bool started = false;      // false: fork/exec failed (see *err)
  int exit_code = -1;        // bwrap's exit status (the command's, or 1 for bwrap errors)
  int signal = 0;            // when bwrap itself was killed by a signal
  bool wall_timeout = false;
  bool quiet_timeout = false;
  bool output_exceeded = false;
  bool disk_exceeded = false;  // the disk watch killed it; `disk_detail` says why
  std::string disk_detail;
  bool cgroup_attached = false;  // the child joined every file of cgroup_procs
  uint64_t dir_bytes_peak = 0;   // the largest size the disk watch saw
  std::string log;           // combined stdout+stderr, capped
  uint64_t output_bytes = 0; // total produced, including what the cap dropped
  double seconds = 0;
  double paused_seconds = 0;  // of `seconds`, suspended by RunLimits::pause
};

// The full bwrap argument vector for `command` under `policy` (exposed for
// the log and `corral reproduce`).
std::vector<std::string> BwrapArgv(const SandboxPolicy& policy,
                                   const std::vector<std::string>& command);

// Runs `command` inside bubblewrap. Returns false (with *err) only when the
// sandbox could not be started at all: bwrap missing, fork/pipe failure.
// Timeouts and limits are reported in *exit, not as errors. Thread-safe.
bool RunSandboxed(const SandboxPolicy& policy, const std::vector<std::string>& command,
                  const RunLimits& limits, RunExit* exit, std::string* err);

// Path of bubblewrap ("/usr/bin/bwrap"), empty if not installed.
std::string BwrapPath();
// Whether this bwrap understands --size for tmpfs (bubblewrap >= 0.5).
bool BwrapSupportsTmpfsSize();

// The isolation level reached, e.g.
// "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;ro-host;tmpfs=512M;rlimits;timeouts;seccomp=none".
// `net_isolated` comes from what the runner saw inside (only "lo").
// `seccomp` names the filter the caller verified was installed (e.g.
// "denylist"); empty: "bpf" when policy.seccomp_fd is set, else "none".
// `cgroups` lists the cgroup controllers whose limits applied ("memory,pids,
// cpu"), appended as ";cgroups=..." when not empty; `disk_cap` appends
// ";disk-cap" (the job folder's growth was watched).
std::string Isolation(const SandboxPolicy& policy, bool net_isolated,
                      const std::string& seccomp = "", const std::string& cgroups = "",
                      bool disk_cap = false);

// The bytes a folder tree uses on disk (allocated blocks, no symlink
// following, one file system), stopping early once past `stop_after` (0:
// never). Counts hard-linked files once per link.
uint64_t TreeBytes(const std::filesystem::path& dir, uint64_t stop_after = 0);

// Runs `argv` (argv[0] an absolute path) outside any sandbox, with exactly
// the environment `env` ("NAME=value"), stdin from /dev/null, stdout+stderr
// captured and capped, in its own process group (killed whole on timeout),
// after applying `limits.rlimits` and umask 022. `keep_fd` (if >= 0) is
// passed to the child as fd 3. RunSandboxed is this with bwrap's argv.
bool RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                const RunLimits& limits, int keep_fd, RunExit* exit, std::string* err);

// Copies a folder tree with `cp -a --reflink=auto` (fast, keeps symlinks and
// modes). False with *err naming both paths and cp's output.
bool CopyTree(const std::filesystem::path& from, const std::filesystem::path& to,
              std::string* err);

}  // namespace corral::sandbox
