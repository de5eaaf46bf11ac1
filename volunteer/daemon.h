// The volunteer daemon (DESIGN.md section 5): discovers the interpreters of
// this machine, enrols, leases tasks for them, runs each in the sandbox,
// signs the result, journals it and submits it.
#pragma once

#include <atomic>
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
  int max_tasks = 0;                           // stop after this many tasks; 0: never
  bool exit_when_idle = false;                 // stop when the coordinator has no work
  int idle_polls_before_exit = 3;
};

// Runs until *stop becomes true (SIGINT/SIGTERM set it), max_tasks ran, or
// the coordinator stays idle with exit_when_idle. Returns a process exit
// code: 0 on a clean stop, 2 on a configuration error (which it logs).
int RunDaemon(const DaemonOptions& options, std::atomic<bool>* stop);

// Reads an account key file and the account's name (the file's stem).
// Used by `corral account create` and the daemon.
std::string AccountNameOf(const std::filesystem::path& account_key);

}  // namespace corral::volunteer
