#include "coordinator/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unordered_map>

#include "common/protocol.h"

namespace corral::coordinator {

namespace {

const char* const kCfNames[] = {
    "meta",       "projects", "files",    "tasks",      "project_tasks",
    "queue",      "leases",   "results",  "volunteer_results", "verdicts",
    "volunteers", "accounts", "credit_log", "verdict_times",
    "wheels",     "reputation",
};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<size_t>(Cf::kCount));

rocksdb::Slice S(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Point reads (a verdict, a task, a volunteer) are most of the read side, and
// a project's verdicts lie all over their family (task ids are hashes): one
// block cache for every family of the store, far larger than RocksDB's 8 MB
// default so that the hot part of a big store stays in memory, and Bloom
// filters so that a Get reads one data block. Index and filter blocks live in
// the cache too (those of level 0 pinned, as they are read on every Get), so
// that the store's memory is the cache's bound whatever its size on disk.
rocksdb::ColumnFamilyOptions FamilyOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions o;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return o;
}

}  // namespace

std::string Key(std::initializer_list<std::string_view> parts) {
  std::string out;
  bool first = true;
  for (auto p : parts) {
    if (!first) out.push_back('\0');
    out.append(p);
    first = false;
  }
  return out;
}

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t z = key.find('\0', pos);
    out.emplace_back(key.substr(pos, z == std::string_view::npos ? std::string_view::npos : z - pos));
    if (z == std::string_view::npos) break;
    pos = z + 1;
  }
  return out;
}

std::string OrderedHex(uint64_t n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
  return buf;
}

std::string VerdictTimeKey(int64_t decided_at, std::string_view task_id) {
  uint64_t t = decided_at > 0 ? static_cast<uint64_t>(decided_at) : 0;
  return Key({OrderedHex(UINT64_MAX - t), task_id});
}

WriteSet::WriteSet() = default;
WriteSet::~WriteSet() = default;

void WriteSet::Put(Cf cf, std::string_view key, std::string_view value) {
  ops_.push_back({cf, std::string(key), std::string(value), false});
  ++count_;
}

void WriteSet::PutJson(Cf cf, std::string_view key, const nlohmann::json& value) {
  Put(cf, key, value.dump());
}

void WriteSet::Delete(Cf cf, std::string_view key) {
  ops_.push_back({cf, std::string(key), "", true});
  ++count_;
}

Store::Store() = default;

Store::~Store() {
  if (db_) {
    for (auto* h : handles_)
      if (h) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

bool Store::Open(const std::filesystem::path& dir, std::string* err, bool bulk_load,
                 const StoreMemory& memory) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 5;
  cache_ = rocksdb::NewLRUCache(memory.cache_bytes);
  options.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      bulk_load ? 4 * memory.write_buffer_bytes : memory.write_buffer_bytes, bulk_load ? nullptr : cache_);
  rocksdb::ColumnFamilyOptions family = FamilyOptions(cache_);
  if (bulk_load) {
    family.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
    // Twice the default: half as many files left unmerged by the load (the
    // whole snapshot leaves 24 in the tasks family, under RocksDB's default
    // of 36 at which writes stop until compaction catches up).
    family.write_buffer_size = 128 << 20;
    options.allow_concurrent_memtable_write = false;  // the vector takes one writer at a time
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kCfNames) families.emplace_back(name, family);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), families, &handles, &raw);
  if (!s.ok()) {
    *err = "opening the coordinator database in " + dir.string() + ": " + s.ToString() +
           " (is another coordinator using this --data directory?)";
    return false;
  }
  db_.reset(raw);
  db_->DestroyColumnFamilyHandle(handles[0]);  // the default family is unused
  handles_.assign(handles.begin() + 1, handles.end());

  std::string version;
  if (!Get(Cf::kMeta, "schema_version", &version)) {
    WriteSet w;
    w.Put(Cf::kMeta, "schema_version", std::to_string(kSchemaVersion));
    return Write(w, true, err);
  }
  int found = std::atoi(version.c_str());
  if (found > kSchemaVersion) {
    *err = "the database in " + dir.string() + " has schema version " + version +
           ", newer than this coordinator's " + std::to_string(kSchemaVersion) +
           "; run a newer corral";
    return false;
  }
  // Migrations from older versions go here, one step at a time.
  return true;
}

