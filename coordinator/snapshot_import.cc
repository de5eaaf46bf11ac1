#include "coordinator/snapshot_import.h"

#include <lzma.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "common/fs_util.h"
#include "common/names.h"
#include "common/platform.h"
#include "coordinator/priority.h"
#include "coordinator/records.h"
#include "coordinator/store.h"
#include "coordinator/task_factory.h"

namespace corral::coordinator {

namespace {

constexpr size_t kBatchRecords = 16384;
// Present in meta while an import runs: its writes bypass the WAL until the
// final flush, so an import that did not finish may have left any part of
// them; the next run then recounts the stored projects and tasks.
constexpr char kImportMarker[] = "snapshot_import_incomplete";
constexpr size_t kMaxLoggedBadLines = 1000;

// Reads the snapshot line by line, decoding xz on the fly when the file
// starts with the xz magic; the whole file is never held in memory.
class SnapshotReader {
 public:
  ~SnapshotReader() {
    if (xz_) lzma_end(&strm_);
    if (f_) std::fclose(f_);
  }

  bool Open(const std::filesystem::path& path, std::string* err) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) {
      *err = "opening the snapshot " + path.string() + ": " + std::strerror(errno) +
             " (give the path of a pypi-projects-*.tsv or .tsv.xz file)";
      return false;
    }
    std::error_code ec;
    size_ = std::filesystem::file_size(path, ec);
    in_.resize(1 << 20);
    out_.resize(256 << 10);  // small enough for a smooth progress bar
    if (!FillInput(err)) return false;
    static const unsigned char kMagic[6] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
    xz_ = in_len_ >= 6 && std::memcmp(in_.data(), kMagic, 6) == 0;
    if (xz_) {
      lzma_ret r = lzma_stream_decoder(&strm_, UINT64_MAX, LZMA_CONCATENATED);
      if (r != LZMA_OK) {
        *err = "starting the xz decoder for " + path.string() + " (liblzma error " +
               std::to_string(r) + ")";
        xz_ = false;
        return false;
      }
      strm_.next_in = reinterpret_cast<const uint8_t*>(in_.data());
      strm_.avail_in = in_len_;
    }
    return true;
  }

  // The next line without its '\n'. False at the end of the input (then
  // *err is empty) or on an error (*err set).
  bool Next(std::string_view* line, std::string* err) {
    while (true) {
      size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        *line = std::string_view(buf_).substr(pos_, nl - pos_);
        pos_ = nl + 1;
        return true;
      }
      if (done_) {
        if (pos_ < buf_.size()) {  // a last line without '\n'
          *line = std::string_view(buf_).substr(pos_);
          pos_ = buf_.size();
          return true;
        }
        return false;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      if (!Decode(err)) return false;
    }
  }

  // Bytes of the file decoded so far (read-ahead not counted).
  uint64_t consumed() const { return consumed_ - (xz_ ? strm_.avail_in : in_len_); }
  uint64_t size() const { return size_; }
  uint64_t text_bytes() const { return text_bytes_; }

 private:
  bool FillInput(std::string* err) {
    in_len_ = std::fread(in_.data(), 1, in_.size(), f_);
    if (in_len_ < in_.size() && std::ferror(f_)) {
      *err = "reading the snapshot " + path_.string() + ": " + std::strerror(errno);
      return false;
    }
    eof_ = in_len_ < in_.size();
    consumed_ += in_len_;
    return true;
  }

  // Appends the next piece of text to buf_, or sets done_.
  bool Decode(std::string* err) {
    if (!xz_) {
      if (in_len_ == 0 && !eof_ && !FillInput(err)) return false;
      if (in_len_ == 0) {
        done_ = true;
        return true;
      }
      buf_.append(in_.data(), in_len_);
      text_bytes_ += in_len_;
      in_len_ = 0;
      return true;
    }
    if (strm_.avail_in == 0 && !eof_) {
      if (!FillInput(err)) return false;
      strm_.next_in = reinterpret_cast<const uint8_t*>(in_.data());
      strm_.avail_in = in_len_;
    }
    strm_.next_out = reinterpret_cast<uint8_t*>(out_.data());
    strm_.avail_out = out_.size();
    lzma_ret r = lzma_code(&strm_, strm_.avail_in == 0 && eof_ ? LZMA_FINISH : LZMA_RUN);
    size_t produced = out_.size() - strm_.avail_out;
    buf_.append(out_.data(), produced);
    text_bytes_ += produced;
    if (r == LZMA_STREAM_END) {
      done_ = true;
      return true;
    }
    if (r != LZMA_OK) {
      *err = "decompressing the snapshot " + path_.string() + " after " +
             std::to_string(text_bytes_) + " bytes of text: " +
             (r == LZMA_DATA_ERROR || r == LZMA_FORMAT_ERROR ? "corrupt xz data"
              : r == LZMA_BUF_ERROR                          ? "the file is truncated"
                                                             : "liblzma error " + std::to_string(r)) +
             " (download the snapshot again)";
      return false;
    }
    return true;
  }

