// Benchmark: wheel downloads from the built-in server against nginx serving
// the static export, side by side with wrk (DESIGN.md section 7: the read
// side scales out on existing servers; target: the built-in server at least
// 0.8x nginx). Prints `name: value unit` lines.
//
//   wheel_download [--wheel-kb N] [--seconds S] [--connections C] [--keep]
//
// The data is made by the real code paths: the demo corpus on a local index,
// a coordinator syncing it, two volunteers of different accounts enrolling
// with real keys, uploading the same wheel (N KiB, default 64) by signed PUT
// and submitting signed results, so the verdict publishes it. The built-in
// server is the HttpServer + Coordinator that `corral serve` runs, with its
// default threads (an I/O thread per core answering GETs, 16 handler threads
// for the other methods); nginx
// serves `corral export-static` of the same data with
// packaging/nginx-static.conf, access logs off on both sides. wrk (2 threads,
// C connections, default 32, keep-alive) fetches the same wheel URL from
// each for S seconds (default 10), then the project's /simple/ page with
// pip's Accept header. Everything shares the machine's cores with wrk.
#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/coordinator.h"
#include "coordinator/static_export.h"
#include "demo/corpus.h"
#include "demo/local_index.h"
#include "sandbox/wheel_digest.h"

namespace fs = std::filesystem;
using namespace corral;

namespace {

const char* const kTag = "cp311-linux_x86_64";
const char* const kPipAccept =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

// A wheel of corral-demo-pure 1.0.0 padded with `kib` KiB of random
// (incompressible) data, so the file has about that size.
std::string MakeWheel(size_t kib) {
  std::mt19937_64 rng(7);
  std::string pad(kib * 1024, '\0');
  for (auto& c : pad) c = static_cast<char>(rng());
  std::vector<std::pair<std::string, std::string>> files = {
      {"corral_demo_pure/__init__.py", "__version__ = '1.0.0'\n"},
      {"corral_demo_pure/blob.bin", pad},
      {"corral_demo_pure-1.0.0.dist-info/METADATA",
       "Metadata-Version: 2.1\nName: corral-demo-pure\nVersion: 1.0.0\nRequires-Python: >=2.7\n"},
      {"corral_demo_pure-1.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py2.py3-none-any\n"},
      {"corral_demo_pure-1.0.0.dist-info/RECORD", ""}};
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), &archive_write_free);
  archive_write_set_format_zip(a.get());
  std::vector<char> buf(kib * 1024 + (1 << 20));
  size_t used = 0;
  archive_write_open_memory(a.get(), buf.data(), buf.size(), &used);
  for (const auto& [name, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a.get(), e);
    archive_write_data(a.get(), content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return std::string(buf.data(), used);
}

HttpRequest Signed(const SigningKey& key, const std::string& method, const std::string& path,
                   const std::string& body, const std::string& from) {
  HttpRequest r;
  r.method = method;
  r.target = r.path = path;
  r.body = body;
  r.remote_addr = from;
  for (auto& [k, v] : SignRequest(key, method, path, body, NowSeconds())) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[lower] = v;
  }
  return r;
}

// A volunteer; `from` is its address, one /24 of loopback each, so that the
// verifier sees two networks as it requires.
struct Volunteer {
  std::unique_ptr<SigningKey> account, machine;
  std::string name, from;
};

bool Fail(const std::string& what) {
  std::fprintf(stderr, "wheel_download: %s\n", what.c_str());
  return false;
}

