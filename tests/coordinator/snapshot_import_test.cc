// Snapshot import: a small generated snapshot, plain and xz-compressed, into
// a real store; what a user of the coordinator would see afterwards.
#include <lzma.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>

#include "common/crypto.h"
#include "coordinator/engine.h"
#include "coordinator/priority.h"
#include "coordinator/records.h"
#include "coordinator/snapshot_import.h"
#include "coordinator/store.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::coordinator;

namespace {

// 10 lines: header, 3 ranked, 3 long tail, 3 bad (lines 6, 8, 10), with
// line 10 a duplicate of line 2 under normalisation.
const char kSnapshot[] =
    "name\tversion\tmonth\trank_among_15000_most_downloaded\tsummary\n"
    "Requests\t2.32.3\t2024-05\t3\tPython HTTP for Humans.\n"
    "boto3\t1.44.5\t2026-11\t1\tThe AWS SDK for Python\n"
    "old-thing\t0.1\t2012-04\t\tAn old project\n"
    "packaging\t26.3\t2026-08\t2\tCore utilities\n"
    "broken\t\t2020-01\t\tno version here\n"
    "new_thing\t1.0\t2026-10\t\t\"quoted\" and \\ backslash\n"
    "toofew\t1.0\t2020-01\n"
    "mid.thing\t3.0rc1\t2020-06\t\tA middle one\r\n"
    "requests\t9.9\t2026-01\t\tduplicate name\n";

void WriteText(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

void WriteXz(const std::filesystem::path& p, const std::string& text) {
  std::string out(lzma_stream_buffer_bound(text.size()), '\0');
  size_t pos = 0;
  REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                                  reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                                  reinterpret_cast<uint8_t*>(out.data()), &pos,
                                  out.size()) == LZMA_OK);
  out.resize(pos);
  WriteText(p, out);
}

std::map<std::string, TaskRecord> AllTasks(const Store& store) {
  std::map<std::string, TaskRecord> out;
  store.Scan(Cf::kTasks, "", "", [&](std::string_view key, std::string_view value) {
    TaskRecord t;
    REQUIRE(FromJson(nlohmann::json::parse(value), &t));
    out[std::string(key)] = t;
    return true;
  });
  return out;
}

int64_t CountKeys(const Store& store, Cf cf) {
  int64_t n = 0;
  store.Scan(cf, "", "", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  return n;
}

void CheckImported(const Store& store, const IngestStats& stats,
                   const std::vector<std::string>& platforms) {
  const int64_t np = static_cast<int64_t>(platforms.size());
  CHECK(stats.lines == 10);
  // "broken" has no version: a project all the same (its rank and summary
  // kept), with no task until index sync reads its page.
  CHECK(stats.projects == 7);
  CHECK(stats.without_version == 1);
  CHECK(stats.ranked == 3);
  CHECK(stats.projects_created == 7);
  CHECK(stats.tasks_created == 6 * np);
  CHECK(stats.bad_lines == 2);
  REQUIRE(stats.first_bad.size() == 2);
  CHECK(stats.first_bad[0].line == 8);
  CHECK(stats.first_bad[0].name == "toofew");
  CHECK(stats.first_bad[1].line == 10);
  CHECK(stats.first_bad[1].name == "requests");
  CHECK(stats.first_bad[1].why.find("line 2") != std::string::npos);

  auto tasks = AllTasks(store);
  CHECK(static_cast<int64_t>(tasks.size()) == 6 * np);
  CHECK(CountKeys(store, Cf::kProjectTasks) == 6 * np);
  CHECK(CountKeys(store, Cf::kProjects) == 7);
  // Not leasable until index sync knows the file: nothing in the queue.
  CHECK(CountKeys(store, Cf::kQueue) == 0);

  std::map<std::string, uint64_t> priority;  // project -> priority
  for (const auto& [id, t] : tasks) {
    CHECK(id == t.task_id);
    CHECK(t.task_id == SnapshotTaskId(t.project, t.version, t.platform));
    CHECK(IsUnresolvedSnapshotTask(t));
    CHECK(t.filename.empty());
    CHECK_FALSE(t.decided);
    CHECK(std::find(platforms.begin(), platforms.end(), t.platform) != platforms.end());
    CHECK(store.Has(Cf::kProjectTasks, Key({t.project, t.version, t.platform, id})));
    priority[t.project] = t.priority;
  }
  REQUIRE(priority.size() == 6);
  // The backlog tier (priority.h): new releases found by index sync go first.
  for (const auto& [_, prio] : priority) CHECK_FALSE(IsNewReleasePriority(prio));
  CHECK(priority["boto3"] < priority["packaging"]);
  CHECK(priority["packaging"] < priority["requests"]);
  // The long tail after every ranked project, newer releases first.
  CHECK(priority["requests"] < priority["new-thing"]);
  CHECK(priority["new-thing"] < priority["mid-thing"]);
  CHECK(priority["mid-thing"] < priority["old-thing"]);

  // The version of the first occurrence was kept, the CR stripped.
  auto mid = tasks.at(SnapshotTaskId("mid-thing", "3.0rc1", platforms[0]));
  CHECK(mid.version == "3.0rc1");
  nlohmann::json j;
  ProjectRecord p;
  REQUIRE(store.GetJson(Cf::kProjects, "requests", &j));
  REQUIRE(FromJson(j, &p));
  CHECK(p.display_name == "Requests");
  CHECK(p.summary == "Python HTTP for Humans.");
  CHECK(p.download_rank == 3);  // kept for the priorities of the tasks sync creates later
  CHECK(p.tasks == np);
  REQUIRE(store.GetJson(Cf::kProjects, "new-thing", &j));
  REQUIRE(FromJson(j, &p));
  CHECK(p.summary == "\"quoted\" and \\ backslash");

  REQUIRE(store.GetJson(Cf::kMeta, "counters", &j));
  CHECK(j.value("projects", 0) == 7);
  CHECK(j.value("tasks", int64_t{0}) == 6 * np);
  REQUIRE(store.GetJson(Cf::kMeta, "platforms", &j));
  CHECK(j.get<std::vector<std::string>>() == platforms);
}

}  // namespace

