// The dispatch side of the coordinator (DESIGN.md section 3): which task a
// volunteer gets when it asks, and the leases that follow. Like BOINC's
// feeder, it keeps an in-memory cache of ready tasks per platform, refilled
// in priority order from the store's queue column family in batches, so a
// lease request never scans the database. It also holds every active lease
// with its deadline, for heartbeats, expiry and result checks.
//
// Rules it enforces: a task is leased to as many volunteers at once as the
// verifier still wants results (the quorum at first, one more after a
// disagreement), never to two volunteers of the same account nor, when the
// caller gives prefixes, of the same network prefix; a fresh task may go out
// as the only replica to a volunteer the verifier trusts (reputation.h); an
// expired lease puts its task back in the cache for someone else.
//
// Not thread-safe: the Engine serialises every call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace corral::coordinator {

class Store;

// One active lease, as the scheduler tracks it.
struct ActiveLease {
  std::string lease_id, task_id, volunteer_id, account;
  int64_t issued_at = 0, deadline = 0;
  std::string prefix;   // the volunteer's network prefix when leased ("" unknown)
  bool single = false;  // the task's only replica (adaptive replication)
};

// What the scheduler knows of one task that has had any activity.
struct TaskState {
  std::string platform;
  std::string queue_key;               // its key in the queue column family
  bool decided = false;
  int wanted = 0;                      // voting results the verifier still wants
  std::set<std::string> accounts;      // accounts that hold a lease or gave a result
  std::map<std::string, ActiveLease> active;  // by lease id
  std::set<std::string> prefixes;      // network prefixes likewise ("" never listed)
  int wanted_before_single = 0;        // `wanted` to restore should a single replica end unanswered
  bool needs_established = false;      // the next replica must come from an established volunteer
  // Accounts whose every result here so far was a machine fault (infra_error):
  // they may take the task again once `at` has passed, so that a network with
  // no other account still finishes it. Another account's volunteer is
  // preferred meanwhile. A voting result ends the entry.
  struct Retry {
    int64_t at = 0;
    int failures = 0;
    bool waiting = false;  // false while its retry lease is out
  };
  std::map<std::string, Retry> retries;  // by account
};

// How long an account waits before it retries a task its machine failed:
// doubling with each failure, from `first_s` (ten minutes by default) up to
// a day.
int64_t MachineFaultRetryDelay(int failures, int64_t first_s = 600);

// Who asks for work, for the replica rules.
struct Asker {
  std::string volunteer_id, account;
  std::string prefix;  // "" when prefixes are not compared
  // Asked once per fresh task (no lease, no result yet) about to be leased:
  // true to make this lease its only replica. Empty: never.
  std::function<bool(const std::string& platform)> single;
  // Has standing (reputation.h): only such askers get a task whose
  // newcomers agree without one (TaskState::needs_established).
  bool established = true;
};

// Loads a task's state from stored records (task, results): used the first
// time the scheduler meets a task. Returns false when the task is unknown.
using TaskStateLoader = std::function<bool(const std::string& task_id, TaskState* out)>;

// The queue column family key of a task.
std::string QueueKey(const std::string& platform, uint64_t priority, const std::string& task_id);

class Scheduler {
 public:
  // `cache_batch`: how many queue entries one refill reads per platform.
  // `machine_fault_retry_s`: the first MachineFaultRetryDelay.
  Scheduler(const Store& store, TaskStateLoader loader, size_t cache_batch = 512,
            int64_t machine_fault_retry_s = 600);

  // Registers an active lease found in the store at start-up.
  void RestoreLease(const ActiveLease& lease);

  // A new undecided task was stored in the queue under `queue_key`.
  void AddTask(const std::string& platform, const std::string& queue_key);

  // Leases up to `slots` tasks on `platforms` to a volunteer, each with a
  // deadline of now + lease_seconds. The leases are only in memory: the
  // caller persists them.
  std::vector<ActiveLease> Lease(const std::string& volunteer_id, const std::string& account,
                                 const std::vector<std::string>& platforms, int slots, int64_t now,
                                 int lease_seconds);
  // The same with the asker's prefix (never a task that one of the prefix
  // holds or answered) and its say on single replicas.
  std::vector<ActiveLease> Lease(const Asker& asker, const std::vector<std::string>& platforms,
                                 int slots, int64_t now, int lease_seconds);

  // Leases a decided task again, as a known-answer check (known_answer.h):
  // an active lease like any other (heartbeats, expiry), which never makes
  // the task ready. False when the task is unknown, undecided, or the
  // asker's account or prefix already holds or answered it.
  bool LeaseKnownAnswer(const Asker& asker, const std::string& task_id, int64_t now,
                        int lease_seconds, ActiveLease* out);
  // A known-answer check's result arrived: the lease ends; the decided
  // task's state leaves memory once no lease of it is active.
  void OnKnownAnswerResult(const std::string& task_id, const std::string& lease_id);