  std::filesystem::path path_;
  FILE* f_ = nullptr;
  bool xz_ = false, eof_ = false, done_ = false;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  std::string in_, out_;
  size_t in_len_ = 0;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t size_ = 0, consumed_ = 0, text_bytes_ = 0;
};

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t t = line.find('\t', pos);
    out.push_back(line.substr(pos, t == std::string_view::npos ? std::string_view::npos : t - pos));
    if (t == std::string_view::npos) break;
    pos = t + 1;
  }
  return out;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The first second of a "YYYY-MM" month, or -1.
int64_t MonthStart(const std::string& month) {
  if (month.size() != 7 || month[4] != '-' || !AllDigits(month.substr(0, 4)) ||
      !AllDigits(month.substr(5)))
    return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(month.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(month.substr(5)) - 1;
  tm.tm_mday = 1;
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_year < 70) return -1;
  return static_cast<int64_t>(timegm(&tm));
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// The TaskRecord JSON of an unresolved task, formatted directly: a bulk load
// writes millions of them and building an nlohmann::json for each costs more
// than the write. Fields and names as records.h; the fields left at their
// defaults (filename, sha256, requires_python, size, decided, results) are
// omitted, which TaskRecord's JSON reading allows: 30% smaller values, and
// the bulk load is bound by bytes written. The tests parse it back.
std::string UnresolvedTaskJson(const std::string& id, const std::string& project,
                               const std::string& version, const std::string& platform,
                               uint64_t priority, int64_t now) {
  std::string j;
  j.reserve(256);
  j.append("{\"task_id\":\"").append(id).append("\",\"project\":");
  AppendJsonString(&j, project);
  j.append(",\"version\":");
  AppendJsonString(&j, version);
  j.append(",\"url\":");
  AppendJsonString(&j, kUnresolvedInputUrl);
  j.append(",\"platform\":");
  AppendJsonString(&j, platform);
  j.append(",\"priority\":")
      .append(std::to_string(priority))
      .append(",\"created_at\":")
      .append(std::to_string(now))
      .append("}");
  return j;
}

bool StoreHasAny(const Store& store, Cf cf) {
  bool any = false;
  store.Scan(cf, "", "", [&](std::string_view, std::string_view) {
    any = true;
    return false;
  });
  return any;
}

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

bool IsUnresolvedSnapshotTask(const TaskRecord& task) {
  return task.url == kUnresolvedInputUrl && task.sha256.empty();
}

std::string SnapshotTaskId(const std::string& project, const std::string& version,
                           const std::string& platform) {
  return TaskId(project, version, "", platform);
}

std::vector<std::string> DefaultSnapshotPlatforms() {
  return {"cp27-linux_x86_64",  "cp36-linux_x86_64",  "cp37-linux_x86_64", "cp38-linux_x86_64",
          "cp39-linux_x86_64",  "cp310-linux_x86_64", "cp311-linux_x86_64",
          "cp312-linux_x86_64", "cp313-linux_x86_64", "pp39-linux_x86_64",
          "pp310-linux_x86_64"};
}

bool ParseSnapshotLine(std::string_view line, SnapshotLine* out, std::string* why) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto f = SplitTabs(line);
  if (f.size() != 5) {
    *why = "expected 5 tab-separated fields (name, version, month, rank, summary), found " +
           std::to_string(f.size());
    return false;
  }
  if (!IsValidProjectName(f[0])) {
    *why = "'" + std::string(f[0].substr(0, 100)) + "' is not a valid project name";
    return false;
  }
  if (f[1].size() > 128) {
    *why = "the version is longer than 128 characters";
    return false;
  }
  for (char c : f[1])
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      *why = "the version '" + std::string(f[1]) + "' has a space or a non-printable character";
      return false;
    }
  std::string month(f[2]);
  if (!month.empty() && MonthStart(month) < 0) {
    *why = "the month '" + month + "' is not YYYY-MM";
    return false;
  }
  int64_t rank = 0;
  if (!f[3].empty()) {
    if (!AllDigits(f[3]) || f[3].size() > 9 || (rank = std::stoll(std::string(f[3]))) == 0) {
      *why = "the rank '" + std::string(f[3].substr(0, 20)) + "' is not a positive integer";
      return false;
    }
  }
  out->name.assign(f[0]);
  out->version.assign(f[1]);
  out->month = std::move(month);
  out->rank = rank;
  out->summary.assign(f[4]);
  return true;
}