TEST_CASE("snapshot import: plain TSV gives projects, prioritised tasks, bad lines skipped") {
  testing::TempDir dir;
  WriteText(dir.path / "snap.tsv", kSnapshot);
  Store store;
  std::string err;
  REQUIRE(store.Open(dir.path / "db", &err));
  std::vector<std::string> platforms = {"cp311-linux_x86_64", "pp39-linux_x86_64"};
  IngestStats stats;
  int progress_calls = 0;
  REQUIRE(IngestSnapshot(store, dir.path / "snap.tsv", platforms,
                         [&](uint64_t done, uint64_t total, const IngestStats&) {
                           ++progress_calls;
                           CHECK(done <= total);
                         },
                         &stats, &err));
  CHECK(progress_calls >= 1);
  CheckImported(store, stats, platforms);
}

TEST_CASE("snapshot import: the coordinator's engine opens the imported store") {
  testing::TempDir dir;
  WriteText(dir.path / "snap.tsv", kSnapshot);
  std::vector<std::string> platforms = {"cp311-linux_x86_64", "pp39-linux_x86_64"};
  std::string err;
  {
    // As `corral ingest-snapshot` does it into a new --data: bulk-load memtables.
    Store store;
    REQUIRE(store.Open(dir.path / "db", &err, /*bulk_load=*/true));
    IngestStats stats;
    REQUIRE(IngestSnapshot(store, dir.path / "snap.tsv", platforms, {}, &stats, &err));
  }
  EngineOptions eo;
  eo.db_dir = dir.path / "db";
  eo.platforms = platforms;
  Engine engine(eo);
  REQUIRE(engine.Open(&err));
  CHECK(engine.Platforms() == platforms);
  Counters c = engine.GetCounters();
  CHECK(c.projects == 7);
  CHECK(c.tasks == 12);
  CHECK(engine.ActiveLeases() == 0);
}

