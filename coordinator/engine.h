// The coordinator's write side: every change of durable state goes through
// here, under one lock, in the order handler -> Engine -> Store (STYLE.md).
// It knows the domain (enrolment, ingesting index files into tasks, leases,
// results, verdicts, credit) but neither HTTP nor request signatures, which
// the API checks before calling in.
//
// Thread-safe: every public method takes the engine's lock. Reads of stored
// records for the public pages go straight to store(), without the lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/protocol.h"
#include "coordinator/index_sync.h"
#include "coordinator/known_answer.h"
#include "coordinator/parsed_cache.h"
#include "coordinator/quorum.h"
#include "coordinator/records.h"
#include "coordinator/reputation.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"

namespace corral::coordinator {

struct VerdictEvent;  // wheel_index.h

struct EngineOptions {
  std::filesystem::path db_dir;              // the RocksDB directory
  StoreMemory memory;                        // the store's cache and memtables
  // The operator's platforms: created at start, and then the only ones
  // (volunteers' offers outside them are never adopted). Empty: platforms
  // arrive from volunteers (platform_min_accounts).
  std::vector<std::string> platforms;
  QuorumPolicy policy;                       // quorum 2, up to 5 results
  int lease_seconds = 900;                   // a lease's life without heartbeat
  bool latest_only = false;                  // tasks for each project's newest release only
  bool read_only = false;                    // open the store read-only (static export): no writes
  // Cross-verification (DESIGN.md section 6, verifier.cc): adaptive
  // replication, cheater detection, quotas and limits in flight.
  ReputationPolicy reputation;
  // The chance that a leased slot is a known-answer check (known_answer.h),
  // when the volunteer owes none after an account-mate was caught.
  double known_answer_rate = 0.02;
  uint64_t seed = 0;                         // random choices (0: from the system)
  // The isolation every task needs (common/isolation.h), e.g.
  // "bwrap:net;seccomp=denylist": volunteers whose advertised level lacks
  // a feature get no work; "" takes any.
  std::string min_isolation;
  // How long an account whose machine failed a task (infra_error) waits
  // before it may retry it, at first (scheduler.h: MachineFaultRetryDelay).
  int64_t machine_fault_retry_s = 600;
  // The index tasks come from, told to volunteers with every task
  // (TaskSpec::index_url) for their prepare phase.
  std::string index_url;
  // A tag volunteers offer becomes a platform (a column with tasks for every
  // file) once machines of this many distinct accounts offer it, so that one
  // enrolment cannot grow the store; `platforms`, when given, restricts it.
  int platform_min_accounts = 2;
  // Accounts the operator trusts (account keys, 64 hex): their machines
  // have standing from the start (reputation.h), and the network's verdicts
  // bootstrap from them when policy.require_established is on. Recorded in
  // each AccountRecord at Open.
  std::vector<std::string> trusted_accounts;
  // Accounts the operator has cleared (account keys): an account is flagged
  // when one of its machines is suspended, and a flagged account's machines
  // get no work (Lease: "account_flagged") and it enrols none, until cleared
  // here. Its suspended machine stays suspended. Applied at Open.
  std::vector<std::string> cleared_accounts;
};

// Why a request was refused: a protocol error code ("not_leased",
// "wrong_input", ...) and a sentence for the volunteer's operator.
struct Refusal {
  std::string code, detail;
};

// What one IngestProject did, for the sync's log and the tests.
struct IngestReport {
  int tasks_created = 0;     // tasks new to the store
  int new_release_tasks = 0; // of those, in the new-release tier (ahead of the backlog)
  int cancelled = 0;         // pending tasks cancelled: their input was yanked or replaced
  int restored = 0;          // cancelled tasks queued again: their input was un-yanked
  int resolved = 0;          // snapshot placeholders replaced by tasks with a real input
  int dropped = 0;           // snapshot placeholders whose release the index does not offer
};

// Totals kept with every write, for the front page, metrics and progress.
struct Counters {
  int64_t projects = 0, tasks = 0, verdicts = 0, results = 0, volunteers = 0, accounts = 0;
  int64_t unsupported = 0, inconclusive = 0;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Opens the store, merges the persisted platform set with the options',
  // creates tasks for platforms new to the store, restores active leases
  // into the scheduler, and records the operator's trusted and cleared
  // accounts on their AccountRecords (wall-clock time for `cleared_at`).
  // False with *err when the store cannot be opened or that write fails.
  bool Open(std::string* err);