uint64_t SnapshotPriority(int64_t rank, const std::string& month) {
  return TaskPriority(/*new_release=*/false, rank, MonthStart(month));
}

bool IngestSnapshot(Store& store, const std::filesystem::path& file,
                    const std::vector<std::string>& platforms, const ProgressFn& progress,
                    IngestStats* stats, std::string* err) {
  *stats = IngestStats{};
  err->clear();
  if (platforms.empty()) {
    *err = "no platforms to import the snapshot for";
    return false;
  }
  for (const auto& p : platforms) {
    PlatformTag tag;
    if (!ParsePlatformTag(p, &tag, err)) return false;
    if (tag.ToString() != p) {
      *err = "platform tag '" + p + "' is not in canonical form; use '" + tag.ToString() + "'";
      return false;
    }
  }
  SnapshotReader reader;
  if (!reader.Open(file, err)) return false;
  stats->input_bytes = reader.size();

  // An empty store needs no existence checks: the duplicate-name set below
  // is enough. Otherwise each project is looked up (re-import, or a store
  // that index sync filled).
  const bool fresh = !StoreHasAny(store, Cf::kProjects) && !StoreHasAny(store, Cf::kProjectTasks);
  const int64_t now = NowSeconds();

  nlohmann::json counters = nlohmann::json::object();
  {
    nlohmann::json j;
    if (store.GetJson(Cf::kMeta, "counters", &j) && j.is_object()) counters = std::move(j);
  }
  const int64_t base_projects = counters.value("projects", int64_t{0});
  const int64_t base_tasks = counters.value("tasks", int64_t{0});

  // The platform set: joined only when no files are known (see the header).
  nlohmann::json stored_platforms = nlohmann::json::array();
  {
    nlohmann::json j;
    if (store.GetJson(Cf::kMeta, "platforms", &j) && j.is_array()) stored_platforms = std::move(j);
  }
  std::vector<std::string> known;
  for (const auto& t : stored_platforms)
    if (t.is_string()) known.push_back(t.get<std::string>());
  std::vector<std::string> fresh_platforms;
  for (const auto& p : platforms)
    if (std::find(known.begin(), known.end(), p) == known.end()) fresh_platforms.push_back(p);
  bool write_platforms = false;
  if (!fresh_platforms.empty()) {
    if (StoreHasAny(store, Cf::kFiles)) {
      spdlog::warn("snapshot: the store already has index files; platforms {} are not added to "
                   "its platform set here: start the coordinator with --platforms including "
                   "them so it also creates their tasks for the files it knows",
                   nlohmann::json(fresh_platforms).dump());
    } else {
      for (const auto& p : fresh_platforms) known.push_back(p);
      write_platforms = true;
    }
  }

  // Into an empty store, compaction waits for the end of the load (Store::SetBulkLoading).
  if (fresh && !store.SetBulkLoading(true, err)) return false;
  struct BulkEnd {
    Store& store;
    bool on;
    ~BulkEnd() {
      std::string e;
      if (on && !store.SetBulkLoading(false, &e)) spdlog::error("snapshot: {}", e);
    }
  } bulk_end{store, fresh};

  // A crashed import left the counters behind what it stored: recount at the end.
  const bool recount = store.Has(Cf::kMeta, kImportMarker);
  {
    WriteSet m;
    m.Put(Cf::kMeta, kImportMarker, file.string());
    if (!store.Write(m, true, err)) return false;
  }

  auto w = std::make_unique<WriteSet>();
  size_t records = 0;
  // Task ids are hashes, so tasks arrive in random key order; written sorted,
  // each batch goes into the memtable's skip list in one sweep instead of a
  // full search per key (the import's main cost, see bench/README.md).
  std::vector<std::pair<std::string, std::string>> task_puts;
  task_puts.reserve(kBatchRecords);
  auto put_meta = [&](WriteSet& ws) {
    counters["projects"] = base_projects + stats->projects_created;
    counters["tasks"] = base_tasks + stats->tasks_created;
    ws.Put(Cf::kMeta, "counters", Dump(counters));
    if (write_platforms) ws.Put(Cf::kMeta, "platforms", Dump(nlohmann::json(known)));
  };
  auto flush = [&]() {
    std::sort(task_puts.begin(), task_puts.end());
    for (const auto& [id, value] : task_puts) w->Put(Cf::kTasks, id, value);
    task_puts.clear();
    put_meta(*w);
    // Without the WAL: the final Flush makes everything durable at once.
    if (!store.WriteUnlogged(*w, err)) {
      *err = "importing the snapshot " + file.string() + " (line " +
             std::to_string(stats->lines) + "): " + *err;
      return false;
    }
    ++stats->batches;
    w = std::make_unique<WriteSet>();
    records = 0;
    return true;
  };

  std::unordered_map<std::string, int64_t> seen;  // normalised name -> line
  seen.reserve(1 << 20);
  auto bad = [&](int64_t line_no, std::string_view name, const std::string& why) {
    ++stats->bad_lines;
    if (stats->first_bad.size() < 100)
      stats->first_bad.push_back({line_no, std::string(name.substr(0, 200)), why});
    if (stats->bad_lines <= static_cast<int64_t>(kMaxLoggedBadLines))
      spdlog::warn("snapshot {} line {}: project '{}': {}; line skipped", file.filename().string(),
                   line_no, std::string(name.substr(0, 100)), why);
    else if (stats->bad_lines == static_cast<int64_t>(kMaxLoggedBadLines) + 1)
      spdlog::warn("snapshot {}: more than {} bad lines; the rest are only counted",
                   file.filename().string(), kMaxLoggedBadLines);
  };

  std::string_view line;
  SnapshotLine rec;
  std::string why;
  std::vector<std::string> have;  // platforms with a task for this release already
  while (reader.Next(&line, err)) {
    int64_t line_no = ++stats->lines;
    if (line_no == 1 && line.substr(0, 5) == "name\t") continue;
    if (line.empty() || line == "\r") {
      bad(line_no, "", "the line is empty");
      continue;
    }
    if (!ParseSnapshotLine(line, &rec, &why)) {
      bad(line_no, line.substr(0, line.find('\t')), why);
      continue;
    }
    std::string name = NormalizeProjectName(rec.name);
    auto [it, inserted] = seen.emplace(name, line_no);
    if (!inserted) {
      bad(line_no, rec.name,
          "the project already appeared on line " + std::to_string(it->second) +
              " (names are compared normalised: '" + name + "')");
      continue;
    }
    ++stats->projects;
    if (rec.rank > 0) ++stats->ranked;
    uint64_t priority = SnapshotPriority(rec.rank, rec.month);

    ProjectRecord project;
    bool exists = false;
    have.clear();
    if (!fresh) {
      nlohmann::json j;
      exists = store.GetJson(Cf::kProjects, name, &j) && FromJson(j, &project);
      if (exists) {
        // Any task of this release on a platform, resolved or not, counts.
        std::string prefix = Key({name, rec.version, ""});
        store.Scan(Cf::kProjectTasks, prefix, "", [&](std::string_view key, std::string_view) {
          auto parts = SplitKey(key);
          if (parts.size() == 4) have.push_back(parts[2]);
          return true;
        });
      }
    }
    if (!exists) {
      project.name = name;
      project.display_name = rec.name;
      ++stats->projects_created;
    }
    bool changed = !exists;
    if (project.summary.empty() && !rec.summary.empty()) {
      project.summary = rec.summary;
      changed = true;
    }
    if (rec.rank > 0 && project.download_rank != rec.rank) {
      project.download_rank = rec.rank;
      changed = true;
    }
    bool placed = false;
    // A project the snapshot gives no version for (pip and certifi in
    // 2026-11's) is still a project, with its rank: index sync gives it
    // releases and tasks when it reads the project's page.
    if (rec.version.empty()) ++stats->without_version;
    for (const auto& platform : rec.version.empty() ? std::vector<std::string>{} : platforms) {
      if (std::find(have.begin(), have.end(), platform) != have.end()) {
        ++stats->tasks_existing;
        continue;
      }
      std::string id = SnapshotTaskId(name, rec.version, platform);
      task_puts.emplace_back(id, UnresolvedTaskJson(id, name, rec.version, platform, priority, now));
      w->Put(Cf::kProjectTasks, Key({name, rec.version, platform, id}), "");
      records += 2;
      ++project.tasks;
      ++stats->tasks_created;
      changed = placed = true;
    }
    // Index sync resolves placeholders when it next reads the project's page
    // (Engine::IngestProject); forgetting the serial makes it read it.
    if (placed && exists) project.last_serial = -1;
    if (changed) {
      w->Put(Cf::kProjects, name, Dump(nlohmann::json(project)));
      ++records;
    }
    if (records >= kBatchRecords) {
      if (!flush()) return false;
      if (progress) progress(reader.consumed(), reader.size(), *stats);
    }
  }
  stats->text_bytes = reader.text_bytes();
  if (!err->empty()) return false;
  if (!flush() || !store.Flush(err)) return false;
  // Everything is on disk: the counters (recounted after a crashed run) and
  // the end of the import, synced.
  WriteSet done;
  if (recount) {
    auto count = [&](Cf cf) {
      int64_t n = 0;
      store.Scan(cf, "", "", [&](std::string_view, std::string_view) {
        ++n;
        return true;
      });
      return n;
    };
    counters["projects"] = count(Cf::kProjects);
    counters["tasks"] = count(Cf::kTasks);
    done.Put(Cf::kMeta, "counters", Dump(counters));
  }
  done.Delete(Cf::kMeta, kImportMarker);
  if (!store.Write(done, true, err)) return false;
  if (progress) progress(reader.size(), reader.size(), *stats);
  return true;
}

