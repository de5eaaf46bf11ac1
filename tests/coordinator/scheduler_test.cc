#include "coordinator/scheduler.h"

#include <catch2/catch.hpp>

#include "coordinator/store.h"
#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

TEST_CASE("scheduler: the dispatch cache refills from the store in priority order, in batches") {
  TempDir dir;
  Store store;
  std::string err;
  REQUIRE(store.Open(dir.path / "db", &err));
  WriteSet w;
  const std::string tag = "cp311-linux_x86_64";
  for (int i = 0; i < 11; ++i) {
    // Written out of order; priority decides the order of leasing.
    int prio = (i * 7) % 11;
    w.Put(Cf::kQueue, QueueKey(tag, prio, "task" + std::to_string(prio)), "");
  }
  w.Put(Cf::kQueue, QueueKey("cp27-linux_x86_64", 0, "other"), "");
  REQUIRE(store.Write(w, false, &err));
  int loads = 0;
  Scheduler s(store, [&](const std::string& id, TaskState* st) {
    ++loads;
    st->platform = id == "other" ? "cp27-linux_x86_64" : tag;
    st->queue_key = QueueKey(st->platform, std::stoi(id.substr(4)), id);
    st->wanted = 1;
    return true;
  }, /*cache_batch=*/4);

  std::vector<std::string> order;
  for (int round = 0; round < 4; ++round)
    for (const auto& l : s.Lease("v1", "acct1", {tag}, 3, 100, 60)) order.push_back(l.task_id);
  REQUIRE(order.size() == 11);
  for (int i = 0; i < 11; ++i) CHECK(order[i] == "task" + std::to_string(i));
  CHECK(s.Lease("v1", "acct1", {tag}, 3, 100, 60).empty());
  CHECK(s.cached(tag) <= 4);
  CHECK(loads == 11);  // the other platform's task was never touched
  CHECK(s.active_leases() == 11);

  SECTION("expired leases come back to the cache, for another account first") {
    CHECK(s.ExpireLeases(161).size() == 11);
    auto again = s.Lease("v2", "acct2", {tag}, 20, 200, 60);
    CHECK(again.size() == 11);
    CHECK(again[0].task_id == "task0");
  }
}

TEST_CASE("scheduler: next_poll_s follows the load; a cancelled task leaves the cache") {
  TempDir dir;
  Store store;
  std::string err;
  REQUIRE(store.Open(dir.path / "db", &err));
  const std::string tag = "cp311-linux_x86_64", other = "cp312-linux_x86_64";
  WriteSet w;
  for (int i = 0; i < 3; ++i) w.Put(Cf::kQueue, QueueKey(tag, i, "task" + std::to_string(i)), "");
  REQUIRE(store.Write(w, false, &err));
  Scheduler s(store, [&](const std::string& id, TaskState* st) {
    st->platform = tag;
    st->queue_key = QueueKey(tag, std::stoi(id.substr(4)), id);
    st->wanted = 1;
    return true;
  });
  int64_t now = 1000;
  auto got = s.Lease("v1", "acct1", {tag}, 1, now, 60);
  REQUIRE(got.size() == 1);
  CHECK(s.NextPollSeconds({tag}, 1, now) == 1);  // more work is ready: come back soon
  // A platform with no work at all: a long wait.
  CHECK(s.Lease("v2", "acct2", {other}, 1, now, 60).empty());
  CHECK(s.NextPollSeconds({other}, 0, now) == 60);
  // Work that this account already holds or had: a shorter wait than an empty queue.
  auto rest = s.Lease("v1", "acct1", {tag}, 5, now, 60);
  REQUIRE(rest.size() == 2);
  CHECK(s.NextPollSeconds({tag}, 2, now) == 10);  // the queue ran dry with this request
  CHECK(s.NextPollSeconds({tag}, 0, now) == 60);

  // A busy coordinator (4,000 lease requests a second) stretches idle waits.
  for (int i = 0; i < 40'000; ++i) s.Lease("v3", "acct3", {other}, 1, now + i / 4'000, 60);
  CHECK(s.LeaseRate(now + 9) == Approx(4'000).epsilon(0.01));
  CHECK(s.NextPollSeconds({other}, 0, now + 9) == 240);
  CHECK(s.NextPollSeconds({other}, 0, now + 100) == 60);  // quiet again

  // Cancelling a leased task: its lease ends (the holder hears "cancelled"
  // at its next heartbeat) and nobody gets the task again.
  auto cancelled = s.Cancel("task0", tag, QueueKey(tag, 0, "task0"));
  REQUIRE(cancelled.size() == 1);
  CHECK(cancelled[0].lease_id == got[0].lease_id);
  std::vector<std::string> gone;
  s.Heartbeat("v1", {got[0].lease_id, rest[0].lease_id}, now, 60, &gone);
  CHECK(gone == std::vector<std::string>{got[0].lease_id});
  CHECK(s.active_leases() == 2);
}