  // --- index ---
  // The serial recorded when `project` (normalised) was last ingested, or -1.
  int64_t ProjectSerial(const std::string& project);
  // The serial and page ETag recorded for `project`; false when it is unknown.
  bool ProjectSyncState(const std::string& project, int64_t* serial, std::string* etag);
  // Records a project's files (`display_name` as the index spells it; the
  // page's `serial` and `etag`) and brings its tasks in line with them:
  // - creates the missing tasks on every platform for files not yanked;
  //   releases newer than any known before (after the first complete sync)
  //   are new releases and go ahead of the backlog (priority.h);
  // - cancels the pending tasks of files now yanked or whose sha256 changed
  //   (out of the queue and the dispatch cache; their leases end and their
  //   holders hear "cancelled" at the next heartbeat); verdicts stay;
  // - queues again the cancelled tasks of files un-yanked;
  // - replaces the snapshot's placeholder tasks (snapshot_import.h) of a
  //   release by tasks with the real input file, and drops those of releases
  //   the index does not offer.
  // One atomic write. False with *err (naming the project) when it fails.
  bool IngestProject(const std::string& display_name, int64_t serial, const std::string& etag,
                     const std::vector<IndexFile>& files, int64_t now, IngestReport* report,
                     std::string* err);
  // Records that `project`'s page is unchanged at `serial` (a 304 answer).
  bool RecordProjectSerial(const std::string& project, int64_t serial, std::string* err);
  // Whether a whole sync pass has completed on this store: until then every
  // release is backlog; afterwards releases that appear are new releases.
  bool FirstSyncDone();
  bool MarkFirstSyncDone(std::string* err);

  // --- platforms ---
  // Adds tags to the platform set (invalid ones refused with *err); creates
  // tasks for every known file on each new tag.
  bool AddPlatforms(const std::vector<std::string>& tags, int64_t now, std::string* err);
  // Of `tags`, those not yet platforms that enrolled machines of at least
  // options.platform_min_accounts distinct accounts offer (a scan of the
  // volunteers, done only when some tag is new). Records that do not parse
  // are skipped. Takes the engine's lock.
  std::vector<std::string> PlatformsOfferedWidely(const std::vector<std::string>& tags);
  std::vector<std::string> Platforms();

  // --- volunteers ---
  // Enrols a machine key under an account key after checking the account's
  // signature; idempotent for the same keys. The tags it offers join the
  // platform set.
  bool Enrol(const EnrolRequest& request, const std::string& remote_addr, int64_t now,
             Refusal* refusal);
  // True when `volunteer_id` is enrolled; fills *out when given.
  bool FindVolunteer(const std::string& volunteer_id, VolunteerRecord* out);

  LeaseResponse Lease(const std::string& volunteer_id, const LeaseRequest& request, int64_t now);
  // The same for a request from `remote_addr` (its peer address: the
  // network prefix rule). Leases nothing to a suspended volunteer
  // (*refusal "suspended") or to a machine of a flagged account (*refusal
  // "account_flagged", until the operator clears it: EngineOptions), nor
  // more than its limits allow: tasks in flight and its daily quota
  // (quota.h; none for a trusted account's machines). Some slots may be
  // known-answer checks.
  LeaseResponse Lease(const std::string& volunteer_id, const LeaseRequest& request,
                      const std::string& remote_addr, int64_t now, Refusal* refusal);
  HeartbeatResponse Heartbeat(const std::string& volunteer_id, const HeartbeatRequest& request,
                              int64_t now);

  enum class Submit { kAccepted, kDuplicate, kRefused };
  // Stores a verified result (`envelope_text` verbatim: the caller passes the
  // envelope re-serialised from what it verified, synced to the WAL) and
  // runs the verifier; on a verdict, stores it and grants credit. Refuses
  // (storing nothing) a result for a lease that is not this volunteer's for
  // this task, for a decided task, or with the wrong input sha256. A second
  // submission for the same lease with the same signed payload is kDuplicate
  // and changes nothing; with a different payload it is refused as
  // "conflicting_result". Takes the engine's lock.
  Submit SubmitResult(const std::string& volunteer_id, const ResultPayload& payload,
                      const std::string& envelope_text, int64_t now, Refusal* refusal);

