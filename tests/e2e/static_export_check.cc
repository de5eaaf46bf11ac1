// The stopped demo network's data as a static site: `corral export-static`
// writes it, Debian's nginx serves it with packaging/nginx-static.conf (the
// example configuration, only its listen address and root changed), and
// then, from nginx alone:
// - every same-site link of the site, followed from the home page, answers;
// - /simple/ negotiates HTML and PEP 691 JSON as the coordinator does;
// - a real pip installs a demo package into fresh virtual environments of
//   two interpreters (the newest pip reads the JSON and the PEP 658
//   metadata, an older one the HTML) and it imports.
// nginx runs unprivileged-style from a prefix in the test's scratch folder,
// in the foreground as our child, and is stopped at the end of the check.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "coordinator/simple_html.h"
#include "tests/e2e/e2e_checks.h"
#include "tests/e2e/pip_venv.h"

namespace fs = std::filesystem;

namespace corral {

namespace {

const char* const kPipAccept =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// nginx in the foreground (daemon off) from its own prefix; stopped when
// this goes out of scope, whatever the checks did.
class Nginx {
 public:
  // Writes nginx.conf around packaging/nginx-static.conf and starts nginx.
  bool Start(const fs::path& prefix, const fs::path& root, int port, std::string* err) {
    prefix_ = prefix;
    for (const char* d : {"logs", "tmp"}) fs::create_directories(prefix / d);
    std::string site = Slurp(fs::path(CORRAL_SOURCE_DIR) / "packaging" / "nginx-static.conf");
    if (site.find("listen 8080;") == std::string::npos || site.find("root /srv/corral/site;") == std::string::npos) {
      *err = "packaging/nginx-static.conf no longer has the `listen 8080;` and `root /srv/corral/site;` lines this test replaces";
      return false;
    }
    site = Replace(site, "listen 8080;", "listen 127.0.0.1:" + std::to_string(port) + ";");
    site = Replace(site, "root /srv/corral/site;", "root " + root.string() + ";");
    std::ofstream(prefix / "corral-static.conf") << site;
    std::string p = prefix.string();
    std::ofstream(prefix / "nginx.conf")
        << "daemon off;\nworker_processes 2;\npid " << p << "/nginx.pid;\n"
        << "error_log " << p << "/logs/error.log warn;\n"
        << "events { worker_connections 512; }\n"
        << "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        << "  access_log " << p << "/logs/access.log;\n  sendfile on;\n"
        << "  client_body_temp_path " << p << "/tmp/body;\n  proxy_temp_path " << p << "/tmp/proxy;\n"
        << "  fastcgi_temp_path " << p << "/tmp/fastcgi;\n  uwsgi_temp_path " << p << "/tmp/uwsgi;\n"
        << "  scgi_temp_path " << p << "/tmp/scgi;\n"
        << "  include " << p << "/corral-static.conf;\n}\n";
    fs::path log = prefix / "logs" / "stderr.log";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      execl("/usr/sbin/nginx", "nginx", "-p", (p + "/").c_str(), "-c", (p + "/nginx.conf").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready once it answers.
    HttpClient http;
    for (int i = 0; i < 100; ++i) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *err = "nginx exited at start:\n" + Slurp(log) + Slurp(prefix / "logs" / "error.log");
        return false;
      }
      if (http.Get("http://127.0.0.1:" + std::to_string(port) + "/").status > 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    *err = "nginx did not answer within 10 s:\n" + Slurp(prefix / "logs" / "error.log");
    return false;
  }
  ~Nginx() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);  // fast shutdown: the master stops its workers
    int status;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }
  std::string ErrorLog() const { return Slurp(prefix_ / "logs" / "error.log"); }

 private:
  pid_t pid_ = -1;
  fs::path prefix_;
};

// Follows every same-site href from the home page; returns the URLs that
// did not answer 200 (after redirects), with the page that links them.
std::vector<std::string> BrokenLinks(const std::string& base, int* visited) {
  HttpClient http;
  std::deque<std::pair<std::string, std::string>> queue{{"/", "(start)"}};
  std::set<std::string> seen{"/"};
  std::vector<std::string> broken;
  *visited = 0;
  while (!queue.empty() && *visited < 3000) {
    auto [path, from] = queue.front();
    queue.pop_front();
    HttpResult r = http.Get(base + path);
    ++*visited;
    if (!r.ok()) {
      broken.push_back(path + " (linked from " + from + "): " + r.Describe().substr(0, 200));
      continue;
    }
    if (r.headers["content-type"].rfind("text/html", 0) != 0) continue;
    // Where the page really is (nginx redirected /x to /x/), for relative links.
    std::string here = path.back() == '/' || path.find('.') != std::string::npos ? path : path + "/";
    for (const auto& a : coordinator::ParseSimpleHtml(r.body).anchors) {
      std::string href = a.Attr("href");
      if (href.empty() || href[0] == '#' || href.rfind("http", 0) == 0 || href.rfind("mailto:", 0) == 0) continue;
      std::string url = UrlPathOf(ResolveUrl(base + here, href));
      url = url.substr(0, url.find('#'));
      if (seen.insert(url).second) queue.push_back({url, path});
    }
  }
  return broken;
}

}  // namespace

