// Index sync against an index that changes between passes, as PyPI does:
// new releases and projects, yanked and un-yanked files, stale pages from an
// outdated cache, conditional GETs, an HTML-only index, and bad input that
// must never stop a sync. Everything goes through the real coordinator and a
// real HTTP index on loopback.
#include <catch2/catch.hpp>
#include <fstream>

#include "coordinator/priority.h"
#include "coordinator/snapshot_import.h"
#include "coordinator/store.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::testing;
using coordinator::SyncStats;

namespace {

const std::string kTag = "cp311-linux_x86_64";
const std::string kOld = "cp27-linux_x86_64";

// Requests from a given address, so that volunteers count as different
// networks (the verifier wants agreeing results from different prefixes).
HttpRequest From(const std::string& addr, HttpRequest r) {
  r.remote_addr = addr;
  return r;
}

std::vector<TaskSpec> LeaseFrom(coordinator::Coordinator& c, const TestVolunteer& v,
                                const std::string& addr, int64_t now, int slots) {
  LeaseRequest lr;
  lr.platforms = v.platforms;
  lr.slots = slots;
  HttpResponse r =
      c.Handle(From(addr, Signed(*v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), now)));
  LeaseResponse resp;
  std::string err;
  if (r.status != 200 || !ParseLeaseResponse(Body(r), &resp, &err)) return {};
  return resp.tasks;
}

HttpResponse ReportFrom(coordinator::Coordinator& c, const TestVolunteer& v, const std::string& addr,
                        const TaskSpec& t, int64_t now, double seconds = 10) {
  return c.Handle(From(addr, Signed(*v.machine, "POST", "/api/v1/results",
                                    Envelope(PayloadFor(t, v, Outcome::kPassed, seconds), *v.machine), now)));
}

HeartbeatResponse Beat(coordinator::Coordinator& c, const TestVolunteer& v, const std::string& addr,
                       const std::vector<TaskSpec>& tasks, int64_t now) {
  HeartbeatRequest hb;
  for (const auto& t : tasks) hb.lease_ids.push_back(t.lease_id);
  HttpResponse r = c.Handle(
      From(addr, Signed(*v.machine, "POST", "/api/v1/heartbeat", nlohmann::json(hb).dump(), now)));
  HeartbeatResponse resp;
  std::string err;
  REQUIRE(ParseHeartbeatResponse(Body(r), &resp, &err));
  return resp;
}

std::vector<std::string> Files(const std::vector<TaskSpec>& tasks) {
  std::vector<std::string> out;
  for (const auto& t : tasks) out.push_back(t.filename);
  return out;
}

nlohmann::json Cell(coordinator::Coordinator& c, const std::string& project, const std::string& version,
                    const std::string& platform) {
  nlohmann::json page = Get(c, "/api/v1/projects/" + project);
  for (auto& row : page["versions"])
    if (row["version"] == version) return row["cells"][platform];
  return nullptr;
}

}  // namespace

