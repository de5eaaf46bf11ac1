// The prepare phase against the demo's local index: the volunteer's GET-only
// index proxy on a unix socket, the only egress of the first sandboxed run,
// which fetches build requirements with pip into the job's wheelhouse; the
// build then runs with no egress at all. Real index server, real proxy,
// real bubblewrap, real CPython.
#include "sandbox/index_proxy.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "common/crypto.h"
#include "common/http_server.h"
#include "demo/corpus.h"
#include "demo/local_index.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
// The sandbox tests' sdist generator (a test helper, compiled into this
// suite too).
#include "../sandbox/test_packages.cc"

using namespace corral;
using namespace corral::sandbox;
using corral::sandbox::testing::Entry;
using corral::sandbox::testing::PackageKind;
using corral::sandbox::testing::SdistEntries;
using corral::sandbox::testing::SdistWithTests;
using corral::sandbox::testing::TempDir;
using corral::sandbox::testing::WriteArchive;
namespace fs = std::filesystem;

namespace {

// One raw HTTP/1.0 exchange over the proxy's socket: (status, body).
std::pair<int, std::string> Ask(const fs::path& socket_path, const std::string& request) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
  close(fd);
  int status = 0;
  if (all.rfind("HTTP/1.", 0) == 0) status = std::atoi(all.c_str() + 9);
  size_t body = all.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : all.substr(body + 4)};
}

// An sdist whose in-tree backend imports a build requirement named `req`.
std::vector<Entry> NeedsRequirement(const std::string& name, const std::string& req,
                                    const std::string& module) {
  std::vector<Entry> e = SdistEntries(name, PackageKind::kPassing);
  e[0].content = "[build-system]\nrequires = [\"" + req +
                 "\"]\nbuild-backend = \"mini_backend\"\nbackend-path = [\"_build\"]\n";
  e[2].content = "import " + module + "  # fetched by the prepare phase\n" + e[2].content;
  return e;
}

struct Index {
  TempDir tmp;
  LocalIndex index;
  HttpServer server{[this](const HttpRequest& r) { return index.Handle(r); }};
  std::string url;
  Index() {
    std::string err;
    fs::create_directories(tmp.path() / "index");
    REQUIRE(CopyBuildToolWheels(tmp.path() / "index", &err));
    REQUIRE(index.Load(tmp.path() / "index", &err));
    REQUIRE(server.Start("127.0.0.1", 0, &err));
    url = "http://127.0.0.1:" + std::to_string(server.port()) + "/simple/";
  }
  ~Index() { server.Stop(); }
};

}  // namespace

TEST_CASE("the index proxy serves GETs of the index only, and rewrites links to itself") {
  Index idx;
  if (!idx.index.Project("wheel")) {
    WARN("skipping: no 'wheel' wheel on this machine to serve");
    return;
  }
  IndexProxyOptions o;
  o.socket_path = idx.tmp.path() / "proxy.sock";
  o.index_url = idx.url;
  o.max_response_bytes = 8 << 20;
  IndexProxy proxy(o);
  std::string err;
  REQUIRE(proxy.Start(&err));
  std::string host = "127.0.0.1:" + std::to_string(idx.server.port());

  auto [status, page] = Ask(o.socket_path, "GET /simple/wheel/ HTTP/1.0\r\nHost: x\r\n\r\n");
  CHECK(status == 200);
  CHECK(page.find(".whl") != std::string::npos);
  CHECK(page.find("http://" + host + "/") == std::string::npos);  // absolute links rewritten
  // A file through /__upstream/ to the index's own host.
  auto [fstatus, fbody] = Ask(o.socket_path, "GET /__upstream/http/" + host +
                                                 "/simple/ HTTP/1.0\r\nHost: x\r\n\r\n");
  CHECK(fstatus == 200);

  CHECK(Ask(o.socket_path, "POST /simple/wheel/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n").first == 405);
  CHECK(Ask(o.socket_path, "GET /__upstream/http/example.com/x HTTP/1.0\r\n\r\n").first == 403);
  CHECK(Ask(o.socket_path, "GET /__upstream/http/127.0.0.1:1/x HTTP/1.0\r\n\r\n").first == 403);
  CHECK(Ask(o.socket_path, "GET /admin HTTP/1.0\r\n\r\n").first == 404);
  CHECK(Ask(o.socket_path, "GET /simple/../etc HTTP/1.0\r\n\r\n").first == 400);
  CHECK(Ask(o.socket_path, "CONNECT example.com:443 HTTP/1.0\r\n\r\n").first == 405);
  std::vector<std::string> log = proxy.TakeLog();
  for (const auto& l : log) UNSCOPED_INFO(l);
  REQUIRE(log.size() == 8);
  CHECK(log[0].rfind("GET /simple/wheel/ -> 200 ", 0) == 0);
  CHECK(log[3].find("-> 403 host example.com is not allowed") != std::string::npos);
  proxy.Stop();
  CHECK_FALSE(fs::exists(o.socket_path));
}

