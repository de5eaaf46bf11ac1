#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/crypto.h"
#include "volunteer/config.h"
#include "volunteer/platform_choice.h"

using namespace corral;
using namespace corral::volunteer;
namespace fs = std::filesystem;

namespace {

// A fresh folder per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("corral-config-" + RandomHex(6))) { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path Write(const fs::path& dir, const std::string& text) {
  fs::path p = dir / "volunteer.toml";
  std::ofstream(p) << text;
  return p;
}

// The error LoadConfig gives for `text`, which must be refused.
std::string ErrorFor(const TempDir& dir, const std::string& text) {
  fs::path file = Write(dir.path, text);
  DaemonOptions o;
  o.slots = 7;
  std::string err;
  CHECK_FALSE(LoadConfig(file, &o, &err));
  CHECK(o.slots == 7);  // untouched on error
  return err;
}

}  // namespace

TEST_CASE("a configuration file sets the keys it holds and nothing else") {
  TempDir dir;
  fs::path file = Write(dir.path, R"(
coordinator = "http://coord.example:8080"
account = "keys/alice.key"
name = "basement"
slots = 4
use = ["cp312-linux_x86_64", "/usr/bin/pypy3"]
skip = ["/usr/bin/python3.11"]
cache_size_mb = 100
nice = 15
ionice = "best-effort"
max_load = 3.5
idle_only = true
log_level = "debug"
)");
  DaemonOptions o;
  o.data_dir = "/somewhere";
  o.max_tasks = 9;
  std::string err;
  REQUIRE(LoadConfig(file, &o, &err));
  CHECK(o.coordinator_url == "http://coord.example:8080");
  CHECK(o.account_key == dir.path / "keys" / "alice.key");  // relative to the file's folder
  CHECK(o.machine_name == "basement");
  CHECK(o.slots == 4);
  CHECK(o.interpreters == std::vector<std::string>{"cp312-linux_x86_64", "/usr/bin/pypy3"});
  CHECK(o.skip_interpreters == std::vector<std::string>{"/usr/bin/python3.11"});
  CHECK(o.cache_size_mb == 100);
  CHECK(o.nice == 15);
  CHECK(o.ionice == "best-effort");
  CHECK(o.max_load == Approx(3.5));
  CHECK(o.idle_only);
  CHECK(o.log_level == "debug");
  CHECK(o.data_dir == "/somewhere");  // not in the file: kept
  CHECK(o.max_tasks == 9);

  DaemonOptions defaults;
  REQUIRE(LoadConfig(Write(dir.path, "slots = 2\nmax_load = 2\n"), &defaults, &err));
  CHECK(defaults.slots == 2);
  CHECK(defaults.max_load == Approx(2.0));  // an integer is a fine load
  CHECK(defaults.nice == 10);
  CHECK(defaults.ionice == "idle");
}

TEST_CASE("a bad value is refused with the file, the line, the key and what was found") {
  TempDir dir;
  const std::string f = (dir.path / "volunteer.toml").string();
  CHECK(ErrorFor(dir, "coordinator = \"http://x:1\"\n\nslots = \"four\"\n") ==
        f + ":3: slots must be an integer from 1 to 64, got \"four\"");
  CHECK(ErrorFor(dir, "slots = 65\n") == f + ":1: slots must be an integer from 1 to 64, got 65");
  CHECK(ErrorFor(dir, "\nnice = 25\n") ==
        f + ":2: nice must be an integer from 0 (normal priority) to 19 (lowest), got 25");
  CHECK(ErrorFor(dir, "ionice = \"low\"\n") ==
        f + ":1: ionice must be \"idle\", \"best-effort\" or \"none\", got \"low\"");
  CHECK(ErrorFor(dir, "idle_only = \"yes\"\n") == f + ":1: idle_only must be true or false, got \"yes\"");
  CHECK(ErrorFor(dir, "max_load = -1\n").rfind(f + ":1: max_load must be a number >= 0", 0) == 0);
  CHECK(ErrorFor(dir, "coordinator = \"ftp://x\"\n") ==
        f + ":1: coordinator must be a URL starting with http:// or https://, got \"ftp://x\"");
  CHECK(ErrorFor(dir, "log_level = \"loud\"\n").rfind(f + ":1: log_level must be one of", 0) == 0);
  CHECK(ErrorFor(dir, "cache_size_mb = 1.5\n").rfind(f + ":1: cache_size_mb must be a whole number", 0) == 0);
  std::string use = ErrorFor(dir, "slots = 1\nuse = \"cp312-linux_x86_64\"\n");
  CHECK(use.rfind(f + ":2: use must be an array of interpreter paths or platform tags", 0) == 0);
  CHECK(use.find("got \"cp312-linux_x86_64\"") != std::string::npos);
  CHECK(ErrorFor(dir, "skip = [\"a\", 3]\n").rfind(f + ":1: skip must be an array", 0) == 0);
}