TEST_CASE("index sync: new releases, yanked files, new projects, stale pages and 304s") {
  TestIndex index;
  TestIndex::File a1{"alpha-1.0.tar.gz", "a1", "", "2024-01-01T00:00:00Z"};
  TestIndex::File b1{"beta-1.0.tar.gz", "b1", ">=3.8", "2024-02-01T00:00:00Z"};
  index.SetProject("alpha", {a1});
  index.SetProject("beta", {b1});
  TestCoordinator tc(index, {kTag, kOld});
  auto acct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto bacct = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto alice = MakeVolunteer(acct, "alice", "alice-1", {kTag});
  auto bob = MakeVolunteer(bacct, "bob", "bob-1", {kTag});
  REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, bob, tc.now).status == 200);

  SyncStats s;
  REQUIRE(tc.Sync(&s));
  CHECK(s.listed == 2);
  CHECK(s.fetched == 2);
  CHECK(s.tasks_created == 4);     // 2 releases x 2 platforms
  CHECK(s.new_release_tasks == 0);  // the first pass is all backlog
  CHECK(Cell(*tc.c, "beta", "1.0", kOld)["status"] == "unsupported");  // a verdict, from Requires-Python

  // Nothing changed: no project page is fetched.
  int hits = index.project_page_hits();
  REQUIRE(tc.Sync(&s));
  CHECK(s.unchanged == 2);
  CHECK(s.fetched == 0);
  CHECK(index.project_page_hits() == hits);

  // A new release of alpha (uploaded long ago, to show that being new is
  // what counts) and a new project: both jump ahead of the backlog.
  index.SetProject("alpha", {a1, {"alpha-2.0.tar.gz", "a2", "", "2023-01-01T00:00:00Z"}});
  index.SetProject("gamma", {{"gamma-1.0.tar.gz", "g1", "", "2024-01-15T00:00:00Z"}});
  REQUIRE(tc.Sync(&s));
  CHECK(s.fetched == 2);
  CHECK(s.tasks_created == 4);
  CHECK(s.new_release_tasks == 4);
  auto leased = LeaseFrom(*tc.c, alice, "10.0.1.1", tc.now, 10);
  CHECK(Files(leased) == std::vector<std::string>{"gamma-1.0.tar.gz", "alpha-2.0.tar.gz",
                                                 "beta-1.0.tar.gz", "alpha-1.0.tar.gz"});
  REQUIRE(leased.size() == 4);
  const TaskSpec beta_task = leased[2];

  SECTION("a yanked file's pending tasks are cancelled; its verdicts stay; un-yanking restores them") {
    index.Yank("beta", "beta-1.0.tar.gz", "broken build");
    REQUIRE(tc.Sync(&s));
    CHECK(s.cancelled == 1);  // cp311; cp27 already had its verdict
    CHECK(Cell(*tc.c, "beta", "1.0", kOld)["status"] == "unsupported");
    CHECK(Cell(*tc.c, "beta", "1.0", kTag)["summary"] ==
          "not built: its input beta-1.0.tar.gz was yanked (broken build)");
    // alice learns at her heartbeat that the beta lease is cancelled; the others go on.
    auto hb = Beat(*tc.c, alice, "10.0.1.1", leased, tc.now);
    CHECK(hb.cancelled == std::vector<std::string>{beta_task.lease_id});
    CHECK(hb.extended.size() == 3);
    CHECK(tc.c->GetProgress().leased == 3);
    // A result for the cancelled lease is refused; nobody else gets the task.
    CHECK(ReportFrom(*tc.c, alice, "10.0.1.1", beta_task, tc.now).status == 409);
    auto bobs = LeaseFrom(*tc.c, bob, "10.0.2.1", tc.now, 10);
    CHECK(Files(bobs) == std::vector<std::string>{"gamma-1.0.tar.gz", "alpha-2.0.tar.gz",
                                                 "alpha-1.0.tar.gz"});
    // A re-sync of the unchanged yank cancels nothing more.
    REQUIRE(tc.Sync(&s));
    CHECK(s.cancelled == 0);

    index.Yank("beta", "beta-1.0.tar.gz", std::nullopt);
    REQUIRE(tc.Sync(&s));
    CHECK(s.restored == 1);
    CHECK(Files(LeaseFrom(*tc.c, bob, "10.0.2.1", tc.now, 10)) ==
          std::vector<std::string>{"beta-1.0.tar.gz"});
  }

  SECTION("a stale page is skipped and retried until the index serves the fresh one") {
    index.SetProject("gamma", {{"gamma-1.0.tar.gz", "g1", "", "2024-01-15T00:00:00Z"},
                               {"gamma-1.1.tar.gz", "g11", "", "2024-03-01T00:00:00Z"}});
    index.SetStale("gamma", true);
    REQUIRE(tc.Sync(&s));
    CHECK(s.stale == 1);
    CHECK(s.tasks_created == 0);
    REQUIRE(tc.Sync(&s));  // still stale: still retried, never recorded
    CHECK(s.stale == 1);
    index.SetStale("gamma", false);
    REQUIRE(tc.Sync(&s));
    CHECK(s.stale == 0);
    CHECK(s.fetched == 1);
    CHECK(s.tasks_created == 2);
    REQUIRE(tc.Sync(&s));
    CHECK(s.fetched == 0);
  }

  SECTION("without serials (HTML root), pages are fetched conditionally: 304 changes nothing") {
    index.set_html_only(true);
    auto tasks = tc.c->GetProgress().tasks;
    REQUIRE(tc.Sync(&s));  // a new format: new ETags, same files, no new tasks
    CHECK(s.fetched == 3);
    CHECK(s.tasks_created == 0);
    int answered304 = index.not_modified_answers();
    REQUIRE(tc.Sync(&s));
    CHECK(s.not_modified == 3);
    CHECK(s.fetched == 0);
    CHECK(index.not_modified_answers() == answered304 + 3);
    CHECK(tc.c->GetProgress().tasks == tasks);
  }
}