TEST_CASE("the prepare phase fetches build requirements through the proxy; the build has no egress") {
  const char* py = "/root/.pyenv/versions/3.12.1/bin/python";
  if (!fs::exists(py)) {
    WARN("skipping: " << py << " is absent");
    return;
  }
  Index idx;
  if (!idx.index.Project("wheel")) {
    WARN("skipping: no 'wheel' wheel on this machine to serve");
    return;
  }
  Platform platform;
  std::string err;
  REQUIRE(ProbeInterpreter(py, &platform, &err));

  auto run = [&](const std::string& name, const std::vector<Entry>& entries, bool with_proxy) {
    fs::path sdist = idx.tmp.path() / (name + "-1.0.tar.gz");
    REQUIRE(WriteArchive(sdist, entries, &err));
    JobSpec spec;
    spec.input = sdist;
    spec.filename = sdist.filename().string();
    spec.project = name;
    spec.version = "1.0";
    spec.platform = platform;
    spec.work_dir = idx.tmp.path() / ("work-" + name + (with_proxy ? "" : "-offline"));
    fs::create_directories(spec.work_dir);
    spec.cache_dir = fs::path(CORRAL_BINARY).parent_path() / "sandbox-test-cache";
    if (with_proxy) spec.prepare.index_url = idx.url;
    spec.timeout_s = 300;
    return RunJob(spec);
  };

  JobResult ok = run("demo_prep", NeedsRequirement("demo_prep", "wheel", "wheel"), true);
  {
    INFO(ok.summary << "\n" << ok.log);
    CHECK(ok.outcome == Outcome::kPassed);
    CHECK(ok.log.find("==> [corral] prepare round 1 (online, through the index proxy only): build: [\"wheel\"]") !=
          std::string::npos);
    bool fetched = false;
    for (const auto& e : fs::directory_iterator(idx.tmp.path() / "work-demo_prep" / "wheelhouse"))
      fetched = fetched || e.path().filename().string().rfind("wheel-", 0) == 0;
    CHECK(fetched);
    // Only the prepare run saw the proxy's socket.
    int with_socket = 0, bwrap_runs = 0;
    for (const auto& c : ok.commands) {
      if (c.find("bwrap") == std::string::npos) continue;
      ++bwrap_runs;
      if (c.find("/run/corral/index.sock") != std::string::npos) ++with_socket;
    }
    // Online rounds alternate with offline runs; only the online ones see the socket.
    CHECK(with_socket == ok.prepare_rounds);
    // Build requirements, then (after the build) the test requirements: no more.
    CHECK(ok.prepare_rounds == 2);
    CHECK(ok.test_run.requirements_missing == std::vector<std::string>{"pytest (none)"});
    CHECK(bwrap_runs == 2 * ok.prepare_rounds);
    CHECK(ok.commands[1].find("/run/corral/index.sock") == std::string::npos);
    // The job's own proxy logged the page and the file it passed on.
    CHECK(ok.log.find("[index proxy] GET /simple/wheel/ -> 200") != std::string::npos);
    CHECK(ok.log.find(".whl -> 200") != std::string::npos);
  }

  // A build requirement the index does not have: the package's build fails.
  JobResult missing =
      run("demo_prep_missing", NeedsRequirement("demo_prep_missing", "corral-no-such-tool", "os"), true);
  INFO(missing.summary << "\n" << missing.log);
  CHECK(missing.outcome == Outcome::kBuildFailed);
  CHECK(missing.summary.find("build requirement 'corral-no-such-tool' is not on the index for") !=
        std::string::npos);

  // Without the proxy (no prepare phase) the build is offline and cannot find it.
  JobResult offline = run("demo_prep", NeedsRequirement("demo_prep", "wheel", "wheel"), false);
  INFO(offline.summary);
  CHECK(offline.outcome == Outcome::kBuildFailed);
  CHECK(offline.summary.find("cannot be installed offline") != std::string::npos);
}

