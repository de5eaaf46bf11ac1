// Snapshot import (DESIGN.md sections 3 and 8): loads a PyPI snapshot
// (shared/data/pypi-projects-*.tsv.xz: one project a line with its latest
// version, the month of that release, its download rank among the most
// downloaded projects, and its summary) into the coordinator's store, so the
// whole of PyPI can be exercised without the network.
//
// What it writes, per valid line: the project record, and one task per
// platform for the project's latest release. The snapshot has no files, so
// those tasks carry what is known (project, version, platform, priority) and
// the marker kUnresolvedInputUrl in place of the input file's URL, with an
// empty filename and sha256. They are NOT put in the queue column family:
// the scheduler never leases them, because a volunteer could not fetch or
// verify an input with no sha256. Index sync turns them into leasable tasks
// once it knows the release's files (see the note on IsUnresolvedSnapshotTask).
//
// Ids are derived from content (TaskId with an empty file sha256), so running
// the import again changes nothing: existing tasks are left alone and the
// counters only count what is new.
//
// Layer: this is an offline bulk load on the Store, like `corral serve`'s
// Engine::Open it must own the data directory (RocksDB's lock refuses a
// second opener); it keeps the Engine's stored counters ("counters" in meta)
// and platform set ("platforms") consistent so the coordinator starts on it
// as on any other store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::coordinator {

class Store;
struct TaskRecord;

// The url of a task whose input file is not known yet: created from a
// snapshot, resolved from the index at sync time.
inline constexpr char kUnresolvedInputUrl[] = "corral-snapshot:resolve-from-index-at-sync";

// True for a task created by the snapshot import whose input file is still
// unknown. Index sync, on learning the files of (project, version), should
// delete such a task (tasks, project_tasks keys; it has no queue key) and
// create the real one with the same priority; SnapshotTaskId finds it.
bool IsUnresolvedSnapshotTask(const TaskRecord& task);

// The id of the unresolved task of (project, version, platform): TaskId with
// an empty file sha256.
std::string SnapshotTaskId(const std::string& project, const std::string& version,
                           const std::string& platform);

// The 11 platforms a snapshot is imported for when none are given: CPython
// 2.7 and 3.6 to 3.13, PyPy 3.9 and 3.10, all on linux_x86_64.
std::vector<std::string> DefaultSnapshotPlatforms();

// One line of the snapshot, validated.
struct SnapshotLine {
  std::string name;     // as the snapshot spells it (a valid distribution name)
  std::string version;  // as given: printable ASCII, no spaces; "" when the snapshot has none
  std::string month;    // "YYYY-MM" of the latest release, or ""
  int64_t rank = 0;     // download rank (1 = most downloaded), 0 when unranked
  std::string summary;
};

// Parses one line (without its newline; a trailing '\r' is ignored). False
// with *why saying what is wrong (field count, name, version, month, rank).
bool ParseSnapshotLine(std::string_view line, SnapshotLine* out, std::string* why);

// A task's priority from the snapshot (smaller goes first): the backlog tier
// of priority.h, ranked projects by rank, then the long tail newer releases
// first (by the release month's first second), an unknown month last. The
// project's rank is also kept on its record (download_rank), so that index
// sync gives the project's later tasks (new releases among them) their place.
uint64_t SnapshotPriority(int64_t rank, const std::string& month);

// What an import did.
struct IngestStats {
  int64_t lines = 0;              // lines read, header included
  int64_t projects = 0;           // valid project lines
  int64_t projects_created = 0;   // projects new to the store
  int64_t tasks_created = 0;      // tasks new to the store
  int64_t tasks_existing = 0;     // tasks already stored (re-import), left alone
  int64_t ranked = 0;             // valid lines with a download rank
  int64_t without_version = 0;    // projects with no version given: created, no task (index sync adds them)
  int64_t bad_lines = 0;          // lines skipped
  int64_t batches = 0;            // RocksDB write batches
  uint64_t input_bytes = 0;       // bytes of the file as stored (compressed when .xz)
  uint64_t text_bytes = 0;        // bytes of TSV text decoded
  // The first 100 skipped lines: line number (1-based), project name as far
  // as it could be read, and why.
  struct BadLine {
    int64_t line = 0;
    std::string name, why;
  };
  std::vector<BadLine> first_bad;
};

// Called every few thousand lines and once at the end: bytes of the input
// file consumed so far, its size, and the stats so far.
using ProgressFn = std::function<void(uint64_t done, uint64_t total, const IngestStats& stats)>;

// Imports `file` (TSV, xz-compressed or plain: told apart by the xz magic
// bytes) into `store` for `platforms` (canonical tags; refused with *err
// when one is not). A header line starting with "name\t" is skipped. Bad
// lines (and second occurrences of a normalised name) are counted, logged
// with their line number and project name, and skipped. Writes go in
// batches of about 16k records, bypassing the WAL (Store::WriteUnlogged);
// a final Store::Flush makes them durable, so everything is on disk when
// this returns true. Into an empty store, automatic compaction is paused
// for the load and resumes in the background after it (Store::SetBulkLoading).
// A meta key marks an import in progress: after a crash,
// the next run (which completes the import) recounts projects and tasks.
//
// The platforms join the store's platform set when the store has no files
// yet; otherwise they are left for the coordinator's --platforms to add
// (which also creates their tasks for the files already known).
//
// False with *err on an unreadable or corrupt input file or a failed write;
// what was written before stays (a re-run completes it without duplicates).
// `progress` may be empty; `stats` must not be null.
bool IngestSnapshot(Store& store, const std::filesystem::path& file,
                    const std::vector<std::string>& platforms, const ProgressFn& progress,
                    IngestStats* stats, std::string* err);

// `corral ingest-snapshot FILE --data DIR [--platforms a,b,...]`: opens (or
// creates) the store in DIR/db (a new one with bulk-load memtables), imports FILE for `platforms` (the defaults
// when empty), draws a progress bar on stderr when it is a terminal, and
// prints a summary on stdout. Returns the exit code: 0 done, 1 the import
// failed part way (re-run to finish), 2 bad arguments or an unusable FILE or
// DIR.
int RunIngestSnapshot(const std::filesystem::path& file, const std::filesystem::path& data_dir,
                      std::vector<std::string> platforms);

}  // namespace corral::coordinator