TEST_CASE("index sync: an index without JSON is read through its PEP 503 HTML") {
  TestIndex index;
  index.set_html_only(true, /*serial_headers=*/false);
  TestIndex::File yanked{"delta-0.9.tar.gz", "d09", "", ""};
  yanked.yanked = "security";
  TestIndex::File wheel{"delta-1.0-py3-none-any.whl", "d1w", ">=3.9"};
  wheel.core_metadata = true;
  index.SetProject("delta", {yanked, wheel});
  TestCoordinator tc(index, {kTag, kOld});
  SyncStats s;
  REQUIRE(tc.Sync(&s));
  CHECK(s.fetched == 1);
  CHECK(s.bad_entries == 0);
  CHECK(s.tasks_created == 2);  // delta 1.0 on two platforms; the yanked 0.9 is not built
  CHECK(Cell(*tc.c, "delta", "1.0", kOld)["status"] == "unsupported");
  CHECK(Cell(*tc.c, "delta", "1.0", kTag)["status"] == "pending");
  auto project = Get(*tc.c, "/api/v1/projects/delta");
  REQUIRE(project["versions"].size() == 2);
  CHECK(project["versions"][1]["yanked"] == true);
  // No serials anywhere: every pass asks again, and the ETag makes it a 304.
  REQUIRE(tc.Sync(&s));
  CHECK(s.not_modified == 1);
  CHECK(s.fetched == 0);
}

TEST_CASE("index sync: bad input is logged with the project's name and skipped, never fatal") {
  TestIndex index;
  index.SetProject("good", {{"good-1.0.tar.gz", "good", ""},
                            {"good-not!a!version.tar.gz", "bad version", ""},
                            {"good-2.0.tar.gz", "absurd size", "", "2024-01-01T00:00:00Z", std::nullopt, false,
                             int64_t{1} << 60}});
  index.SetRawPage("notjson", "{ this is not json");
  index.SetRawPage("plaintext", "good-1.0.tar.gz", "text/plain");
  index.SetRawPage("wrongname", R"({"meta": {"api-version": "1.0"}, "name": "other", "files": []})");
  index.SetRawPage("future", R"({"meta": {"api-version": "2.0"}, "files": []})");
  std::vector<TestIndex::File> many;
  for (int i = 0; i < 100; ++i) many.push_back({"huge-" + std::to_string(i) + ".0.tar.gz", "x", ""});
  index.SetProject("huge", many);  // about 30 kB: over the 8 kB page limit below
  index.AddRootEntry("Good_", 1);     // not a valid name
  index.AddRootEntry("GOOD", 999);    // normalises to "good"
  TestCoordinator tc(index, {kTag}, 900,
                     [](coordinator::Options& o) { o.max_index_page_bytes = 8192; });
  SyncStats s;
  REQUIRE(tc.Sync(&s));
  CHECK(s.fetched == 1);
  CHECK(s.failed == 5);       // notjson, plaintext, wrongname, future, huge
  CHECK(s.bad_entries == 4);  // two root entries, two files of "good"
  CHECK(s.tasks_created == 1);
  auto list = Get(*tc.c, "/api/v1/projects");
  REQUIRE(list["projects"].size() == 1);
  CHECK(list["projects"][0]["project"] == "good");
  // The failed pages are retried each pass; the good one is not refetched.
  REQUIRE(tc.Sync(&s));
  CHECK(s.failed == 5);
  CHECK(s.fetched == 0);
}

