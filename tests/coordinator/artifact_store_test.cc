// The artifact store: content-addressed, checked on the way in, and served
// from memory once read (GetShared), within its cache budget.
#include <catch2/catch.hpp>

#include "common/crypto.h"
#include "coordinator/artifact_store.h"
#include "coordinator_test_support.h"

using namespace corral;
using corral::coordinator::ArtifactStore;
using corral::testing::TempDir;

TEST_CASE("artifact store: shared reads come from memory, within the cache budget") {
  TempDir dir;
  // Room for four artifacts of 1 KiB; none above 8 KiB / 8 = 1 KiB is kept.
  ArtifactStore store(dir.path, 1 << 20, 8 * 1024);
  std::vector<std::string> shas;
  std::string code, detail;
  for (int i = 0; i < 10; ++i) {
    std::string data(1000, static_cast<char>('a' + i));
    shas.push_back(Sha256Hex(data));
    REQUIRE(store.Put(shas.back(), data, &code, &detail));
  }
  auto first = store.GetShared(shas[0]);
  REQUIRE(first);
  CHECK(*first == std::string(1000, 'a'));
  CHECK(store.GetShared(shas[0]).get() == first.get());  // cached: the same bytes, not a copy
  // Reading the other nine pushes the first one out (8 KiB hold eight).
  for (int i = 1; i < 10; ++i) REQUIRE(store.GetShared(shas[i]));
  auto again = store.GetShared(shas[0]);
  REQUIRE(again);
  CHECK(again.get() != first.get());  // read from disk anew
  CHECK(*again == *first);
  // Too large to cache: still served, never kept.
  std::string big(2000, 'z');
  REQUIRE(store.Put(Sha256Hex(big), big, &code, &detail));
  auto b1 = store.GetShared(Sha256Hex(big)), b2 = store.GetShared(Sha256Hex(big));
  REQUIRE(b1);
  REQUIRE(b2);
  CHECK(b1.get() != b2.get());
  CHECK(*b1 == big);
  // Absent or malformed names: nothing.
  CHECK_FALSE(store.GetShared(Sha256Hex("never stored")));
  CHECK_FALSE(store.GetShared("../../etc/passwd"));
}
