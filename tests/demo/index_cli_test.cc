// `corral index DIR`, the binary: a file added to the folder while it runs
// is published without a restart, and a removed one disappears.
#include <catch2/catch.hpp>
#include <signal.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/http_client.h"
#include "common/http_server.h"
#include "demo_test_util.h"

namespace fs = std::filesystem;
using corral::demo_test::RunShell;
using corral::demo_test::ScratchDir;
using corral::demo_test::WriteZip;

namespace {

bool Lists(const corral::HttpClient& http, const std::string& url, const std::string& project) {
  corral::HttpResult r = http.Get(url, {{"Accept", "application/vnd.pypi.simple.v1+json"}});
  if (!r.ok()) return false;
  nlohmann::json page = nlohmann::json::parse(r.body);
  for (const auto& p : page["projects"])
    if (p.value("name", "") == project) return true;
  return false;
}

bool WaitFor(const std::function<bool()>& cond, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

}  // namespace

TEST_CASE("corral index publishes files added to its folder while it runs, and drops removed ones") {
  ScratchDir tmp;
  fs::path dir = tmp.path() / "index";
  fs::create_directories(dir);
  REQUIRE(WriteZip(dir / "early_pkg-1.0-py3-none-any.whl",
                   {{"early_pkg/__init__.py", ""},
                    {"early_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: early-pkg\nVersion: 1.0\n"}}));
  // A port the system just gave out, so most likely still free.
  int port = 0;
  {
    corral::HttpServer probe([](const corral::HttpRequest&) { return corral::HttpResponse{}; });
    std::string err;
    REQUIRE(probe.Start("127.0.0.1", 0, &err));
    port = probe.port();
    probe.Stop();
  }
  std::string out;
  REQUIRE(RunShell(std::string(CORRAL_BINARY) + " index " + dir.string() + " --listen 127.0.0.1:" +
                       std::to_string(port) + " > " + (tmp.path() / "index.log").string() +
                       " 2>&1 & echo $! > " + (tmp.path() / "pid").string(),
                   &out) == 0);
  int pid = std::atoi(corral::demo_test::Slurp(tmp.path() / "pid").c_str());
  REQUIRE(pid > 0);
  corral::HttpClient http;
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/simple/";
  bool up = WaitFor([&] { return Lists(http, url, "early-pkg"); }, 10);
  INFO(corral::demo_test::Slurp(tmp.path() / "index.log"));
  REQUIRE(up);
  CHECK_FALSE(Lists(http, url, "late-pkg"));

  // Written aside, then renamed in, as an uploader would.
  REQUIRE(WriteZip(tmp.path() / "late.tmp",
                   {{"late_pkg/__init__.py", ""},
                    {"late_pkg-2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: late-pkg\nVersion: 2.0\n"}}));
  fs::rename(tmp.path() / "late.tmp", dir / "late_pkg-2.0-py3-none-any.whl");
  CHECK(WaitFor([&] { return Lists(http, url, "late-pkg"); }, 5));

  fs::remove(dir / "early_pkg-1.0-py3-none-any.whl");
  CHECK(WaitFor([&] { return !Lists(http, url, "early-pkg"); }, 5));
  ::kill(pid, SIGTERM);
}