TEST_CASE("an unknown key is an error that suggests the nearest known one") {
  TempDir dir;
  const std::string f = (dir.path / "volunteer.toml").string();
  std::string err = ErrorFor(dir, "nice = 5\n\n\nslot = 2\n");
  CHECK(err.rfind(f + ":4: unknown key \"slot\" (did you mean \"slots\"?)", 0) == 0);
  CHECK(err.find("known keys: coordinator, data, account") != std::string::npos);
  err = ErrorFor(dir, "[politeness]\nnice = 5\n");
  CHECK(err.rfind(f + ":1: unknown key \"politeness\"", 0) == 0);
  CHECK(err.find("did you mean") == std::string::npos);
}

TEST_CASE("broken TOML and a missing file are reported with where to look") {
  TempDir dir;
  const std::string f = (dir.path / "volunteer.toml").string();
  std::string err = ErrorFor(dir, "slots = 2\nnice = = 3\n");
  CHECK(err.rfind(f + ":2:", 0) == 0);
  CHECK(err.find("not valid TOML") != std::string::npos);

  DaemonOptions o;
  CHECK_FALSE(LoadConfig(dir.path / "nope.toml", &o, &err));
  CHECK(err.find("nope.toml does not exist") != std::string::npos);
}

TEST_CASE("flags win over the file, at start and on reload") {
  TempDir dir;
  fs::path file = Write(dir.path, "slots = 2\nnice = 5\nmax_load = 4\n");
  DaemonOptions flags;  // as the command line left it: --slots 8 given, nothing else
  flags.slots = 8;
  flags.config_file = file;
  flags.flag_keys = {"slots"};
  DaemonOptions run;
  std::string err;
  REQUIRE(ResolveOptions(flags, &run, &err));
  CHECK(run.slots == 8);
  CHECK(run.nice == 5);
  CHECK(run.max_load == Approx(4.0));
  CHECK(run.flag_keys == flags.flag_keys);
  CHECK(run.config_file == file);

  // SIGHUP after an edit: the daemon resolves again from what it runs with.
  Write(dir.path, "slots = 3\nnice = 12\n");
  DaemonOptions reloaded;
  REQUIRE(ResolveOptions(run, &reloaded, &err));
  CHECK(reloaded.slots == 8);
  CHECK(reloaded.nice == 12);

  // A flag's key is still validated in the file.
  Write(dir.path, "slots = 0\n");
  CHECK_FALSE(ResolveOptions(run, &reloaded, &err));
  CHECK(err.find("slots must be an integer") != std::string::npos);

  DaemonOptions no_file;
  no_file.slots = 5;
  REQUIRE(ResolveOptions(no_file, &run, &err));
  CHECK(run.slots == 5);
}

TEST_CASE("the shipped example configuration loads") {
  DaemonOptions o;
  std::string err;
  bool ok = LoadConfig(fs::path(CORRAL_SOURCE_DIR) / "packaging" / "volunteer.toml", &o, &err);
  INFO(err);
  REQUIRE(ok);
  CHECK(o.nice == 10);
  CHECK(o.ionice == "idle");
  CHECK(o.coordinator_url.rfind("http", 0) == 0);
}

TEST_CASE("skip removes interpreters even when use lists them") {
  Platform a, b;
  a.implementation = b.implementation = "cpython";
  a.os = b.os = "linux";
  a.arch = b.arch = "x86_64";
  a.python_version = "3.12.1";
  a.interpreter_path = "/opt/a/python3.12";
  b.python_version = "3.11.7";
  b.interpreter_path = "/opt/b/python3.11";
  auto chosen = ChoosePlatforms({a, b}, {}, {"/opt/b/python3.11"});
  REQUIRE(chosen.size() == 1);
  CHECK(chosen.count("cp312-linux_x86_64"));
  chosen = ChoosePlatforms({a, b}, {"cp312-linux_x86_64", "cp311-linux_x86_64"}, {"cp312-linux_x86_64"});
  REQUIRE(chosen.size() == 1);
  CHECK(chosen.count("cp311-linux_x86_64"));
}
