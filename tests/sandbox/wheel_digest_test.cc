#include "sandbox/wheel_digest.h"

#include <catch2/catch.hpp>

#include "test_packages.h"

using namespace corral::sandbox;
using corral::sandbox::testing::Entry;
using corral::sandbox::testing::TempDir;
using corral::sandbox::testing::WriteArchive;

TEST_CASE("WheelContentDigest ignores timestamps and order and RECORD but not content") {
  TempDir tmp;
  std::string err;
  std::vector<Entry> a = {{"pkg/__init__.py", "X = 1\n", "", 0644, 1000},
                          {"pkg-1.0.dist-info/METADATA", "Name: pkg\n", "", 0644, 1000},
                          {"pkg-1.0.dist-info/RECORD", "pkg/__init__.py,sha256=a,6\n", "", 0644, 1000}};
  std::vector<Entry> b = {{"pkg-1.0.dist-info/RECORD", "different record\n", "", 0644, 99999999},
                          {"pkg-1.0.dist-info/METADATA", "Name: pkg\n", "", 0644, 99999999},
                          {"pkg/__init__.py", "X = 1\n", "", 0644, 99999999}};
  std::vector<Entry> c = a;
  c[0].content = "X = 2\n";
  REQUIRE(WriteArchive(tmp.path() / "a.zip", a, &err));
  REQUIRE(WriteArchive(tmp.path() / "b.zip", b, &err));
  REQUIRE(WriteArchive(tmp.path() / "c.zip", c, &err));
  std::string da, db, dc;
  REQUIRE(WheelContentDigest(tmp.path() / "a.zip", &da, &err));
  REQUIRE(WheelContentDigest(tmp.path() / "b.zip", &db, &err));
  REQUIRE(WheelContentDigest(tmp.path() / "c.zip", &dc, &err));
  CHECK(da.size() == 64);
  CHECK(da == db);
  CHECK(da != dc);
}

TEST_CASE("WheelContentDigest rejects a file that is not a zip") {
  TempDir tmp;
  std::string err, d;
  REQUIRE(WriteArchive(tmp.path() / "x.tar.gz", {{"a", "b"}}, &err));
  CHECK_FALSE(WheelContentDigest(tmp.path() / "x.tar.gz", &d, &err));
  CHECK(err.find("x.tar.gz") != std::string::npos);
}