  // Whether `volunteer_id` may store an artifact of `size` bytes for its
  // lease `lease_id` (PROTOCOL.md section 10), and if so counts it: the
  // lease's new artifacts (QuotaPolicy::artifacts_per_lease) and the
  // volunteer's new bytes of the UTC day (artifact_bytes_per_day), written
  // before memory changes. Content `already_stored` costs nothing and is
  // always admitted for a lease of this volunteer. Refuses with "not_leased"
  // (no such lease, another volunteer's, or issued more than
  // artifact_lease_age_s ago), "lease_cancelled", "lease_returned",
  // "too_many_artifacts" (the lease has its count), "artifact_quota" (the
  // day's bytes are used; *retry_after_s is the wait to the next UTC day) or
  // "internal" (the count could not be written; nothing changed). Takes the
  // engine's lock.
  bool AdmitArtifact(const std::string& volunteer_id, const std::string& lease_id, int64_t size,
                     bool already_stored, int64_t now, Refusal* refusal, int64_t* retry_after_s);

  // Ends leases past their deadline; their tasks go back to the queue.
  int ExpireLeases(int64_t now);

  // The volunteer gives up these leases (it is stopping before finishing
  // them): each active lease of `volunteer_id` among `request.lease_ids` is
  // recorded as "returned" and its task goes back to the queue at once; a
  // result for it is refused from then on (lease_returned). Ids that are
  // not active leases of this volunteer are listed as unknown.
  LeaseReturnResponse ReturnLeases(const std::string& volunteer_id,
                                   const LeaseReturnRequest& request, int64_t now);

  // Told of every verdict as it is stored, with the write set that stores
  // it, so that what follows from a verdict (the wheel index) commits with
  // it atomically. Runs under the engine's lock: it must not call back into
  // the Engine. Set it before serving.
  void SetVerdictObserver(std::function<void(const VerdictEvent&, WriteSet*)> observer);

  // Told once per suspension of the verdicts it withdrew (a volunteer that
  // helped decide them was caught lying; the tasks go back to the queue to
  // be verified again): their task ids, all at once so that a wheel several
  // of them attest is rewritten once, and the write set that withdraws them,
  // so that what followed from the verdicts (the wheel index) is withdrawn in
  // the same write. Returns, per task id, the wheels it took off /simple/
  // (the feed's withdrawal entry says so). Called under the engine's lock,
  // before the write; it may read the store, not change it.
  using ReopenObserver =
      std::function<std::map<std::string, int>(const std::set<std::string>& task_ids, WriteSet*)>;
  void SetReopenObserver(ReopenObserver observer);
  // What the verifier knows of a volunteer (reputation.h); false before its
  // first lease or result.
  bool FindReputation(const std::string& volunteer_id, ReputationRecord* out);

  Counters GetCounters();
  int64_t ActiveLeases();
  const Store& store() const { return store_; }
  // Writes records that no rule of the engine reads (request_auth's nonce
  // journal in kMeta under "nonce\0"), without the engine's lock and
  // without waiting for the disk (the WAL survives a killed process). False
  // with *err when RocksDB refuses the write.
  bool WriteAside(const WriteSet& writes, std::string* err) { return store_.Write(writes, false, err); }
  const EngineOptions& options() const { return options_; }

 private:
  bool LoadTaskState(const std::string& task_id, TaskState* out);
  // The votes of every stored result of `task_id`, in key order (and their
  // payloads when `payloads` is given). `known`, when given, is a result
  // with its payload that is about to be written under this lock: it takes
  // its place in key order, from memory, whether stored yet or not.
  struct KnownResult {
    const ResultRecord& record;
    const ResultPayload& payload;
  };
  void LoadVotes(const std::string& task_id, std::vector<Vote>* votes,
                 std::vector<ResultPayload>* payloads, const KnownResult* known = nullptr);
  // Adds to `w` the tasks of one release on one platform, skipping those
  // already stored or already in `created`.
  void CreateTasks(WriteSet& w, const std::vector<FileRecord>& release_files,
                   const std::string& platform, uint64_t priority, int64_t now,
                   std::set<std::string>* created, ProjectRecord* project,
                   std::vector<std::pair<std::string, std::string>>* queued);
  bool CreateTasksForAllFiles(const std::vector<std::string>& platforms, int64_t now,
                              std::string* err);
  bool Decide(const std::string& task_id, int64_t now, std::string* err);
  void PutCounters(WriteSet& w);
  // `cached`: look in (and fill) the parsed-record cache below; for the
  // verdict path, which rewrites the same few records again and again.
  bool LoadProject(const std::string& name, ProjectRecord* out, bool cached = false);