int RunIngestSnapshot(const std::filesystem::path& file, const std::filesystem::path& data_dir,
                      std::vector<std::string> platforms) {
  if (platforms.empty()) platforms = DefaultSnapshotPlatforms();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    std::fprintf(stderr, "corral ingest-snapshot: %s is not a file; give the path of a "
                         "pypi-projects-*.tsv or .tsv.xz snapshot\n",
                 file.c_str());
    return 2;
  }
  for (const auto& p : platforms) {
    PlatformTag tag;
    std::string err;
    if (!ParsePlatformTag(p, &tag, &err)) {
      std::fprintf(stderr, "corral ingest-snapshot: %s\n", err.c_str());
      return 2;
    }
  }
  std::string err;
  Store store;
  // A new database is loaded with bulk-load memtables (Store::Open); one
  // that exists (a re-import, or a store index sync filled) is read while
  // importing, so it gets the usual ones.
  const bool new_db = !std::filesystem::exists(data_dir / "db" / "CURRENT");
  if (!EnsureDir(data_dir / "db", &err) || !store.Open(data_dir / "db", &err, /*bulk_load=*/new_db)) {
    std::fprintf(stderr, "corral ingest-snapshot: %s\n", err.c_str());
    return 2;
  }
  const bool tty = isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last_draw = start - std::chrono::seconds(1);
  ProgressFn progress = [&](uint64_t done, uint64_t total, const IngestStats& s) {
    if (!tty) return;
    auto t = std::chrono::steady_clock::now();
    if (done < total && t - last_draw < std::chrono::milliseconds(200)) return;
    last_draw = t;
    double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 0;
    frac = std::min(frac, 1.0);
    const int width = 30;
    int filled = static_cast<int>(frac * width);
    std::string bar(filled, '#');
    bar.append(width - filled, '.');
    double secs = std::chrono::duration<double>(t - start).count();
    std::fprintf(stderr, "\r[%s] %3d%%  %lld projects  %lld tasks  %lld bad  %.0f s", bar.c_str(),
                 static_cast<int>(frac * 100), static_cast<long long>(s.projects),
                 static_cast<long long>(s.tasks_created), static_cast<long long>(s.bad_lines),
                 secs);
    std::fflush(stderr);
  };
  IngestStats stats;
  bool ok = IngestSnapshot(store, file, platforms, progress, &stats, &err);
  if (tty) std::fputc('\n', stderr);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!ok) {
    std::fprintf(stderr,
                 "corral ingest-snapshot: %s\n(%lld tasks were written before the failure; "
                 "running the same command again finishes the import without duplicates)\n",
                 err.c_str(), static_cast<long long>(stats.tasks_created));
    return 1;
  }
  std::printf("imported %s into %s in %.1f s\n", file.c_str(), (data_dir / "db").c_str(), secs);
  std::printf("  projects: %lld (%lld new, %lld ranked by downloads)\n",
              static_cast<long long>(stats.projects), static_cast<long long>(stats.projects_created),
              static_cast<long long>(stats.ranked));
  std::printf("  tasks: %lld new, %lld already there, on %zu platforms\n",
              static_cast<long long>(stats.tasks_created),
              static_cast<long long>(stats.tasks_existing), platforms.size());
  if (stats.without_version)
    std::printf("  projects with no version in the snapshot: %lld (no task until index sync reads them)\n",
                static_cast<long long>(stats.without_version));
  std::printf("  bad lines skipped: %lld%s\n", static_cast<long long>(stats.bad_lines),
              stats.bad_lines ? " (logged above with their line numbers)" : "");
  std::printf("  the tasks wait for their input file: index sync resolves each release's file "
              "before volunteers can lease it\n");
  return 0;
}

}  // namespace corral::coordinator