TEST_CASE("index sync: new releases of popular projects first, then the backlog by download rank") {
  TempDir dir;
  {
    // The snapshot knows the download ranks and each project's latest version.
    std::filesystem::create_directories(dir.path / "db");
    coordinator::Store store;
    std::string err;
    REQUIRE(store.Open(dir.path / "db", &err));
    std::filesystem::path tsv = dir.path / "snapshot.tsv";
    std::ofstream(tsv) << "name\tversion\tmonth\trank\tsummary\n"
                          "Niche\t1.0\t2024-06\t\ta niche thing\n"
                          "popular\t1.0\t2023-01\t1\tvery popular\n"
                          "middling\t1.0\t2024-01\t50\tsomewhat popular\n"
                          "gone\t3.0\t2024-01\t7\tits release is no longer on the index\n";
    coordinator::IngestStats stats;
    REQUIRE(coordinator::IngestSnapshot(store, tsv, {kTag}, {}, &stats, &err));
    REQUIRE(stats.tasks_created == 4);
  }
  TestIndex index;
  index.SetProject("niche", {{"niche-1.0.tar.gz", "n1", "", "2024-06-01T00:00:00Z"}});
  index.SetProject("popular", {{"popular-0.9.tar.gz", "p09", "", "2022-01-01T00:00:00Z"},
                               {"popular-1.0.tar.gz", "p1", "", "2023-01-01T00:00:00Z"}});
  index.SetProject("middling", {{"middling-1.0.tar.gz", "m1", "", "2024-01-01T00:00:00Z"}});
  index.SetProject("gone", {{"gone-2.0.tar.gz", "g2", "", "2023-01-01T00:00:00Z"}});
  coordinator::Options o;
  o.data_dir = dir.path;
  o.index_url = index.url();
  o.platforms = {kTag};
  int64_t now = 1'700'000'000;
  o.clock = [&] { return now; };
  // No random known-answer checks or single replicas: the test expects exact leases.
  o.known_answer_rate = 0;
  o.adaptive_replication = false;
  coordinator::Coordinator c(o);
  std::string err;
  REQUIRE(c.Open(&err));
  CHECK(c.GetProgress().tasks == 4);  // placeholders, not leasable yet
  auto acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
  auto v1 = MakeVolunteer(acct1, "one", "one-1", {kTag});
  auto v2 = MakeVolunteer(acct2, "two", "two-1", {kTag});
  REQUIRE(Enrol(c, v1, now).status == 200);
  REQUIRE(Enrol(c, v2, now).status == 200);
  CHECK(LeaseFrom(c, v1, "10.0.1.1", now, 10).empty());

  SyncStats s;
  REQUIRE(c.SyncOnce(&err, &s));
  CHECK(s.placeholders_resolved == 3);
  CHECK(s.placeholders_dropped == 1);  // gone 3.0: the index offers only 2.0
  CHECK(s.new_release_tasks == 0);
  CHECK(c.GetProgress().tasks == 5);  // popular 0.9 and 1.0, middling, niche, gone 2.0
  // The backlog: by download rank (a project's newer releases first), then
  // the unranked, newest first.
  CHECK(Files(LeaseFrom(c, v1, "10.0.1.1", now, 2)) ==
        std::vector<std::string>{"popular-1.0.tar.gz", "popular-0.9.tar.gz"});

  index.SetProject("niche", {{"niche-1.0.tar.gz", "n1", "", "2024-06-01T00:00:00Z"},
                             {"niche-2.0.tar.gz", "n2", "", "2024-09-01T00:00:00Z"}});
  index.SetProject("middling", {{"middling-1.0.tar.gz", "m1", "", "2024-01-01T00:00:00Z"},
                                {"middling-2.0.tar.gz", "m2", "", "2024-08-01T00:00:00Z"}});
  index.SetProject("popular", {{"popular-0.9.tar.gz", "p09", "", "2022-01-01T00:00:00Z"},
                               {"popular-1.0.tar.gz", "p1", "", "2023-01-01T00:00:00Z"},
                               {"popular-2.0.tar.gz", "p2", "", "2024-07-01T00:00:00Z"}});
  REQUIRE(c.SyncOnce(&err, &s));
  CHECK(s.new_release_tasks == 3);
  CHECK(Files(LeaseFrom(c, v2, "10.0.2.1", now, 20)) ==
        std::vector<std::string>{"popular-2.0.tar.gz", "middling-2.0.tar.gz", "niche-2.0.tar.gz",
                                 "popular-1.0.tar.gz", "popular-0.9.tar.gz", "gone-2.0.tar.gz",
                                 "middling-1.0.tar.gz", "niche-1.0.tar.gz"});
}