  // --- the verifier's side (verifier.cc) ---
  struct ReopenBatch;
  // At Open: the suspended volunteers and the known-answer pool.
  void LoadVerifierState();
  // The volunteer's record, loaded once and kept in memory.
  ReputationRecord& Reputation(const std::string& volunteer_id);
  void PutReputation(WriteSet& w, const std::string& volunteer_id);
  // Known-answer checks for up to `n` slots, among `platforms`.
  std::vector<ActiveLease> LeaseKnownAnswers(const Asker& asker, const std::vector<std::string>& platforms,
                                             int n, int64_t now);
  // How many of `room` slots are checks this time.
  int KnownAnswerSlots(const ReputationRecord& r, int room);
  Submit SubmitKnownAnswer(const ResultPayload& p, const std::string& envelope_text, LeaseRecord lease,
                           TaskRecord task, int64_t now, Refusal* refusal);
  // When the only voting result came from a single replica (adaptive
  // replication) whose volunteer is still trusted: its index in `votes` and
  // the seconds between its lease and its result (what bounds its credit).
  // `just_stored` and `its_lease`, when given, are a result written under
  // this lock and its lease, used instead of reading them back.
  bool SingleReplicaVote(const TaskRecord& task, const std::vector<Vote>& votes, size_t* index,
                         double* held_seconds, const ResultRecord* just_stored = nullptr,
                         const LeaseRecord* its_lease = nullptr);
  // Judges every result of a decided task against its verdict (reputation.h).
  void JudgeVerdict(const TaskRecord& task, const std::vector<Vote>& votes, const QuorumDecision& d,
                    bool single, WriteSet& w);
  // Suspends every volunteer whose record now says so.
  void EnforceSuspensions(int64_t now);
  void Suspend(const std::string& volunteer_id, int64_t now);
  // Withdraws a task's verdict (and the credit it granted) and queues the
  // task again. False when it has none.
  bool ReopenVerdict(ReopenBatch& batch, const std::string& task_id, int64_t now);
  double Uniform();
  // Standing (reputation.h): not suspended, and its account trusted by the
  // operator or its record EarnedStanding. Lock held.
  bool IsEstablished(const std::string& volunteer_id, const std::string& account);

  EngineOptions options_;
  std::mutex mu_;
  std::mutex ingest_mu_;  // IngestProject, one project at a time (taken before mu_)
  // Each verdict rewrites its project's record (to count it), and the
  // record of a project with many releases is large: parsed again only when
  // its stored bytes changed (the index sync, the snapshot import).
  ParsedRecordCache<ProjectRecord> projects_cache_{Cf::kProjects};
  ParsedRecordCache<VolunteerRecord> volunteers_cache_{Cf::kVolunteers};  // read on every lease and verdict
  Store store_;
  std::unique_ptr<Scheduler> scheduler_;
  Counters counters_;
  std::vector<std::string> platforms_;
  bool first_sync_done_ = false;
  std::function<void(const VerdictEvent&, WriteSet*)> verdict_observer_;
  ReopenObserver reopen_observer_;
  std::unordered_map<std::string, ReputationRecord> reputation_;
  std::unordered_set<std::string> suspended_;
  std::unordered_set<std::string> trusted_accounts_;  // options_.trusted_accounts
  std::unordered_set<std::string> flagged_accounts_;  // AccountRecord::suspended, not cleared
  std::set<std::string> to_judge_;  // volunteers contradicted since the last EnforceSuspensions
  KnownAnswerPool known_answers_;
  std::mt19937_64 rng_;
};

}  // namespace corral::coordinator
