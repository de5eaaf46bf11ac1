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
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "coordinator/index_sync.h"
#include "coordinator/quorum.h"
#include "coordinator/records.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"

namespace corral::coordinator {

struct EngineOptions {
  std::filesystem::path db_dir;              // the RocksDB directory
  std::vector<std::string> platforms;        // tags given at start (may be empty)
  QuorumPolicy policy;                       // quorum 2, up to 5 results
  int lease_seconds = 900;                   // a lease's life without heartbeat
  bool latest_only = false;                  // tasks for each project's newest release only
};

// Why a request was refused: a protocol error code ("not_leased",
// "wrong_input", ...) and a sentence for the volunteer's operator.
struct Refusal {
  std::string code, detail;
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
  // creates tasks for platforms new to the store, and restores active leases
  // into the scheduler. False with *err when the store cannot be opened.
  bool Open(std::string* err);

  // --- index ---
  // The serial recorded when `project` (normalised) was last ingested, or -1.
  int64_t ProjectSerial(const std::string& project);
  // Records a project's files and creates the missing tasks on every
  // platform. `display_name` as the index spells it.
  bool IngestProject(const std::string& display_name, int64_t serial,
                     const std::vector<IndexFile>& files, int64_t now, std::string* err);

  // --- platforms ---
  // Adds tags to the platform set (invalid ones refused with *err); creates
  // tasks for every known file on each new tag.
  bool AddPlatforms(const std::vector<std::string>& tags, int64_t now, std::string* err);
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
  HeartbeatResponse Heartbeat(const std::string& volunteer_id, const HeartbeatRequest& request,
                              int64_t now);

  enum class Submit { kAccepted, kDuplicate, kRefused };
  // Stores a verified result (its envelope verbatim, synced to the WAL) and
  // runs the verifier; on a verdict, stores it and grants credit. Refuses
  // (storing nothing) a result for a lease that is not this volunteer's for
  // this task, for a decided task, or with the wrong input sha256. A second
  // submission for the same lease is kDuplicate and changes nothing.
  Submit SubmitResult(const std::string& volunteer_id, const ResultPayload& payload,
                      const std::string& envelope_text, int64_t now, Refusal* refusal);

  // Ends leases past their deadline; their tasks go back to the queue.
  int ExpireLeases(int64_t now);

  Counters GetCounters();
  int64_t ActiveLeases();
  const Store& store() const { return store_; }
  const EngineOptions& options() const { return options_; }

 private:
  bool LoadTaskState(const std::string& task_id, TaskState* out);
  void LoadVotes(const std::string& task_id, std::vector<Vote>* votes,
                 std::vector<ResultPayload>* payloads);
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
  bool LoadProject(const std::string& name, ProjectRecord* out);

  EngineOptions options_;
  std::mutex mu_;
  Store store_;
  std::unique_ptr<Scheduler> scheduler_;
  Counters counters_;
  std::vector<std::string> platforms_;
};

}  // namespace corral::coordinator