// Enrols, leases the task of corral-demo-pure 1.0.0, uploads `wheel`, submits.
bool Report(coordinator::Coordinator& c, Volunteer& v, const std::string& wheel, const std::string& digest,
            double* submit_ms) {
  EnrolRequest e;
  e.account_key = v.account->public_hex();
  e.account_name = v.name;
  e.machine_key = v.machine->public_hex();
  e.machine_name = v.name + "-box";
  e.account_signature = Base64Encode(v.account->Sign(EnrolmentMessage(e.machine_key, e.account_name, e.machine_name)));
  e.platforms = {kTag};
  if (c.Handle(Signed(*v.machine, "POST", "/api/v1/volunteers", nlohmann::json(e).dump(), v.from)).status != 200)
    return Fail("enrolment refused");
  LeaseRequest lr;
  lr.platforms = {kTag};
  lr.slots = 1;
  HttpResponse r = c.Handle(Signed(*v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), v.from));
  LeaseResponse leases;
  std::string err;
  if (r.status != 200 || !ParseLeaseResponse(nlohmann::json::parse(r.body, nullptr, false), &leases, &err))
    return Fail("lease refused: " + r.body);
  const TaskSpec* task = nullptr;
  for (const auto& t : leases.tasks)
    if (t.project == "corral-demo-pure" && t.version == "1.0.0") task = &t;
  if (!task) return Fail("no task of corral-demo-pure 1.0.0 was leased: " + r.body);
  std::string sha = Sha256Hex(wheel);
  if (c.Handle(Signed(*v.machine, "PUT", "/api/v1/artifacts/" + sha + "?lease=" + task->lease_id, wheel, v.from)).status != 200)
    return Fail("upload refused");
  ResultPayload p;
  p.task_id = task->task_id;
  p.lease_id = task->lease_id;
  p.volunteer_id = v.machine->public_hex();
  p.input_sha256 = task->sha256;
  p.platform.implementation = "cpython";
  p.platform.python_version = "3.11.7";
  p.platform.os = "linux";
  p.platform.arch = "x86_64";
  p.outcome = Outcome::kPassed;
  p.summary = "passed";
  p.total_seconds = 10;
  p.wheel_filename = "corral_demo_pure-1.0.0-py2.py3-none-any.whl";
  p.wheel_sha256 = sha;
  p.wheel_content_digest = digest;
  p.finished_at = NowSeconds();
  std::string envelope = DsseSign(kResultPayloadType, nlohmann::json(p).dump(), *v.machine).dump();
  auto t0 = std::chrono::steady_clock::now();
  r = c.Handle(Signed(*v.machine, "POST", "/api/v1/results", envelope, v.from));
  *submit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (r.status != 200) return Fail("result refused: " + r.body);
  return true;
}

// packaging/nginx-static.conf of the source tree this binary was built in
// (build-*/bench/wheel_download -> ../../packaging).
fs::path ExampleConfig() {
  std::error_code ec;
  for (fs::path p = fs::read_symlink("/proc/self/exe", ec).parent_path(); !p.empty() && p != p.root_path();
       p = p.parent_path())
    if (fs::exists(p / "packaging" / "nginx-static.conf")) return p / "packaging" / "nginx-static.conf";
  return "packaging/nginx-static.conf";
}

