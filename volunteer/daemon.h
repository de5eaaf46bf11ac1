// The volunteer daemon (DESIGN.md section 5): discovers the interpreters of
// this machine, enrols, leases tasks for them, runs each in the sandbox,
// signs the result, journals it and submits it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace corral::volunteer {

struct DaemonOptions {
  std::string coordinator_url;                 // "http://127.0.0.1:8080"
  std::filesystem::path data_dir;              // keys/, cache/, journal/, work/
  std::filesystem::path account_key;           // from `corral account create`
  std::string machine_name;                    // shown on the leaderboard; default: hostname
  int slots = 1;                               // tasks run at once
  // When non-empty, only interpreters whose path or tag is listed are used.
  std::vector<std::string> interpreters;
  // Interpreters (path or tag) never used, even when `interpreters` lists them.
  std::vector<std::string> skip_interpreters;
  int64_t cache_size_mb = 4096;                // cap of data/cache/files (inputs and fetched requirements); 0: no cap
  // Hosts (besides the index's and the task file's) that the prepare
  // phase's proxy may fetch files from, "host[:port]".
  std::vector<std::string> extra_index_hosts;
  // Local IP address every connection goes out from (the coordinator, task
  // downloads, the prepare phase's index requests); "": the system's choice.
  // For multi-homed hosts, and tests that need volunteers on distinct networks.
  std::string source_address;
  // Politeness (DESIGN.md section 5): applied to the daemon at start so the
  // sandboxes it starts inherit them.
  int nice = 10;                               // 0 (normal) to 19 (lowest)
  std::string ionice = "idle";                 // "idle", "best-effort" or "none" (leave as is)
  double max_load = 0;                         // lease nothing while the 1-minute load exceeds it; 0: no limit
  // Lease only while the machine is otherwise idle: logind's idle hint says
  // nobody uses it (where logind answers, idle_hint.h) and the 1-minute load,
  // less one per task this daemon runs, is below 0.5 (politeness.h: LeaseAllowed).
  bool idle_only = false;
  std::string log_level;                       // "trace".."off"; empty: leave the logger alone
  // Where the options came from, so SIGHUP can read them again
  // (config.h: ResolveOptions). `flag_keys` names the configuration keys
  // given as flags, which the file does not override.
  std::filesystem::path config_file;
  std::vector<std::string> flag_keys;
  int max_tasks = 0;                           // stop after this many tasks; 0: never
  bool exit_when_idle = false;                 // stop when the coordinator has no work
  int idle_polls_before_exit = 3;
};

// How the process's signal handlers talk to a running daemon. Handlers only
// store true; the daemon polls both flags several times a second.
struct DaemonControl {
  std::atomic<bool>* stop = nullptr;    // SIGINT/SIGTERM: finish the loop and return
  // SIGHUP: read options.config_file again (config.h: ResolveOptions) and
  // apply slots, use/skip, politeness and log_level without a restart; the
  // daemon stores false back once done. May be null.
  std::atomic<bool>* reload = nullptr;
};

// Runs until *control.stop becomes true, max_tasks ran, or the coordinator
// stays idle with exit_when_idle. Applies nice/ionice to the process first
// and turns core dumps off (the machine key is in memory), tells systemd
// READY=1 / WATCHDOG=1 / STOPPING=1 when $NOTIFY_SOCKET is set, honours
// data_dir/paused (pause_file.h) and max_load/idle_only (idle_hint.h).
// On stop, tasks whose result is not journalled are abandoned and their
// leases returned to the coordinator (bounded to a few seconds); leases a
// killed run left behind (data_dir/leases) are returned at the next start.
// Writes data_dir/status.json about once a second (status_report.h).
// Returns a process exit code: 0 on a clean stop, 2 on a configuration
// error (logged).
//
// Test hook, for tests/volunteer/daemon_crash_test.cc only: the environment
// variable CORRAL_TEST_CRASH=after-journal makes the daemon SIGKILL itself
// right after a result's journal entry is written; =after-submit right after
// the coordinator acknowledged a result, before its journal entry is removed.
int RunDaemon(const DaemonOptions& options, const DaemonControl& control);
// The same without reloading.
int RunDaemon(const DaemonOptions& options, std::atomic<bool>* stop);

// Reads an account key file and the account's name (the file's stem).
// Used by `corral account create` and the daemon.
std::string AccountNameOf(const std::filesystem::path& account_key);

}  // namespace corral::volunteer
