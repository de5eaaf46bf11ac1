// corral export-static (coordinator/static_export.h): the export of a store
// that a running coordinator holds open, with a published wheel; every page
// the live routes serve is a file, every same-site link in the exported HTML
// names a file of the export, and an earlier export is replaced whole.
#include <catch2/catch.hpp>
#include <fstream>

#include "common/http_client.h"
#include "coordinator/simple_html.h"
#include "coordinator/static_export.h"
#include "wheel_test_support.h"

using namespace corral;
using namespace corral::testing;
namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& p) {
  std::string s, err;
  ReadFile(p, &s, &err);
  return s;
}

// The file a static server answers `path` with: the file itself, or the
// index of the folder it names.
bool Serves(const fs::path& root, std::string path) {
  path = UrlDecode(path.substr(0, path.find_first_of("?#")));
  fs::path p = root / path.substr(1);
  if (fs::is_regular_file(p)) return true;
  return fs::is_regular_file(p / "index.html") || fs::is_regular_file(p / "index.json");
}

}  // namespace

TEST_CASE("static export: the site and the wheel index as files, links resolving", "[static_export]") {
  WheelNetwork n([](coordinator::Options& o) { o.public_url = "http://127.0.0.1:9999"; });
  std::string wheel = DemoWheel();
  std::string digest = DigestOf(wheel);
  REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest).status == 200);
  REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest).status == 200);
  std::string sha = Sha256Hex(wheel), fn = "demo_pkg-1.0-py3-none-any.whl";

  TempDir out;
  coordinator::StaticExportOptions o;
  o.data_dir = n.tc.dir.path;  // the coordinator above still has it open
  o.out_dir = out.path / "site";
  o.public_url = "http://127.0.0.1:9999";  // as the live coordinator's
  coordinator::StaticExportStats st;
  std::string err;
  REQUIRE(coordinator::ExportStatic(o, &st, &err));
  INFO(coordinator::DescribeExport(o.out_dir, st));
  fs::path root = o.out_dir;
  CHECK(st.broken_links == 0);
  CHECK(st.wheels == 1);
  CHECK(st.metadata_files == 1);
  CHECK(st.html_pages >= 5);
  CHECK(st.json_documents >= 5);
  CHECK(st.bytes > static_cast<int64_t>(wheel.size()));
  CHECK(coordinator::DescribeExport(o.out_dir, st).find("1 wheels") != std::string::npos);

  // The index, byte for byte what the live routes answer.
  CHECK(Slurp(root / "simple/demo-pkg/index.html") == n.Page("/simple/demo-pkg/", "text/html").body);
  CHECK(Slurp(root / "simple/demo-pkg/index.json") == n.Page("/simple/demo-pkg/", kPipAccept).body);
  CHECK(Slurp(root / "simple/index.html") == n.Page("/simple/").body);
  CHECK(fs::is_regular_file(root / "simple/index.json"));
  CHECK(Slurp(root / "wheels" / sha / fn) == wheel);
  CHECK(Slurp(root / "wheels" / sha / (fn + ".metadata")) == kWheelMetadata);
  // The site and its JSON twins.
  for (const std::string& page : std::vector<std::string>{"index.html", "leaderboard/index.html", "projects/demo-pkg/index.html",
                                  "api/v1/projects/index.json", "api/v1/projects/demo-pkg/index.json",
                                  "tasks/" + n.alice_task.task_id + "/index.html",
                                  "api/v1/tasks/" + n.alice_task.task_id + "/index.json",
                                  "volunteers/" + n.alice.id() + "/index.html"}) {
    INFO(page);
    CHECK(fs::is_regular_file(root / page));
  }
  CHECK(Slurp(root / "projects/demo-pkg/index.html") == n.Page("/projects/demo-pkg").body);
  CHECK(fs::exists(root / ".corral-export"));
  CHECK_FALSE(fs::exists(out.path / "site.partial"));

  // Every same-site link of every exported page names a file of the export,
  // and none keeps a query string a static server would ignore.
  int links = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".html") continue;
    std::string rel = "/" + fs::relative(e.path(), root).string();
    std::string base = rel.substr(0, rel.rfind('/') + 1);
    auto page = coordinator::ParseSimpleHtml(Slurp(e.path()));
    for (const auto& a : page.anchors) {
      std::string href = a.Attr("href");
      if (href.empty() || href[0] == '#' || href.rfind("http", 0) == 0) continue;
      std::string url = UrlPathOf(ResolveUrl("http://h" + base, href));
      INFO(rel << " links " << href);
      CHECK(url.find('?') == std::string::npos);
      CHECK(Serves(root, url));
      ++links;
    }
  }
  CHECK(links > 10);

  // A second export replaces the first; a folder that is not an export is refused.
  std::ofstream(root / "stale-file") << "x";
  REQUIRE(coordinator::ExportStatic(o, &st, &err));
  CHECK_FALSE(fs::exists(root / "stale-file"));
  CHECK(fs::is_regular_file(root / "simple/demo-pkg/index.html"));
  fs::create_directories(out.path / "mine");
  std::ofstream(out.path / "mine" / "notes.txt") << "mine";
  o.out_dir = out.path / "mine";
  CHECK_FALSE(coordinator::ExportStatic(o, &st, &err));
  CHECK(err.find("not an earlier export") != std::string::npos);
  CHECK(fs::exists(out.path / "mine" / "notes.txt"));
}

TEST_CASE("static export: URL to file mapping", "[static_export]") {
  using coordinator::StaticFileFor;
  using coordinator::StaticUrlFor;
  CHECK(StaticFileFor("/", "text/html; charset=utf-8") == "index.html");
  CHECK(StaticFileFor("/projects/foo", "text/html; charset=utf-8") == "projects/foo/index.html");
  CHECK(StaticFileFor("/projects/foo/", "text/html") == "projects/foo/index.html");
  CHECK(StaticFileFor("/api/v1/projects/foo", "application/json") == "api/v1/projects/foo/index.json");
  CHECK(StaticFileFor("/simple/foo/", "application/vnd.pypi.simple.v1+json") == "simple/foo/index.json");
  CHECK(StaticFileFor("/badges/foo.svg", "image/svg+xml") == "badges/foo.svg");
  CHECK(StaticFileFor("/badges/foo.json", "application/json") == "badges/foo.json");
  CHECK(StaticFileFor("/api/v1/artifacts/abc", "text/plain") == "api/v1/artifacts/abc");
  CHECK(StaticFileFor("/a/../b", "text/html").empty());
  CHECK(StaticFileFor("/a/./b", "text/html").empty());
  CHECK(StaticFileFor("/a//b", "text/html").empty());
  CHECK(StaticFileFor(std::string("/a\0b", 4), "text/html").empty());
  CHECK(StaticUrlFor("/leaderboard") == "/leaderboard");
  CHECK(StaticUrlFor("/leaderboard?window=day") == "/leaderboard/window=day/");
  CHECK(StaticUrlFor("/lookup?project=x&os=linux&python=3.12") == "/lookup/project=x,os=linux,python=3.12/");
  CHECK(StaticUrlFor("/x/?q=a%2Fb") == "/x/q=a_2Fb/");
}