namespace {

// `entries` with one line of the mini backend replaced (test_packages.cc:
// REQUIRES_DIST, BUILD_EXTRA).
std::vector<Entry> WithBackendLine(std::vector<Entry> entries, const std::string& line,
                                   const std::string& replacement) {
  for (Entry& e : entries) {
    size_t at = e.content.find(line);
    if (e.path.find("mini_backend.py") != std::string::npos && at != std::string::npos)
      e.content.replace(at, line.size(), replacement);
  }
  return entries;
}

// An index whose answers can be made to fail: 503 for a project's page,
// or a file served with one byte changed.
struct FaultyIndex {
  TempDir tmp;
  LocalIndex index;
  std::string failing_page, corrupt_file;
  HttpServer server{[this](const HttpRequest& r) {
    if (!failing_page.empty() && r.path == "/simple/" + failing_page + "/")
      return HttpResponse::Error(503, "unavailable", "the index is down for maintenance");
    HttpResponse res = index.Handle(r);
    if (!corrupt_file.empty() && r.path == "/files/" + corrupt_file && !res.body.empty())
      res.body[res.body.size() / 2] ^= 0x55;
    return res;
  }};
  std::string url;
  FaultyIndex() {
    std::string err;
    fs::create_directories(tmp.path() / "index");
    REQUIRE(index.Load(tmp.path() / "index", &err));
    REQUIRE(server.Start("127.0.0.1", 0, &err));
    url = "http://127.0.0.1:" + std::to_string(server.port()) + "/simple/";
  }
  ~FaultyIndex() { server.Stop(); }
};

}  // namespace