bool Store::OpenReadOnly(const std::filesystem::path& dir, std::string* err, const StoreMemory& memory) {
  rocksdb::Options options;
  cache_ = rocksdb::NewLRUCache(memory.cache_bytes);
  std::vector<std::string> existing;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir.string(), &existing);
  if (!s.ok()) {
    *err = "reading the coordinator database in " + dir.string() + ": " + s.ToString() +
           " (is it a coordinator's --data directory?)";
    return false;
  }
  // Open only the families this database has (read-only opens may take a
  // subset); the others stay null and read as empty.
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  std::vector<int> index;  // families[i] is Cf index[i], or -1 for the default
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  index.push_back(-1);
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    if (std::find(existing.begin(), existing.end(), kCfNames[i]) == existing.end()) continue;
    families.emplace_back(kCfNames[i], FamilyOptions(cache_));
    index.push_back(i);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, dir.string(), families, &handles, &raw);
  if (!s.ok()) {
    *err = "opening the coordinator database in " + dir.string() + " read-only: " + s.ToString();
    return false;
  }
  db_.reset(raw);
  handles_.assign(static_cast<size_t>(Cf::kCount), nullptr);
  for (size_t i = 0; i < handles.size(); ++i) {
    if (index[i] < 0)
      db_->DestroyColumnFamilyHandle(handles[i]);
    else
      handles_[index[i]] = handles[i];
  }
  std::string version;
  if (Get(Cf::kMeta, "schema_version", &version) && std::atoi(version.c_str()) > kSchemaVersion) {
    *err = "the database in " + dir.string() + " has schema version " + version +
           ", newer than this program's " + std::to_string(kSchemaVersion) + "; run a newer corral";
    return false;
  }
  return true;
}

bool Store::Get(Cf cf, std::string_view key, std::string* value) const {
  if (!handles_[static_cast<int>(cf)]) return false;  // a family a read-only store lacks
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[static_cast<int>(cf)], S(key), &v);
  if (s.IsNotFound()) return false;
  if (!s.ok()) {
    spdlog::error("store: reading {} key of {} bytes: {}", kCfNames[static_cast<int>(cf)],
                  key.size(), s.ToString());
    return false;
  }
  *value = std::move(v);
  return true;
}

bool Store::GetJson(Cf cf, std::string_view key, nlohmann::json* value) const {
  std::string v;
  if (!Get(cf, key, &v)) return false;
  auto j = ParseJsonOrDiscarded(v);
  if (j.is_discarded()) {
    spdlog::error("store: the {} record '{}' is not valid JSON", kCfNames[static_cast<int>(cf)],
                  std::string(key));
    return false;
  }
  *value = std::move(j);
  return true;
}

bool Store::Has(Cf cf, std::string_view key) const {
  std::string v;
  return Get(cf, key, &v);
}

namespace {
thread_local DeferredSync* tls_deferred = nullptr;
}  // namespace

DeferredSync::DeferredSync(const Store& store) : store_(store), outer_(tls_deferred) {
  tls_deferred = this;
}

DeferredSync::~DeferredSync() {
  std::string err;
  if (!Commit(&err)) spdlog::error("store: {}", err);
  tls_deferred = outer_;
}

bool DeferredSync::Commit(std::string* err) {
  if (!pending_) return true;
  pending_ = false;
  return store_.SyncWal(err);
}

