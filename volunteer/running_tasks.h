// The tasks the daemon runs right now, one per busy slot. It exists for
// three reasons:
//  1) `corral volunteer status` shows each task's phase and elapsed time;
//  2) heartbeats renew only the leases whose result is not yet journalled,
//     on a cadence derived from each lease's length (a third of it, at most
//     a minute). Once the result is journalled the lease needs no renewal:
//     the coordinator accepts a journalled result after the deadline, and
//     once it accepted it, the lease is "completed" and a heartbeat for it
//     would be answered "cancelled" (the cause of a spurious "lease
//     cancelled" line seen seconds after a lease was issued);
//  3) on SIGTERM the daemon returns the leases of tasks that have not
//     reached their journal, and makes sure they never will (the decision
//     and the journal step are serialised by the caller's lock).
// It also keeps a marker file per lease in `dir` from the moment the task
// starts until its result is journalled or the lease is returned, so that
// a daemon killed with -9 finds at its next start the leases it held
// (Leftovers) and returns them instead of letting them run to the deadline.
//
// Not thread-safe: the daemon calls every method under its own lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace corral::volunteer {

enum class TaskPhase {
  kFetching,    // downloading the input into the cache
  kBuilding,    // in the sandbox: build, install, import, tests
  kJournalled,  // signed result written to the journal
  kSubmitting,  // uploading artifacts and the result
};
const char* TaskPhaseName(TaskPhase phase);  // "fetching", "building", ...

class RunningTasks {
 public:
  using Clock = std::chrono::steady_clock;

  // `dir`: where lease markers live (data_dir/leases); empty: no markers.
  explicit RunningTasks(std::filesystem::path dir);

  // A task was leased and starts now. `now_unix` is this machine's clock,
  // used with task.lease_deadline to learn the lease's length.
  void Start(const TaskSpec& task, Clock::time_point now, int64_t now_unix);
  void SetPhase(const std::string& lease_id, TaskPhase phase);

  // Whether the task's result may be journalled: false once the lease was
  // abandoned (the daemon is stopping) or cancelled by the coordinator.
  // When true, the phase becomes kJournalled, so AbandonUnjournalled will
  // leave this task alone from now on.
  bool BeginJournal(const std::string& lease_id);
  // The result is durably journalled: the marker goes.
  void Journalled(const std::string& lease_id);
  // The task's thread is done with it (after submission, or after giving up).
  void Finish(const std::string& lease_id);

  // Leases to send in a heartbeat now: every lease not yet journalled,
  // abandoned or cancelled, when at least one of them is due for renewal;
  // empty otherwise.
  std::vector<std::string> LeasesToRenew(Clock::time_point now) const;
  // When the next renewal falls due (Clock::time_point::max() when none).
  Clock::time_point NextRenewal() const;
  // The coordinator extended a lease until `deadline` (its unix seconds).
  void Extended(const std::string& lease_id, int64_t deadline, Clock::time_point now, int64_t now_unix);
  // A heartbeat failed: try again after `retry`.
  void RenewalFailed(Clock::time_point now, std::chrono::milliseconds retry);
  // The coordinator cancelled the lease (task decided, lease expired): its
  // result will not be journalled. False when the lease is unknown here.
  bool Cancel(const std::string& lease_id);

  // The daemon is stopping: every task not yet journalled is abandoned and
  // its lease id returned, to be given back to the coordinator.
  std::vector<std::string> AbandonUnjournalled();
  // Leases returned to the coordinator (or unknown to it): their markers go.
  void ForgetMarkers(const std::vector<std::string>& lease_ids);

  // Lease ids whose markers a previous run of the daemon left in `dir`.
  static std::vector<std::string> Leftovers(const std::filesystem::path& dir);

  size_t size() const { return tasks_.size(); }
  bool Has(const std::string& lease_id) const { return tasks_.count(lease_id) > 0; }
  std::vector<std::string> InputDigests() const;  // sha256 of each running task's input

  // One object per task for status.json: lease_id, task_id, project,
  // version, platform, phase, elapsed_s, phase_elapsed_s, lease_deadline.
  nlohmann::json ToJson(Clock::time_point now) const;

  // How long after an extension (or the lease's start) to renew: a third
  // of the lease's remaining length, between 1 s and 60 s.
  static std::chrono::milliseconds RenewAfter(int64_t deadline, int64_t now_unix);

 private:
  struct Task {
    TaskSpec spec;
    TaskPhase phase = TaskPhase::kFetching;
    Clock::time_point started, phase_started, renew_at;
    bool abandoned = false, cancelled = false;
  };
  bool Renewable(const Task& t) const;
  void WriteMarker(const Task& t);
  void RemoveMarker(const std::string& lease_id);

  std::filesystem::path dir_;
  std::map<std::string, Task> tasks_;  // by lease id
};

}  // namespace corral::volunteer