TEST_CASE("whose fault: the index's gaps are the package's verdict, the index's failures infra_error") {
  const char* py = "/root/.pyenv/versions/3.11.7/bin/python";
  if (!fs::exists(py)) {
    WARN("skipping: " << py << " is absent");
    return;
  }
  Platform platform;
  std::string err;
  REQUIRE(ProbeInterpreter(py, &platform, &err));
  FaultyIndex idx;
  fs::path cache = idx.tmp.path() / "file-cache";
  auto run = [&](const std::string& name, const std::vector<Entry>& entries, bool online = true) {
    fs::path sdist = idx.tmp.path() / (name + "-1.0.tar.gz");
    REQUIRE(WriteArchive(sdist, entries, &err));
    JobSpec spec;
    spec.input = sdist;
    spec.filename = sdist.filename().string();
    spec.project = name;
    spec.version = "1.0";
    spec.platform = platform;
    spec.work_dir = idx.tmp.path() / ("work-" + name + "-" + RandomHex(3));
    fs::create_directories(spec.work_dir);
    spec.cache_dir = fs::path(CORRAL_BINARY).parent_path() / "sandbox-test-cache";
    if (online) spec.prepare.index_url = idx.url;
    spec.prepare.file_cache = cache;
    spec.timeout_s = 300;
    return RunJob(spec);
  };
  auto publish = [&](const fs::path& file) {
    REQUIRE(fs::exists(file));
    fs::copy_file(file, idx.tmp.path() / "index" / file.filename(), fs::copy_options::overwrite_existing);
    REQUIRE(idx.index.Reload(&err));
  };
  // The index: demo_lib and demo_tool as wheels (built here, offline),
  // demo_src only as an sdist.
  JobResult lib = run("demo_lib", SdistEntries("demo_lib", PackageKind::kNoTests), false);
  REQUIRE(lib.outcome == Outcome::kNoTests);
  publish(lib.wheel);
  JobResult tool = run("demo_tool", SdistEntries("demo_tool", PackageKind::kNoTests), false);
  REQUIRE(tool.outcome == Outcome::kNoTests);
  publish(tool.wheel);
  fs::path src_sdist = idx.tmp.path() / "demo_src-1.0.tar.gz";
  REQUIRE(WriteArchive(src_sdist, SdistEntries("demo_src", PackageKind::kNoTests), &err));
  publish(src_sdist);

  auto needing = [&](const std::string& name, const std::string& deps) {
    std::vector<Entry> e = SdistWithTests(
        name, "import unittest\nimport demo_lib\n\nclass T(unittest.TestCase):\n"
              "    def test_dep(self):\n        self.assertEqual(demo_lib.add(1, 2), 3)\n");
    return WithBackendLine(e, "REQUIRES_DIST = []", "REQUIRES_DIST = " + deps);
  };

  SECTION("a runtime dependency on the index is fetched after the build and installed with the wheel") {
    JobResult r = run("demo_app", needing("demo_app", "['demo_lib>=1.0']"));
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.log.find("runtime: demo_app-1.0-py2.py3-none-any.whl") != std::string::npos);
    CHECK(r.files_fetched >= 1);
    // The same again: every file comes from the volunteer's cache.
    JobResult again = run("demo_app", needing("demo_app", "['demo_lib>=1.0']"));
    INFO(again.log);
    CHECK(again.outcome == Outcome::kPassed);
    CHECK(again.files_fetched == 0);
    CHECK(again.files_from_cache >= 1);
  }
  SECTION("a runtime dependency the index lacks is install_failed, naming it and what is offered") {
    JobResult r = run("demo_app2", needing("demo_app2", "['demo_lib>=7']"));
    INFO(r.log);
    CHECK(r.outcome == Outcome::kInstallFailed);
    CHECK(r.summary.find("dependency 'demo_lib>=7' is not on the index for CPython 3.11.7") != std::string::npos);
    CHECK(r.summary.find("offers: 1.0") != std::string::npos);
  }
  SECTION("what get_requires_for_build_wheel asks for is fetched in a further round") {
    JobResult r = run("demo_dyn", WithBackendLine(SdistEntries("demo_dyn", PackageKind::kPassing),
                                                  "BUILD_EXTRA = []", "BUILD_EXTRA = ['demo_tool']"));
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.log.find("build-extra: [\"demo_tool\"]") != std::string::npos);
    JobResult missing = run("demo_dyn2", WithBackendLine(SdistEntries("demo_dyn2", PackageKind::kPassing),
                                                          "BUILD_EXTRA = []", "BUILD_EXTRA = ['demo_absent']"));
    CHECK(missing.outcome == Outcome::kBuildFailed);
    CHECK(missing.summary.find("build requirement 'demo_absent' is not on the index") != std::string::npos);
  }
  SECTION("a dependency only on the index as an sdist is downloaded online and built offline") {
    JobResult r = run("demo_app3", needing("demo_app3", "['demo_lib', 'demo_src']"));
    INFO(r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kPassed);
    CHECK(r.log.find("downloaded the sdist demo_src-1.0.tar.gz to build offline") != std::string::npos);
    CHECK(r.log.find("dependency sdist demo_src-1.0.tar.gz") != std::string::npos);
  }
  SECTION("an index that fails (503) is infra_error, never the package's verdict") {
    idx.failing_page = "demo-lib";
    JobResult r = run("demo_app4", needing("demo_app4", "['demo_lib']"));
    INFO(r.log);
    CHECK(r.outcome == Outcome::kInfraError);
    CHECK(r.summary.find("fetching from the index failed") != std::string::npos);
    CHECK(r.summary.find("503") != std::string::npos);
  }
  SECTION("a file that does not match its index hash is infra_error") {
    idx.corrupt_file = "demo_lib-1.0-py2.py3-none-any.whl";
    fs::remove_all(cache);
    JobResult r = run("demo_app5", needing("demo_app5", "['demo_lib']"));
    INFO(r.log);
    CHECK(r.outcome == Outcome::kInfraError);
    CHECK(r.summary.find("does not match the sha256") != std::string::npos);
  }
}