bool Store::SyncWal(std::string* err) const {
  const uint64_t wanted = db_->GetLatestSequenceNumber();
  std::unique_lock<std::mutex> lock(sync_mu_);
  while (synced_seq_ < wanted) {
    if (syncing_) {
      sync_cv_.wait(lock);
      continue;
    }
    syncing_ = true;
    // Everything written up to here is covered by this sync.
    const uint64_t target = db_->GetLatestSequenceNumber();
    lock.unlock();
    rocksdb::Status s = db_->SyncWAL();
    lock.lock();
    syncing_ = false;
    if (s.ok()) synced_seq_ = std::max(synced_seq_, target);
    sync_cv_.notify_all();
    if (!s.ok()) {
      *err = "syncing the coordinator database's log to disk: " + s.ToString() +
             " (check the disk and the data directory)";
      return false;
    }
  }
  return true;
}

bool Store::WriteUnlogged(const WriteSet& writes, std::string* err) {
  return Apply(writes, false, false, err);
}

bool Store::Flush(std::string* err) {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (auto* h : handles_)
    if (h) all.push_back(h);
  rocksdb::Status s = db_->Flush(fo, all);
  if (!s.ok()) {
    *err = "flushing the coordinator database to disk: " + s.ToString() +
           " (check free disk space and the data directory's permissions)";
    return false;
  }
  return true;
}

bool Store::SetBulkLoading(bool on, std::string* err) {
  // Stalls on the count of unmerged files go with it: they would stop the
  // load that paused their merging.
  const std::unordered_map<std::string, std::string> bulk = {
      {"disable_auto_compactions", "true"},
      {"level0_slowdown_writes_trigger", "1000"},
      {"level0_stop_writes_trigger", "1000"}};
  const rocksdb::ColumnFamilyOptions defaults;
  const std::unordered_map<std::string, std::string> normal = {
      {"disable_auto_compactions", "false"},
      {"level0_slowdown_writes_trigger", std::to_string(defaults.level0_slowdown_writes_trigger)},
      {"level0_stop_writes_trigger", std::to_string(defaults.level0_stop_writes_trigger)}};
  for (auto* h : handles_) {
    if (!h) continue;
    rocksdb::Status s = db_->SetOptions(h, on ? bulk : normal);
    if (!s.ok()) {
      *err = "setting the database's bulk-load options: " + s.ToString();
      return false;
    }
  }
  return true;
}

void Store::WaitForCompactions() const {
  auto busy = [&] {
    uint64_t n = 0;
    if (db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions, &n) && n) return true;
    for (auto* h : handles_)  // pending is per family
      if (h && db_->GetIntProperty(h, rocksdb::DB::Properties::kCompactionPending, &n) && n) return true;
    return false;
  };
  while (busy()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

bool Store::Write(const WriteSet& writes, bool sync, std::string* err) {
  DeferredSync* deferred = tls_deferred;
  if (sync && deferred && &deferred->store_ == this) {
    if (!Apply(writes, false, true, err)) return false;
    deferred->pending_ = true;
    return true;
  }
  return Apply(writes, sync, true, err);
}

bool Store::Apply(const WriteSet& writes, bool sync, bool wal, std::string* err) {
  rocksdb::WriteBatch batch;
  for (const auto& op : writes.ops_) {
    auto* h = handles_[static_cast<int>(op.cf)];
    if (!h) {
      *err = std::string("writing to the ") + kCfNames[static_cast<int>(op.cf)] +
             " family of a store opened read-only";
      return false;
    }
    rocksdb::Status s = op.del ? batch.Delete(h, S(op.key)) : batch.Put(h, S(op.key), S(op.value));
    if (!s.ok()) {
      *err = "preparing a database write: " + s.ToString();
      return false;
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  wo.disableWAL = !wal;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    *err = "writing to the coordinator database: " + s.ToString() +
           " (check free disk space and the data directory's permissions)";
    return false;
  }
  return true;
}

void Store::Scan(Cf cf, std::string_view prefix, std::string_view start,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (!handles_[static_cast<int>(cf)]) return;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<int>(cf)]));
  for (it->Seek(S(start.empty() ? prefix : start)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    std::string_view key(k.data(), k.size());
    if (key.substr(0, prefix.size()) != prefix) break;
    rocksdb::Slice v = it->value();
    if (!fn(key, std::string_view(v.data(), v.size()))) break;
  }
}

}  // namespace corral::coordinator
