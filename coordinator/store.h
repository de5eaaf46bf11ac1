// The coordinator's durable state: one embedded RocksDB with a column family
// per record kind (DESIGN.md section 3). Values are JSON documents (see
// records.h); keys are built for prefix scans, with '\0' between parts:
//
//   meta             "schema_version" -> "1"; "platforms" -> ["cp311-linux_x86_64", ...];
//                    "counters" -> {"tasks", "verdicts", "results", ...}
//   projects         <project>                                 -> ProjectRecord
//   files            <project>\0<version>\0<filename>           -> FileRecord
//   tasks            <task id>                                 -> TaskRecord
//   project_tasks    <project>\0<version>\0<platform>\0<task id> -> ""   (matrix pages)
//   queue            <platform>\0<priority, 16 hex>\0<task id>   -> ""   (undecided tasks)
//   leases           <lease id>                                -> LeaseRecord
//   results          <task id>\0<lease id>                      -> ResultRecord (envelope verbatim)
//   volunteer_results <volunteer id>\0<received_at, 16 hex>\0<task id> -> ""
//   verdicts         <task id>                                 -> VerdictRecord
//   volunteers       <machine key>                             -> VolunteerRecord
//   accounts         <account key>                             -> AccountRecord
//   credit_log       <granted_at, 16 hex>\0<task id>\0<volunteer id> -> CreditEntry
//   wheels           <project>\0<wheel filename>               -> WheelRecord (wheel_index.h)
//   verdict_times    <2^64-1 - decided_at, 16 hex>\0<task id>  -> ""   (newest verdicts first:
//                    feeds; a re-decided task has one key per decision, see VerdictTimeKey;
//                    a withdrawal's key is its time, its value JSON: verdict_feed.h)
//   reputation       <machine key>                             -> ReputationRecord (reputation.h)
//
// Thread safety: RocksDB itself is thread-safe; Store adds no state of its
// own after Open, so reads may run concurrently with writes. Callers that need
// read-modify-write consistency (the Engine) serialise their writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
class Cache;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace corral::coordinator {

// The record kinds; each is a column family of the same name.
enum class Cf {
  kMeta,
  kProjects,
  kFiles,
  kTasks,
  kProjectTasks,
  kQueue,
  kLeases,
  kResults,
  kVolunteerResults,
  kVerdicts,
  kVolunteers,
  kAccounts,
  kCreditLog,
  kVerdictTimes,
  kWheels,
  kReputation,
  kCount,  // not a family: the number of them
};

inline constexpr int kSchemaVersion = 1;
// What a store may keep in memory, so that a coordinator's RSS has a bound
// that does not grow with the data (issue 18, bench/load_volunteers).
struct StoreMemory {
  // One LRU cache for the store: data blocks as read, the index and filter
  // blocks of every table file (else held outside any bound, growing with
  // the files), and the memtables, charged to it.
  size_t cache_bytes = size_t{576} << 20;
  // The memtables of all sixteen families together (a family's own 64 MB
  // buffer would let them hold 16 x 2 x 64 MB before any flush); past it the
  // largest is flushed. Charged to cache_bytes. A bulk load (corral
  // ingest-snapshot) takes four times as much, for fewer and larger files.
  size_t write_buffer_bytes = size_t{144} << 20;
};

// Joins key parts with '\0'.
std::string Key(std::initializer_list<std::string_view> parts);
// Splits a key built by Key.
std::vector<std::string> SplitKey(std::string_view key);
// A fixed-width, order-preserving hex form of a number for keys.
std::string OrderedHex(uint64_t n);
// The verdict_times key of a verdict decided at `decided_at`: a forward scan
// of the family visits the newest verdicts first.
std::string VerdictTimeKey(int64_t decided_at, std::string_view task_id);

// A set of writes applied atomically by Store::Write.
class WriteSet {
 public:
  WriteSet();
  ~WriteSet();
  WriteSet(const WriteSet&) = delete;
  WriteSet& operator=(const WriteSet&) = delete;

  void Put(Cf cf, std::string_view key, std::string_view value);
  void PutJson(Cf cf, std::string_view key, const nlohmann::json& value);
  void Delete(Cf cf, std::string_view key);
  bool empty() const { return count_ == 0; }