TEST_CASE("leases: a coordinator restarted with leases in flight loses nothing and counts nothing twice") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "a", "", "2024-03-01T00:00:00Z"}});
  index.SetProject("beta", {{"beta-1.0.tar.gz", "b", "", "2024-02-01T00:00:00Z"}});
  index.SetProject("gamma", {{"gamma-1.0.tar.gz", "g", "", "2024-01-01T00:00:00Z"}});
  TempDir dir;
  auto alice = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "alice", "a", {kTag});
  auto bob = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "bob", "b", {kTag});
  auto carol = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "carol", "c", {kTag});
  const std::string A = "10.0.1.1", B = "10.0.2.1", C = "10.0.3.1";
  int64_t now = 1'700'000'000;
  coordinator::Options o;
  o.data_dir = dir.path;
  o.index_url = index.url();
  o.platforms = {kTag};
  o.lease_seconds = 600;
  o.clock = [&] { return now; };
  // No random known-answer checks or single replicas: the test expects exact leases.
  o.known_answer_rate = 0;
  o.adaptive_replication = false;
  std::vector<TaskSpec> a, b;
  std::string err;
  double credit_after_alpha = 0;
  {
    coordinator::Coordinator c(o);
    REQUIRE(c.Open(&err));
    REQUIRE(c.SyncOnce(&err));
    for (auto* v : {&alice, &bob, &carol}) REQUIRE(Enrol(c, *v, now).status == 200);
    a = LeaseFrom(c, alice, A, now, 3);
    b = LeaseFrom(c, bob, B, now, 2);
    REQUIRE(a.size() == 3);
    REQUIRE(b.size() == 2);
    REQUIRE(a[0].filename == "alpha-1.0.tar.gz");
    REQUIRE(b[0].filename == "alpha-1.0.tar.gz");
    REQUIRE(ReportFrom(c, alice, A, a[0], now).status == 200);
    REQUIRE(ReportFrom(c, bob, B, b[0], now).status == 200);
    CHECK(Get(c, "/api/v1/tasks/" + a[0].task_id)["status"] == "passed");
    credit_after_alpha = Get(c, "/api/v1/leaderboard?window=all")["volunteers"][0]["credit"];
    auto p = c.GetProgress();
    CHECK(p.leased == 3);  // alice: beta, gamma; bob: beta
    CHECK(p.results == 2);
    // The coordinator stops with three leases in flight.
  }
  now += 300;
  coordinator::Coordinator c(o);
  REQUIRE(c.Open(&err));
  auto p = c.GetProgress();
  CHECK(p.tasks == 3);
  CHECK(p.verdicts == 1);
  CHECK(p.results == 2);
  CHECK(p.leased == 3);
  // A result whose acknowledgement was lost is sent again: a duplicate.
  auto again = ReportFrom(c, alice, A, a[0], now);
  CHECK(again.status == 200);
  CHECK(Body(again)["duplicate"] == true);
  CHECK(c.GetProgress().results == 2);
  // Heartbeats reach the restored leases.
  auto hb = Beat(c, bob, B, {b[1]}, now);
  CHECK(hb.extended.count(b[1].lease_id) == 1);
  CHECK(hb.cancelled.empty());
  // beta finishes on both replicas.
  REQUIRE(ReportFrom(c, alice, A, a[1], now).status == 200);
  REQUIRE(ReportFrom(c, bob, B, b[1], now).status == 200);
  CHECK(Get(c, "/api/v1/tasks/" + a[1].task_id)["status"] == "passed");
  // alice's gamma lease was not heartbeaten: it expires and goes to carol.
  now += 400;
  CHECK(c.ExpireLeases() == 1);
  auto cs = LeaseFrom(c, carol, C, now, 5);
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].task_id == a[2].task_id);
  // alice's work arrives late, after the expiry: it still counts, once.
  REQUIRE(ReportFrom(c, alice, A, a[2], now).status == 200);
  CHECK(Body(ReportFrom(c, alice, A, a[2], now))["duplicate"] == true);
  REQUIRE(ReportFrom(c, carol, C, cs[0], now).status == 200);
  p = c.GetProgress();
  CHECK(p.verdicts == 3);
  CHECK(p.results == 6);
  CHECK(p.leased == 0);
  // Every task shows exactly the results it received; credit was granted once per verdict.
  for (const auto& t : a) CHECK(Get(c, "/api/v1/tasks/" + t.task_id)["results"].size() == 2);
  nlohmann::json board = Get(c, "/api/v1/leaderboard?window=all");
  for (auto& row : board["volunteers"])
    if (row["volunteer_id"] == alice.id()) CHECK(row["credit"].get<double>() == Approx(3 * credit_after_alpha));
}
