#include "coordinator/priority.h"

#include <catch2/catch.hpp>

using namespace corral::coordinator;

TEST_CASE("priority: new releases, then download rank, then newest upload") {
  const int64_t t2023 = ParseUploadTime("2023-01-01T00:00:00Z");
  const int64_t t2024 = ParseUploadTime("2024-06-01T12:30:00.000000Z");
  CHECK(t2023 == 1672531200);
  CHECK(t2024 == 1717245000);
  CHECK(ParseUploadTime("yesterday") == 0);
  CHECK(ParseUploadTime("") == 0);
  // Any new release goes before any backlog task, whatever its rank or age.
  CHECK(TaskPriority(true, 0, 0) < TaskPriority(false, 1, t2024));
  CHECK(IsNewReleasePriority(TaskPriority(true, 0, 0)));
  CHECK_FALSE(IsNewReleasePriority(TaskPriority(false, 1, t2024)));
  // Within a tier: rank first (the unranked last), then newer uploads.
  CHECK(TaskPriority(false, 1, t2023) < TaskPriority(false, 2, t2024));
  CHECK(TaskPriority(false, 50, t2023) < TaskPriority(false, 0, t2024));
  CHECK(TaskPriority(false, 7, t2024) < TaskPriority(false, 7, t2023));
  CHECK(TaskPriority(false, 0, t2024) < TaskPriority(false, 0, t2023));
  CHECK(TaskPriority(false, 0, t2023) < TaskPriority(false, 0, 0));  // unknown time last
  CHECK(TaskPriority(false, int64_t{1} << 40, t2024) == TaskPriority(false, 0, t2024));  // absurd rank
}