 private:
  friend class Store;
  struct Op {
    Cf cf;
    std::string key, value;
    bool del;
  };
  std::vector<Op> ops_;
  int count_ = 0;
};

class Store {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens or creates the database in `dir` with every column family; checks
  // (or writes, when new) the schema version. False with *err naming the
  // directory and RocksDB's reason, or the version found when it is newer
  // than this program knows.
  //
  // With `bulk_load`, memtables are plain vectors, sorted when flushed:
  // appending is far cheaper than the default skip list's inserts, but every
  // read of a memtable sorts a copy of it. Only for loading a store that is
  // new (the snapshot import into an empty --data), never for serving.
  bool Open(const std::filesystem::path& dir, std::string* err, bool bulk_load = false,
            const StoreMemory& memory = {});
  // Opens an existing database for reading only, without taking its lock, so
  // that it works while a coordinator serves from `dir` (the view is the one
  // at open time). Families the database does not have yet read as empty;
  // Write fails. False with *err when `dir` holds no database.
  bool OpenReadOnly(const std::filesystem::path& dir, std::string* err, const StoreMemory& memory = {});

  // Reads one value. Returns false when the key is absent or on a read error
  // (logged); *value untouched then.
  bool Get(Cf cf, std::string_view key, std::string* value) const;
  // Reads and parses a JSON value; false when absent or unparsable (logged).
  bool GetJson(Cf cf, std::string_view key, nlohmann::json* value) const;
  bool Has(Cf cf, std::string_view key) const;

  // Applies `writes` atomically. With sync, returns only once the write is in
  // the WAL on disk (results are acknowledged only after that); inside a
  // DeferredSync scope on this thread, a synced write only reaches the WAL
  // and the scope's Commit makes it durable (group commit, below).
  bool Write(const WriteSet& writes, bool sync, std::string* err);

  // Group commit: returns once everything written (by any thread) before the
  // call is in the WAL on disk. Concurrent callers share one fsync: while
  // one syncs, the others wait and are covered by the next sync. False with
  // *err when the sync fails.
  bool SyncWal(std::string* err) const;

  // Bulk loads (the snapshot import): applies `writes` atomically without
  // the WAL. They are durable only once Flush returns; a crash before it
  // loses them, so a bulk loader must be safe to run again.
  bool WriteUnlogged(const WriteSet& writes, std::string* err);
  // Writes every column family's memtable to disk and waits for it.
  bool Flush(std::string* err);
  // Bulk loading into an empty store: automatic compaction paused while on,
  // so that freshly flushed files are not merged again and again while the
  // load goes on (random task ids make every file overlap every other);
  // turned off, compaction resumes in the background and merges them once.
  bool SetBulkLoading(bool on, std::string* err);
  // Waits until no compaction is pending or running (tools and benchmarks).
  void WaitForCompactions() const;

  // Visits keys starting with `prefix`, from `start` (inclusive; empty means
  // the prefix itself) in key order, until `fn` returns false.
  void Scan(Cf cf, std::string_view prefix, std::string_view start,
            const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

 private:
  bool Apply(const WriteSet& writes, bool sync, bool wal, std::string* err);

  std::shared_ptr<rocksdb::Cache> cache_;  // StoreMemory::cache_bytes; outlives db_
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  // Group commit state: the highest sequence number known durable, and
  // whether a thread is syncing now.
  mutable std::mutex sync_mu_;
  mutable std::condition_variable sync_cv_;
  mutable uint64_t synced_seq_ = 0;
  mutable bool syncing_ = false;
};

// Defers the WAL sync of this thread's synced writes to Commit, so that a
// request handler can release its locks before waiting for the disk and
// concurrent requests share one fsync. Use one per request that must be
// durable before it is answered:
//
//   DeferredSync durable(store);
//   engine.SubmitResult(...);               // its synced writes reach the WAL only
//   if (!durable.Commit(&err)) -> 500;      // now on disk (or the answer is an error)
//
// Not nestable; the destructor commits what was not committed (errors logged).
class DeferredSync {
 public:
  explicit DeferredSync(const Store& store);
  ~DeferredSync();
  DeferredSync(const DeferredSync&) = delete;
  DeferredSync& operator=(const DeferredSync&) = delete;

  // Returns once every synced write made on this thread since the scope
  // began is in the WAL on disk (at once when there was none).
  bool Commit(std::string* err);

 private:
  friend class Store;
  const Store& store_;
  DeferredSync* outer_;
  bool pending_ = false;
};

}  // namespace corral::coordinator
