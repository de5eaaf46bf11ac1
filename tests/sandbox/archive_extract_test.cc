#include "sandbox/archive_extract.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "test_packages.h"

using namespace corral::sandbox;
using corral::sandbox::testing::Entry;
using corral::sandbox::testing::TempDir;
using corral::sandbox::testing::WriteArchive;

namespace {

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("SafeExtract unpacks regular files and folders of a tar.gz and a zip") {
  TempDir tmp;
  for (const char* name : {"ok.tar.gz", "ok.zip"}) {
    std::string err;
    std::filesystem::path archive = tmp.path() / name;
    REQUIRE(WriteArchive(archive,
                         {{"pkg-1.0/setup.py", "print('hi')\n"},
                          {"pkg-1.0/pkg/__init__.py", "X = 1\n", "", 0755}},
                         &err));
    std::filesystem::path dest = tmp.path() / (std::string("out-") + name);
    std::filesystem::create_directories(dest);
    ExtractStats stats;
    REQUIRE(SafeExtract(archive, dest, ExtractLimits{}, &stats, &err));
    CHECK(Slurp(dest / "pkg-1.0/pkg/__init__.py") == "X = 1\n");
    CHECK(stats.bytes == 18);
    CHECK(stats.entries == 2);
  }
}

TEST_CASE("SafeExtract refuses '..' and absolute paths and symlinks and writes nothing outside") {
  TempDir tmp;
  struct Case {
    const char* what;
    std::vector<Entry> entries;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"dotdot", {{"pkg-1.0/ok.py", "x"}, {"pkg-1.0/../../escaped.py", "boom"}}, "'..'"},
      {"absolute", {{"/tmp/corral-absolute-escape.py", "boom"}}, "absolute"},
      {"symlink", {{"pkg-1.0/link", "", "/etc/passwd"}}, "symbolic link"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::string err;
    std::filesystem::path archive = tmp.path() / (std::string(c.what) + ".tar.gz");
    REQUIRE(WriteArchive(archive, c.entries, &err));
    std::filesystem::path dest = tmp.path() / "a" / "b" / c.what;
    std::filesystem::create_directories(dest);
    CHECK_FALSE(SafeExtract(archive, dest, ExtractLimits{}, nullptr, &err));
    CHECK(err.find(c.expect) != std::string::npos);
    CHECK(err.find("refused") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "a" / "escaped.py"));
  CHECK_FALSE(std::filesystem::exists("/tmp/corral-absolute-escape.py"));
}

TEST_CASE("SafeExtract enforces entry and byte caps") {
  TempDir tmp;
  std::string err;
  std::vector<Entry> many;
  for (int i = 0; i < 20; ++i) many.push_back({"p/f" + std::to_string(i), std::string(1000, 'x')});
  std::filesystem::path archive = tmp.path() / "many.tar.gz";
  REQUIRE(WriteArchive(archive, many, &err));
  std::filesystem::create_directories(tmp.path() / "o1");
  ExtractLimits few;
  few.max_entries = 10;
  CHECK_FALSE(SafeExtract(archive, tmp.path() / "o1", few, nullptr, &err));
  CHECK(err.find("more than 10 entries") != std::string::npos);
  std::filesystem::create_directories(tmp.path() / "o2");
  ExtractLimits small;
  small.max_bytes = 5000;
  CHECK_FALSE(SafeExtract(archive, tmp.path() / "o2", small, nullptr, &err));
  CHECK(err.find("unpacks to more than") != std::string::npos);
  std::filesystem::create_directories(tmp.path() / "o3");
  ExtractLimits bomb;
  bomb.ratio_floor_bytes = 1000;
  bomb.max_ratio = 5;
  CHECK_FALSE(SafeExtract(archive, tmp.path() / "o3", bomb, nullptr, &err));
  CHECK(err.find("bomb") != std::string::npos);
}

TEST_CASE("SafeExtract reports a damaged archive") {
  TempDir tmp;
  std::ofstream(tmp.path() / "junk.tar.gz") << "this is not an archive at all";
  std::string err;
  CHECK_FALSE(SafeExtract(tmp.path() / "junk.tar.gz", tmp.path(), ExtractLimits{}, nullptr, &err));
  CHECK(err.find("junk.tar.gz") != std::string::npos);
}