TEST_CASE("snapshot import: xz gives the same store, and re-importing adds nothing") {
  testing::TempDir dir;
  WriteXz(dir.path / "snap.tsv.xz", kSnapshot);
  std::vector<std::string> platforms = DefaultSnapshotPlatforms();
  REQUIRE(platforms.size() == 11);
  std::string err;
  {
    Store store;
    REQUIRE(store.Open(dir.path / "db", &err, /*bulk_load=*/true));
    IngestStats stats;
    REQUIRE(IngestSnapshot(store, dir.path / "snap.tsv.xz", platforms, {}, &stats, &err));
    CheckImported(store, stats, platforms);
  }
  // Again, after a reopen: every task is found, none is written twice.
  Store store;
  REQUIRE(store.Open(dir.path / "db", &err));
  IngestStats again;
  REQUIRE(IngestSnapshot(store, dir.path / "snap.tsv.xz", platforms, {}, &again, &err));
  CHECK(again.projects == 7);
  CHECK(again.projects_created == 0);
  CHECK(again.tasks_created == 0);
  CHECK(again.tasks_existing == 6 * 11);
  CHECK(AllTasks(store).size() == 6 * 11);
  CHECK(CountKeys(store, Cf::kProjectTasks) == 6 * 11);
  nlohmann::json j;
  REQUIRE(store.GetJson(Cf::kMeta, "counters", &j));
  CHECK(j.value("projects", 0) == 7);
  CHECK(j.value("tasks", 0) == 6 * 11);
  ProjectRecord p;
  REQUIRE(store.GetJson(Cf::kProjects, "boto3", &j));
  REQUIRE(FromJson(j, &p));
  CHECK(p.tasks == 11);

  // A later snapshot with a newer release adds only that release's tasks.
  WriteText(dir.path / "next.tsv", "boto3\t1.45.0\t2026-12\t1\tThe AWS SDK for Python\n");
  IngestStats next;
  REQUIRE(IngestSnapshot(store, dir.path / "next.tsv", platforms, {}, &next, &err));
  CHECK(next.tasks_created == 11);
  CHECK(next.projects_created == 0);
  REQUIRE(store.GetJson(Cf::kMeta, "counters", &j));
  CHECK(j.value("tasks", 0) == 7 * 11);
}

TEST_CASE("snapshot import: a corrupt xz file or a bad platform is an error, not a crash") {
  testing::TempDir dir;
  std::string text(kSnapshot);
  for (int i = 0; i < 50; ++i) text += "pkg" + std::to_string(i) + "\t1.0\t2020-01\t\tx\n";
  WriteXz(dir.path / "snap.tsv.xz", text);
  std::string bytes;
  {
    std::ifstream in(dir.path / "snap.tsv.xz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  WriteText(dir.path / "cut.tsv.xz", bytes.substr(0, bytes.size() / 2));
  Store store;
  std::string err;
  REQUIRE(store.Open(dir.path / "db", &err));
  IngestStats stats;
  CHECK_FALSE(IngestSnapshot(store, dir.path / "cut.tsv.xz", {"cp311-linux_x86_64"}, {}, &stats,
                             &err));
  CHECK(err.find("cut.tsv.xz") != std::string::npos);
  err.clear();
  CHECK_FALSE(IngestSnapshot(store, dir.path / "snap.tsv.xz", {"cp311-linux"}, {}, &stats, &err));
  CHECK_FALSE(err.empty());
  err.clear();
  CHECK_FALSE(IngestSnapshot(store, dir.path / "missing.tsv", {"cp311-linux_x86_64"}, {}, &stats,
                             &err));
  CHECK(err.find("missing.tsv") != std::string::npos);
}

TEST_CASE("snapshot import: line parsing and priorities") {
  SnapshotLine l;
  std::string why;
  CHECK(ParseSnapshotLine("foo\t1.0\t2020-01\t7\tsum", &l, &why));
  CHECK(l.rank == 7);
  CHECK_FALSE(ParseSnapshotLine("foo\t1.0\t2020-13\t\tsum", &l, &why));
  CHECK(why.find("month") != std::string::npos);
  CHECK_FALSE(ParseSnapshotLine("foo\t1.0\t2020-01\t-3\tsum", &l, &why));
  CHECK(why.find("rank") != std::string::npos);
  CHECK_FALSE(ParseSnapshotLine("-foo\t1.0\t2020-01\t\tsum", &l, &why));
  CHECK_FALSE(ParseSnapshotLine("foo\t1 0\t2020-01\t\tsum", &l, &why));
  CHECK(SnapshotPriority(15000, "") < SnapshotPriority(0, "2026-11"));
  CHECK(SnapshotPriority(0, "2026-11") < SnapshotPriority(0, "2010-01"));
  CHECK(SnapshotPriority(0, "2010-01") < SnapshotPriority(0, ""));
}