// nginx in the foreground from a prefix, with the example configuration.
struct Nginx {
  pid_t pid = -1;
  bool Start(const fs::path& prefix, const fs::path& root, int port) {
    fs::create_directories(prefix / "logs");
    fs::create_directories(prefix / "tmp");
    std::string site, err;
    if (!ReadFile(ExampleConfig(), &site, &err)) return Fail(err + " (packaging/nginx-static.conf of the source tree)");
    auto replace = [&](const std::string& from, const std::string& to) {
      size_t at = site.find(from);
      if (at != std::string::npos) site.replace(at, from.size(), to);
    };
    replace("listen 8080;", "listen 127.0.0.1:" + std::to_string(port) + ";");
    replace("root /srv/corral/site;", "root " + root.string() + ";");
    std::ofstream(prefix / "corral-static.conf") << site;
    std::string p = prefix.string();
    std::ofstream(prefix / "nginx.conf")
        << "daemon off;\nworker_processes auto;\npid " << p << "/nginx.pid;\nerror_log " << p
        << "/logs/error.log warn;\nevents { worker_connections 1024; }\nhttp {\n"
        << "  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        << "  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n"
        << "  client_body_temp_path " << p << "/tmp/body;\n  proxy_temp_path " << p << "/tmp/proxy;\n"
        << "  fastcgi_temp_path " << p << "/tmp/fastcgi;\n  uwsgi_temp_path " << p << "/tmp/uwsgi;\n"
        << "  scgi_temp_path " << p << "/tmp/scgi;\n  include " << p << "/corral-static.conf;\n}\n";
    pid = fork();
    if (pid == 0) {
      execl("/usr/sbin/nginx", "nginx", "-p", (p + "/").c_str(), "-c", (p + "/nginx.conf").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (HttpClient().Get("http://127.0.0.1:" + std::to_string(port) + "/").status > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Fail("nginx did not start; see " + p + "/logs/error.log");
  }
  ~Nginx() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }
};

struct WrkResult {
  double req_per_s = 0, mib_per_s = 0, latency_avg_ms = 0, latency_p99_ms = 0;
  bool ok = false;
};

double ToMs(const std::string& v) {
  double x = std::atof(v.c_str());
  if (v.find("us") != std::string::npos) return x / 1000;
  if (v.find("ms") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1000;
  return x;
}

WrkResult Wrk(const std::string& url, int seconds, int connections, const std::string& accept = "") {
  std::string cmd = "wrk -t2 -c" + std::to_string(connections) + " -d" + std::to_string(seconds) +
                    "s --latency " + (accept.empty() ? "" : "-H 'Accept: " + accept + "' ") + "'" + url + "' 2>&1";
  WrkResult r;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return r;
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  pclose(f);
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string first, value;
    words >> first >> value;
    if (first == "Requests/sec:") r.req_per_s = std::atof(value.c_str()), r.ok = true;
    if (first == "Transfer/sec:") r.mib_per_s = std::atof(value.c_str()) / (value.find("KB") != std::string::npos ? 1024 : value.find("GB") != std::string::npos ? 1.0 / 1024 : 1);
    if (first == "Latency" && r.latency_avg_ms == 0) r.latency_avg_ms = ToMs(value);
    if (first == "99%") r.latency_p99_ms = ToMs(value);
    if (line.find("Non-2xx") != std::string::npos) std::fprintf(stderr, "wrk %s: %s\n", url.c_str(), line.c_str());
  }
  if (!r.ok) std::fprintf(stderr, "wrk failed on %s:\n%s\n", url.c_str(), out.c_str());
  return r;
}

void Print(const std::string& name, const WrkResult& builtin, const WrkResult& nginx) {
  std::printf("%s_builtin_req_per_s: %.0f req/s\n", name.c_str(), builtin.req_per_s);
  std::printf("%s_nginx_req_per_s: %.0f req/s\n", name.c_str(), nginx.req_per_s);
  std::printf("%s_builtin_vs_nginx: %.2f x\n", name.c_str(),
              nginx.req_per_s > 0 ? builtin.req_per_s / nginx.req_per_s : 0);
  std::printf("%s_builtin_mib_per_s: %.1f MiB/s\n", name.c_str(), builtin.mib_per_s);
  std::printf("%s_nginx_mib_per_s: %.1f MiB/s\n", name.c_str(), nginx.mib_per_s);
  std::printf("%s_builtin_latency_p99: %.2f ms\n", name.c_str(), builtin.latency_p99_ms);
  std::printf("%s_nginx_latency_p99: %.2f ms\n", name.c_str(), nginx.latency_p99_ms);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  size_t wheel_kib = 64;
  int seconds = 10, connections = 32;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--wheel-kb" && i + 1 < argc) wheel_kib = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atoi(argv[++i]);
    else if (a == "--connections" && i + 1 < argc) connections = std::atoi(argv[++i]);
    else if (a == "--keep") keep = true;
    else {
      std::fprintf(stderr, "usage: wheel_download [--wheel-kb N] [--seconds S] [--connections C] [--keep]\n");
      return 2;
    }
  }
  if (std::system("command -v wrk >/dev/null") != 0) {
    std::fprintf(stderr, "wheel_download: wrk is not installed (apt install wrk)\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  InitCrypto();
  fs::path dir = fs::temp_directory_path() / ("corral-bench-wheels-" + RandomHex(4));
  fs::create_directories(dir / "index");
  std::string err;
  int rc = 1;
  {
    // The network's data, by the real code paths.
    LocalIndex index;
    // One release only, so that its task is the one leased.
    if (!WriteDemoCorpus(dir / "corpus", &err)) return Fail(err), 2;
    std::error_code ec;
    fs::copy_file(dir / "corpus" / "corral_demo_pure-1.0.0.tar.gz", dir / "index" / "corral_demo_pure-1.0.0.tar.gz", ec);
    if (ec || !index.Load(dir / "index", &err)) return Fail(ec ? ec.message() : err), 2;
    HttpServer index_server([&](const HttpRequest& r) { return index.Handle(r); });
    if (!index_server.Start("127.0.0.1", 0, &err)) return Fail(err), 2;
    coordinator::Options o;
    o.data_dir = dir / "coordinator";
    o.index_url = "http://127.0.0.1:" + std::to_string(index_server.port()) + "/simple/";
    o.platforms = {kTag};
    o.max_artifact_bytes = std::max<size_t>(64u << 20, wheel_kib * 1024 * 2);
    auto coord = std::make_unique<coordinator::Coordinator>(o);
    if (!coord->Open(&err) || !coord->SyncOnce(&err)) return Fail(err), 2;
    if (coord->GetProgress().tasks < 1) return Fail("the index sync created no task"), 2;
    std::string wheel = MakeWheel(wheel_kib);
    fs::path tmp_wheel = dir / "w.whl";
    std::string digest;
    if (!WriteFileAtomic(tmp_wheel, wheel, &err) || !sandbox::WheelContentDigest(tmp_wheel, &digest, &err))
      return Fail(err), 2;
    Volunteer alice{SigningKey::Generate(), SigningKey::Generate(), "alice", "127.0.1.1"};
    Volunteer bob{SigningKey::Generate(), SigningKey::Generate(), "bob", "127.0.2.1"};
    double first_ms = 0, publish_ms = 0;
    if (!Report(*coord, alice, wheel, digest, &first_ms) || !Report(*coord, bob, wheel, digest, &publish_ms))
      return 2;
    std::string url_path = "/wheels/" + Sha256Hex(wheel) + "/corral_demo_pure-1.0.0-py2.py3-none-any.whl";
    std::printf("wheel_bytes: %zu bytes\n", wheel.size());
    std::printf("result_submit_ms: %.1f ms\n", first_ms);
    std::printf("result_submit_publishing_ms: %.1f ms\n", publish_ms);

    // The built-in server, as `corral serve` runs it.
    HttpServerOptions serve_options;
    serve_options.threads = 16;  // corral serve's default (--http-threads); GETs use the I/O threads
    HttpServer builtin([&](const HttpRequest& r) { return coord->Handle(r); }, serve_options);
    if (!builtin.Start("127.0.0.1", 0, &err)) return Fail(err), 2;
    std::string builtin_base = "http://127.0.0.1:" + std::to_string(builtin.port());
    HttpResult check = HttpClient().Get(builtin_base + url_path);
    if (!check.ok() || check.body != wheel) return Fail("the built-in server does not serve the wheel: " + check.Describe()), 2;

    // The static export of the same data, served by nginx.
    coordinator::StaticExportOptions eo;
    eo.data_dir = o.data_dir;
    eo.out_dir = dir / "site";
    coordinator::StaticExportStats st;
    auto t0 = std::chrono::steady_clock::now();
    if (!coordinator::ExportStatic(eo, &st, &err)) return Fail(err), 2;
    std::printf("export_static_s: %.2f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    int port = corral::FreeLoopbackPort();
    Nginx nginx;
    if (!nginx.Start(dir / "nginx", eo.out_dir, port)) return 2;
    std::string nginx_base = "http://127.0.0.1:" + std::to_string(port);
    check = HttpClient().Get(nginx_base + url_path);
    if (!check.ok() || check.body != wheel) return Fail("nginx does not serve the wheel: " + check.Describe()), 2;

    std::printf("wrk_connections: %d\nwrk_seconds: %d s\n", connections, seconds);
    Wrk(builtin_base + url_path, 1, connections);  // warm both up
    Wrk(nginx_base + url_path, 1, connections);
    WrkResult b = Wrk(builtin_base + url_path, seconds, connections);
    WrkResult n = Wrk(nginx_base + url_path, seconds, connections);
    Print("wheel", b, n);
    WrkResult bs = Wrk(builtin_base + "/simple/corral-demo-pure/", seconds, connections, kPipAccept);
    WrkResult ns = Wrk(nginx_base + "/simple/corral-demo-pure/", seconds, connections, kPipAccept);
    Print("simple_page", bs, ns);
    rc = b.ok && n.ok ? 0 : 1;
    builtin.Stop();
    coord->Stop();
    index_server.Stop();
  }
  if (!keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  } else {
    std::printf("data kept in %s\n", dir.c_str());
  }
  return rc;
}
