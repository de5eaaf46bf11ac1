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
