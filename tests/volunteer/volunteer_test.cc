#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/crypto.h"
#include "common/signing.h"
#include "volunteer/platform_choice.h"
#include "volunteer/result_journal.h"

using namespace corral;
using namespace corral::volunteer;
namespace fs = std::filesystem;

namespace {
Platform Make(const std::string& impl, const std::string& version, const std::string& path, bool headers) {
  Platform p;
  p.implementation = impl;
  p.python_version = version;
  p.interpreter_path = path;
  p.has_headers = headers;
  p.os = "linux";
  p.arch = "x86_64";
  return p;
}
}  // namespace

TEST_CASE("one interpreter is offered per platform tag, preferring headers, then the newest") {
  std::vector<Platform> found = {
      Make("cpython", "3.11.2", "/usr/bin/python3.11", false),
      Make("cpython", "3.11.7", "/root/.pyenv/versions/3.11.7/bin/python", true),
      Make("cpython", "3.12.1", "/root/.pyenv/versions/3.12.1/bin/python", true),
      Make("cpython", "3.12.0", "/opt/py312/bin/python", true),
      Make("pypy", "3.9.16", "/usr/bin/pypy3", false),
  };
  auto chosen = ChoosePlatforms(found, {});
  REQUIRE(chosen.size() == 3);
  CHECK(chosen["cp311-linux_x86_64"].interpreter_path == "/root/.pyenv/versions/3.11.7/bin/python");
  CHECK(chosen["cp312-linux_x86_64"].python_version == "3.12.1");
  CHECK(chosen["pp39-linux_x86_64"].interpreter_path == "/usr/bin/pypy3");

  auto only = ChoosePlatforms(found, {"/usr/bin/pypy3", "cp312-linux_x86_64"});
  REQUIRE(only.size() == 2);
  CHECK(only.count("pp39-linux_x86_64"));
  CHECK(only.count("cp312-linux_x86_64"));
}

TEST_CASE("the result journal keeps results until acknowledged and sets corrupt entries aside") {
  InitCrypto();
  fs::path dir = fs::temp_directory_path() / ("corral-journal-" + RandomHex(4));
  ResultJournal journal(dir);
  std::string err;
  REQUIRE(journal.Open(&err));
  auto key = SigningKey::Generate();

  fs::path log = dir.parent_path() / ("corral-log-" + RandomHex(4));
  std::ofstream(log) << "the log";
  std::string log_sha = Sha256Hex("the log");
  auto env1 = DsseSign(kResultPayloadType, "{\"n\":1}", *key);
  auto env2 = DsseSign(kResultPayloadType, "{\"n\":2}", *key);
  REQUIRE(journal.Add("lease-1", env1, {{log_sha, log}}, &err));
  REQUIRE(journal.Add("lease-2", env2, {{log_sha, log}}, &err));
  fs::remove(log);  // the journal keeps its own copy

  // A crash leaves a half-written entry behind.
  std::ofstream(dir / "lease-3.json") << "{\"lease_id\": \"lease-3\", \"envel";

  std::vector<std::string> problems;
  auto pending = journal.Pending(&problems);
  REQUIRE(pending.size() == 2);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("lease-3.json") != std::string::npos);
  CHECK(fs::exists(dir / "corrupt" / "lease-3.json"));
  CHECK(pending[0].envelope == env1);
  REQUIRE(pending[0].artifacts.size() == 1);
  CHECK(fs::exists(pending[0].artifacts[0].path));

  // Acknowledging the first keeps the artifact the second still needs.
  journal.Remove(pending[0]);
  problems.clear();
  auto rest = journal.Pending(&problems);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].lease_id == "lease-2");
  CHECK(fs::exists(rest[0].artifacts[0].path));

  journal.SetAside(rest[0], "not_leased");
  CHECK(journal.size() == 0);
  CHECK(fs::exists(dir / "rejected" / "lease-2.json"));
  CHECK_FALSE(fs::exists(dir / "artifacts" / log_sha));
  fs::remove_all(dir);
}
