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
//
// Thread safety: RocksDB itself is thread-safe; Store adds no state of its
// own after Open, so reads may run concurrently with writes. Callers that need
// read-modify-write consistency (the Engine) serialise their writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rocksdb {
class DB;
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
  kCount,  // not a family: the number of them
};

inline constexpr int kSchemaVersion = 1;

// Joins key parts with '\0'.
std::string Key(std::initializer_list<std::string_view> parts);
// Splits a key built by Key.
std::vector<std::string> SplitKey(std::string_view key);
// A fixed-width, order-preserving hex form of a number for keys.
std::string OrderedHex(uint64_t n);

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
  bool Open(const std::filesystem::path& dir, std::string* err);

  // Reads one value. Returns false when the key is absent or on a read error
  // (logged); *value untouched then.
  bool Get(Cf cf, std::string_view key, std::string* value) const;
  // Reads and parses a JSON value; false when absent or unparsable (logged).
  bool GetJson(Cf cf, std::string_view key, nlohmann::json* value) const;
  bool Has(Cf cf, std::string_view key) const;

  // Applies `writes` atomically. With sync, returns only once the write is in
  // the WAL on disk (results are acknowledged only after that).
  bool Write(const WriteSet& writes, bool sync, std::string* err);

  // Visits keys starting with `prefix`, from `start` (inclusive; empty means
  // the prefix itself) in key order, until `fn` returns false.
  void Scan(Cf cf, std::string_view prefix, std::string_view start,
            const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace corral::coordinator