void CheckStaticExport(const DemoRun& run) {
  fs::path site = run.data / "static-site";
  fs::path log = run.output / "static_export.log";
  std::error_code ec;
  fs::remove(log, ec);

  // The export, by the real command, of the network's data.
  int rc = RunLogged({CORRAL_BINARY, "export-static", site.string(), "--data",
                      (run.demo_data / "coordinator").string()},
                     log, 600);
  std::string out = FileTail(log, 20000);
  INFO("corral export-static:\n" << out);
  REQUIRE(rc == 0);
  CHECK(out.find("exported to " + site.string()) != std::string::npos);
  CHECK(out.find("links answered with an error") == std::string::npos);
  REQUIRE(fs::is_regular_file(site / "simple" / "corral-demo-pure" / "index.html"));
  REQUIRE(fs::is_regular_file(site / "simple" / "corral-demo-pure" / "index.json"));
  CHECK(fs::is_regular_file(site / "index.html"));
  CHECK(fs::is_regular_file(site / "leaderboard" / "index.html"));
  CHECK(fs::is_regular_file(site / "projects" / "corral-demo-pure" / "index.html"));
  CHECK(fs::is_regular_file(site / "api" / "v1" / "projects" / "corral-demo-pure" / "index.json"));

  REQUIRE(fs::exists("/usr/sbin/nginx"));  // scripts/setup installs it
  int port = corral::FreeLoopbackPort();
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  Nginx nginx;
  std::string err;
  REQUIRE(nginx.Start(run.data / "nginx", site, port, &err));
  INFO("nginx error log:\n" << nginx.ErrorLog());

  // The site: every link from the home page leads somewhere.
  int visited = 0;
  std::vector<std::string> broken = BrokenLinks(base, &visited);
  INFO("visited " << visited << " pages");
  for (const auto& b : broken) UNSCOPED_INFO("broken: " << b);
  CHECK(broken.empty());
  CHECK(visited > 20);

  // The index: content negotiation as on the coordinator.
  HttpClient http;
  HttpResult json = http.Get(base + "/simple/corral-demo-pure/", {{"Accept", kPipAccept}});
  CHECK(json.ok());
  CHECK(json.headers["content-type"] == "application/vnd.pypi.simple.v1+json");
  CHECK(json.body == Slurp(site / "simple" / "corral-demo-pure" / "index.json"));
  HttpResult html = http.Get(base + "/simple/corral-demo-pure/", {{"Accept", "text/html"}});
  CHECK(html.ok());
  CHECK(html.headers["content-type"].rfind("text/html", 0) == 0);
  auto files = nlohmann::json::parse(json.body, nullptr, false);
  REQUIRE(files.is_object());
  REQUIRE(!files["files"].empty());
  std::string wheel_url = ResolveUrl(base + "/simple/corral-demo-pure/", files["files"][0].value("url", ""));
  HttpResult wheel = http.Get(wheel_url);
  CHECK(wheel.ok());
  CHECK(Sha256Hex(wheel.body) == files["files"][0]["hashes"].value("sha256", ""));
  HttpResult metadata = http.Get(wheel_url + ".metadata");
  CHECK(metadata.ok());
  CHECK(Sha256Hex(metadata.body) == files["files"][0]["core-metadata"].value("sha256", ""));

  // pip from nginx alone, on the newest interpreter and the oldest.
  std::vector<Platform> picked;
  for (const auto& [tag, p] : run.by_tag)
    if (p.implementation == "cpython") picked.push_back(p);
  std::sort(picked.begin(), picked.end(), [](const Platform& a, const Platform& b) {
    int am = 0, an = 0, bm = 0, bn = 0;
    std::sscanf(a.python_version.c_str(), "%d.%d", &am, &an);
    std::sscanf(b.python_version.c_str(), "%d.%d", &bm, &bn);
    return std::pair(am, an) > std::pair(bm, bn);
  });
  if (picked.size() > 2) picked.erase(picked.begin() + 1, picked.end() - 1);
  fs::path pip_log = run.output / "static_export_pip.log";
  fs::remove(pip_log, ec);
  int installed = 0;
  for (const Platform& p : picked) {
    INFO("interpreter " << p.interpreter_path << "; pip log " << pip_log.string());
    Venv venv;
    if (!MakeVenv(p, run.data / "static-venvs" / p.Tag().ToString(), pip_log, &venv, &err)) {
      WARN(err);
      continue;
    }
    int prc = PipInstall(venv, base + "/simple/", {"corral-demo-pure"}, pip_log);
    CHECK(prc == 0);
    if (prc != 0) continue;
    CHECK(RunPython(venv, "import corral_demo_pure as m; assert m.__version__ == '1.0.0'; assert m.mean([2, 4]) == 3.0",
                    pip_log) == 0);
    ++installed;
  }
  INFO("pip log:\n" << FileTail(pip_log));
  CHECK(installed >= 2);
}

}  // namespace corral