  // Active leases held by a volunteer: how many, and their ids.
  int InFlight(const std::string& volunteer_id);
  std::vector<std::string> LeasesOf(const std::string& volunteer_id);

  // The ids of a task's active leases.
  std::vector<std::string> LeasesOfTask(const std::string& task_id) const;

  // The active lease with this id, or nullptr.
  const ActiveLease* FindLease(const std::string& lease_id) const;

  // Extends the volunteer's active leases among `lease_ids` to now +
  // lease_seconds; the others (expired, finished, cancelled, someone else's,
  // unknown) are listed in *cancelled.
  std::map<std::string, int64_t> Heartbeat(const std::string& volunteer_id,
                                           const std::vector<std::string>& lease_ids, int64_t now,
                                           int lease_seconds, std::vector<std::string>* cancelled);

  // Removes leases whose deadline passed and puts their tasks back in the
  // cache. Returns them so the caller can record them as expired.
  std::vector<ActiveLease> ExpireLeases(int64_t now);

  // The volunteer gives up its active lease `lease_id` (it is stopping): the
  // lease ends now and the task goes back in the cache as after an expiry,
  // its account free to take it again. False when the lease is not an
  // active lease of `volunteer_id`; otherwise *out gets the lease.
  bool ReturnLease(const std::string& volunteer_id, const std::string& lease_id, ActiveLease* out);

  // A result arrived for `lease_id` of `task_id` from `account`: the lease
  // ends, the account stays excluded from the task, and the verifier now
  // wants `wanted` more voting results (0 while replicas are still running is
  // fine). Puts the task back in the cache when more replicas are needed.
  // A `machine_fault` result (infra_error) excludes the account only until
  // MachineFaultRetryDelay has passed; any other result ends its retries.
  // `needs_established`: from now on only askers with standing get it
  // (QuorumDecision::needs_established).
  void OnResult(const std::string& task_id, const std::string& lease_id,
                const std::string& account, int wanted, bool machine_fault, int64_t now,
                bool needs_established = false);

  // The task has a verdict: it leaves the cache for good. Returns its leases
  // still active, now cancelled.
  std::vector<ActiveLease> OnDecided(const std::string& task_id);

  // The task's input was yanked: it leaves the cache (its queue key is
  // `queue_key` on `platform`) and its active leases end, so their holders
  // learn "cancelled" at their next heartbeat. Returns those leases. Should
  // the task come up again (un-yanked, re-queued with AddTask), its state is
  // read afresh from the store.
  std::vector<ActiveLease> Cancel(const std::string& task_id, const std::string& platform,
                                  const std::string& queue_key);

  // When a volunteer should ask again (LeaseResponse::next_poll_s), by load:
  // 1 s while its platforms have work ready; when nothing was handed out,
  // longer the emptier the queue and the busier the coordinator (lease
  // requests per second over the last seconds, counted by Lease), capped at
  // 10 minutes. `got`: how many tasks the request just leased.
  int NextPollSeconds(const std::vector<std::string>& platforms, int got, int64_t now);
  // Lease requests per second over the last kRateWindow seconds.
  double LeaseRate(int64_t now) const;

  int64_t active_leases() const { return static_cast<int64_t>(leases_.size()); }
  // Ready tasks cached for a platform (for tests and metrics).
  size_t cached(const std::string& platform) const;

 private:
  struct PlatformQueue {
    std::set<std::string> ready;  // queue keys, in priority order
    // Tasks that only an established asker may take (needs_established),
    // kept apart so that newcomers' requests never scan them.
    std::set<std::string> standing_only;
    std::string cursor;           // last queue key read from the store
    bool exhausted = false;       // the store has nothing after the cursor
  };

  TaskState* State(const std::string& task_id);
  void Refill(const std::string& platform, PlatformQueue& q);
  void MaybeReady(const std::string& task_id, TaskState& st);

  static constexpr int kRateWindow = 10;
  int64_t rate_second_[kRateWindow] = {};  // which second each bucket counts
  int64_t rate_count_[kRateWindow] = {};

  // A lease no longer active: its account and prefix free the task again,
  // and a single replica's task wants what it wanted before.
  static void ReleaseHolder(TaskState& st, const ActiveLease& lease);

  const Store& store_;
  TaskStateLoader loader_;
  size_t batch_;
  int64_t machine_fault_retry_s_;
  std::map<std::string, PlatformQueue> queues_;
  std::unordered_map<std::string, TaskState> tasks_;
  std::unordered_map<std::string, std::string> leases_;  // lease id -> task id
  // Lease ids per volunteer, pruned lazily of those no longer in leases_.
  std::unordered_map<std::string, std::vector<std::string>> by_volunteer_;
};

}  // namespace corral::coordinator
