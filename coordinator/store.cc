#include "coordinator/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace corral::coordinator {

namespace {

const char* const kCfNames[] = {
    "meta",       "projects", "files",    "tasks",      "project_tasks",
    "queue",      "leases",   "results",  "volunteer_results", "verdicts",
    "volunteers", "accounts", "credit_log",
};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<size_t>(Cf::kCount));

rocksdb::Slice S(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

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
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

bool Store::Open(const std::filesystem::path& dir, std::string* err) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 5;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  families.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kCfNames) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
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

bool Store::Get(Cf cf, std::string_view key, std::string* value) const {
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
  auto j = nlohmann::json::parse(v, nullptr, false);
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

bool Store::Write(const WriteSet& writes, bool sync, std::string* err) {
  rocksdb::WriteBatch batch;
  for (const auto& op : writes.ops_) {
    auto* h = handles_[static_cast<int>(op.cf)];
    rocksdb::Status s = op.del ? batch.Delete(h, S(op.key)) : batch.Put(h, S(op.key), S(op.value));
    if (!s.ok()) {
      *err = "preparing a database write: " + s.ToString();
      return false;
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
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
