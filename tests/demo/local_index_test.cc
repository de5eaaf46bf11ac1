#include "demo/local_index.h"

#include <catch2/catch.hpp>
#include <clocale>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "demo/corpus.h"
#include "demo_test_util.h"

namespace fs = std::filesystem;
using corral::HttpRequest;
using corral::HttpResponse;
using corral::LocalIndex;
using corral::demo_test::ScratchDir;
using corral::demo_test::Slurp;
using corral::demo_test::WriteZip;
using nlohmann::json;

namespace {

constexpr const char* kJson = "application/vnd.pypi.simple.v1+json";

const char* kWheelMetadata =
    "Metadata-Version: 2.1\nName: Demo.Wheel\nVersion: 1.0\nRequires-Python: >=3.7,<4\n\n"
    "A wheel written by the test.\n";

// A corpus plus one small wheel, loaded into an index.
struct Fixture {
  ScratchDir dir;
  LocalIndex index;
  std::string err;

  Fixture() {
    REQUIRE(corral::WriteDemoCorpus(dir.path(), &err));
    REQUIRE(WriteZip(dir.path() / "demo_wheel-1.0-py3-none-any.whl",
                     {{"demo_wheel/__init__.py", "X = 1\n"},
                      {"demo_wheel-1.0.dist-info/METADATA", kWheelMetadata},
                      {"demo_wheel-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n"}}));
    REQUIRE(index.Load(dir.path(), &err));
  }

  HttpResponse Get(const std::string& path, const std::string& accept = "") {
    HttpRequest r;
    r.method = "GET";
    r.target = r.path = path;
    if (!accept.empty()) r.headers["accept"] = accept;
    return index.Handle(r);
  }
};

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

const json& FileNamed(const json& page, const std::string& filename) {
  for (const json& f : page["files"])
    if (f["filename"] == filename) return f;
  FAIL("no file " << filename << " on the page");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("project names are normalised and file names parsed per PEP 503/427/625") {
  CHECK(corral::NormalizeProjectName("Corral_Demo.Pure") == "corral-demo-pure");
  CHECK(corral::NormalizeProjectName("a--b__c..d") == "a-b-c-d");
  std::string project, version;
  bool wheel;
  REQUIRE(corral::ParseDistFilename("corral_demo_pure-1.0.0.tar.gz", &project, &version, &wheel));
  CHECK(project == "corral-demo-pure");
  CHECK(version == "1.0.0");
  CHECK_FALSE(wheel);
  REQUIRE(corral::ParseDistFilename("legacy-name-2.1.zip", &project, &version, &wheel));
  CHECK(project == "legacy-name");
  CHECK(version == "2.1");
  REQUIRE(corral::ParseDistFilename("Foo_Bar-3.0-1-cp312-cp312-linux_x86_64.whl", &project,
                                    &version, &wheel));
  CHECK(project == "foo-bar");
  CHECK(version == "3.0");
  CHECK(wheel);
  CHECK_FALSE(corral::ParseDistFilename("expected.json", &project, &version, &wheel));
  CHECK_FALSE(corral::ParseDistFilename("x-1.0-py3.whl", &project, &version, &wheel));
  CHECK_FALSE(corral::ParseDistFilename("x-1.0.tar.gz.yanked", &project, &version, &wheel));
}

TEST_CASE("the PEP 691 JSON pages describe the folder's files") {
  Fixture f;
  json root = f.index.RootJson();
  CHECK(root["meta"]["api-version"] == "1.1");
  int64_t last = root["meta"]["_last-serial"];
  CHECK(last == f.index.last_serial());
  CHECK(root["projects"].size() == 19);  // 18 demo projects and the test's wheel
  int64_t max_serial = 0;
  bool saw_wheel = false;
  for (const json& p : root["projects"]) {
    CHECK(p["_last-serial"].get<int64_t>() > 0);
    max_serial = std::max(max_serial, p["_last-serial"].get<int64_t>());
    saw_wheel |= p["name"] == "Demo.Wheel";  // the display name from METADATA
  }
  CHECK(saw_wheel);
  CHECK(max_serial == last);

  auto page = f.index.ProjectJson("corral-demo-pure");
  REQUIRE(page);
  CHECK((*page)["meta"]["api-version"] == "1.1");
  CHECK((*page)["name"] == "corral-demo-pure");
  CHECK((*page)["versions"] == json({"0.9.0", "1.0.0"}));
  REQUIRE((*page)["files"].size() == 2);
  const json& old = FileNamed(*page, "corral_demo_pure-0.9.0.tar.gz");
  CHECK(old["url"] == "../../files/corral_demo_pure-0.9.0.tar.gz");
  std::string sha, err;
  REQUIRE(corral::Sha256File(f.dir.path() / "corral_demo_pure-0.9.0.tar.gz", &sha, &err));
  CHECK(old["hashes"]["sha256"] == sha);
  CHECK(old["size"] == fs::file_size(f.dir.path() / "corral_demo_pure-0.9.0.tar.gz"));
  CHECK(old["upload-time"] == "2024-01-15T10:00:00.000000Z");
  CHECK(old["yanked"] == false);
  CHECK(old["core-metadata"] == false);
  CHECK(old["requires-python"].is_null());

  auto modern = f.index.ProjectJson("corral-demo-modern");
  REQUIRE(modern);
  CHECK(FileNamed(*modern, "corral_demo_modern-2.0.0.tar.gz")["requires-python"] == ">=3.8");

  auto wheel = f.index.ProjectJson("demo-wheel");
  REQUIRE(wheel);
  const json& w = FileNamed(*wheel, "demo_wheel-1.0-py3-none-any.whl");
  CHECK(w["requires-python"] == ">=3.7,<4");
  CHECK(w["core-metadata"]["sha256"] == corral::Sha256Hex(kWheelMetadata));
  CHECK_FALSE(w.contains("dist-info-metadata"));  // pip 23.0 crashes on it (PEP 714)
  CHECK_FALSE(w.contains("data-dist-info-metadata"));

  CHECK_FALSE(f.index.ProjectJson("Corral_Demo_Pure"));  // only normalised names
  CHECK_FALSE(f.index.ProjectJson("no-such-project"));
}

TEST_CASE("the PEP 503 HTML pages carry hashes, escaped requires-python and metadata") {
  Fixture f;
  std::string root = f.index.RootHtml();
  CHECK(root.find("<meta name=\"pypi:repository-version\" content=\"1.1\">") != std::string::npos);
  CHECK(root.find("<a href=\"corral-demo-cext/\">corral-demo-cext</a>") != std::string::npos);

  auto modern = f.index.ProjectHtml("corral-demo-modern");
  REQUIRE(modern);
  auto page = f.index.ProjectJson("corral-demo-modern");
  std::string sha = (*page)["files"][0]["hashes"]["sha256"];
  CHECK(modern->find("href=\"../../files/corral_demo_modern-2.0.0.tar.gz#sha256=" + sha + "\"") !=
        std::string::npos);
  CHECK(modern->find("data-requires-python=\"&gt;=3.8\"") != std::string::npos);
  CHECK(modern->find("data-core-metadata") == std::string::npos);

  auto wheel = f.index.ProjectHtml("demo-wheel");
  REQUIRE(wheel);
  CHECK(wheel->find("data-requires-python=\"&gt;=3.7,&lt;4\"") != std::string::npos);
  CHECK(wheel->find("data-core-metadata=\"sha256=" + corral::Sha256Hex(kWheelMetadata) + "\"") !=
        std::string::npos);
  CHECK(wheel->find("data-dist-info-metadata=\"sha256=") != std::string::npos);
}

TEST_CASE("Handle negotiates the format, redirects odd names and serves files") {
  Fixture f;
  SECTION("content negotiation") {
    HttpResponse r = f.Get("/simple/corral-demo-pure/", kJson);
    CHECK(r.status == 200);
    CHECK(r.content_type == kJson);
    json page = json::parse(r.body);
    CHECK(page["name"] == "corral-demo-pure");
    CHECK(Header(r, "X-PyPI-Last-Serial") == std::to_string(page["meta"]["_last-serial"].get<int64_t>()));
    CHECK(Header(r, "Vary") == "Accept");

    r = f.Get("/simple/corral-demo-pure/");
    CHECK(r.status == 200);
    CHECK(r.content_type.rfind("text/html", 0) == 0);
    CHECK(r.body.find("corral_demo_pure-1.0.0.tar.gz#sha256=") != std::string::npos);

    r = f.Get("/simple/", "application/vnd.pypi.simple.v1+html");
    CHECK(r.content_type == "application/vnd.pypi.simple.v1+html");
    CHECK(Header(r, "X-PyPI-Last-Serial") == std::to_string(f.index.last_serial()));

    // pip's header picks JSON; a client preferring HTML by q gets HTML.
    r = f.Get("/simple/", "application/vnd.pypi.simple.v1+json, "
                          "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01");
    CHECK(r.content_type == kJson);
    r = f.Get("/simple/", "application/vnd.pypi.simple.v1+json; q=0.2, text/html");
    CHECK(r.content_type.rfind("text/html", 0) == 0);

    r = f.Get("/simple/", "image/png");
    CHECK(r.status == 406);
    CHECK(json::parse(r.body)["error"] == "not_acceptable");
  }
  SECTION("ETag and If-None-Match") {
    HttpResponse r = f.Get("/simple/", kJson);
    std::string etag = Header(r, "ETag");
    REQUIRE_FALSE(etag.empty());
    HttpRequest again;
    again.method = "GET";
    again.path = "/simple/";
    again.headers = {{"accept", kJson}, {"if-none-match", etag}};
    CHECK(f.index.Handle(again).status == 304);
    again.headers["accept"] = "text/html";  // another representation, another tag
    CHECK(f.index.Handle(again).status == 200);
  }
  SECTION("non-normalised names redirect") {
    HttpResponse r = f.Get("/simple/Corral_Demo.Pure/");
    CHECK(r.status == 301);
    CHECK(Header(r, "Location") == "/simple/corral-demo-pure/");
    r = f.Get("/simple/corral-demo-pure");
    CHECK(r.status == 301);
    CHECK(Header(r, "Location") == "/simple/corral-demo-pure/");
    CHECK(f.Get("/simple").status == 301);
  }
  SECTION("unknown things are JSON 404s") {
    for (const char* path : {"/simple/no-such-project/", "/files/nothing.tar.gz", "/elsewhere",
                             "/files/../expected.json", "/files/expected.json"}) {
      INFO(path);
      HttpResponse r = f.Get(path);
      CHECK(r.status == 404);
      json body = json::parse(r.body);
      CHECK(body["error"] == "not_found");
      CHECK(body["detail"].is_string());
    }
    HttpRequest post;
    post.method = "POST";
    post.path = "/simple/";
    CHECK(f.index.Handle(post).status == 405);
  }
  SECTION("files and their metadata") {
    json page = json::parse(f.Get("/simple/corral-demo-cext/", kJson).body);
    const json& file = page["files"][0];
    HttpResponse r = f.Get("/files/" + file["filename"].get<std::string>());
    CHECK(r.status == 200);
    CHECK(r.content_type == "application/octet-stream");
    CHECK(corral::Sha256Hex(r.body) == file["hashes"]["sha256"]);
    CHECK(r.body.size() == file["size"].get<size_t>());

    // The sdist has no separate metadata; the wheel has, at <url>.metadata.
    CHECK(f.Get("/files/" + file["filename"].get<std::string>() + ".metadata").status == 404);
    json wheel_page = json::parse(f.Get("/simple/demo-wheel/", kJson).body);
    const json& w = wheel_page["files"][0];
    r = f.Get("/files/demo_wheel-1.0-py3-none-any.whl.metadata");
    CHECK(r.status == 200);
    CHECK(r.body == kWheelMetadata);
    CHECK(corral::Sha256Hex(r.body) == w["core-metadata"]["sha256"]);
  }
}

TEST_CASE("yanking, new releases and removals bump serials, which survive a restart") {
  Fixture f;
  std::string err;
  int64_t start = f.index.last_serial();
  int64_t pure_serial = f.index.Project("corral-demo-pure")->serial;
  int64_t cext_serial = f.index.Project("corral-demo-cext")->serial;

  SECTION("a reload with no change changes nothing") {
    REQUIRE(f.index.Reload(&err));
    CHECK(f.index.last_serial() == start);
    CHECK(f.index.Project("corral-demo-pure")->serial == pure_serial);
  }
  SECTION("yank and unyank") {
    REQUIRE(f.index.Yank("corral_demo_pure-0.9.0.tar.gz", "broken metadata <use 1.0.0>", &err));
    CHECK(f.index.last_serial() == start + 1);
    CHECK(f.index.Project("corral-demo-pure")->serial == start + 1);
    CHECK(f.index.Project("corral-demo-cext")->serial == cext_serial);
    auto page = f.index.ProjectJson("corral-demo-pure");
    CHECK(FileNamed(*page, "corral_demo_pure-0.9.0.tar.gz")["yanked"] ==
          "broken metadata <use 1.0.0>");
    CHECK(FileNamed(*page, "corral_demo_pure-1.0.0.tar.gz")["yanked"] == false);
    CHECK(f.index.ProjectHtml("corral-demo-pure")->find(
              "data-yanked=\"broken metadata &lt;use 1.0.0&gt;\"") != std::string::npos);
    CHECK(fs::exists(f.dir.path() / "corral_demo_pure-0.9.0.tar.gz.yanked"));

    REQUIRE(f.index.Unyank("corral_demo_pure-0.9.0.tar.gz", &err));
    CHECK(f.index.last_serial() == start + 2);
    CHECK(FileNamed(*f.index.ProjectJson("corral-demo-pure"),
                    "corral_demo_pure-0.9.0.tar.gz")["yanked"] == false);

    CHECK_FALSE(f.index.Yank("nope-1.0.tar.gz", "", &err));
    CHECK(err.find("nope-1.0.tar.gz") != std::string::npos);
  }
  SECTION("a yank without a reason is `true`") {
    std::ofstream(f.dir.path() / "corral_demo_notests-1.0.0.tar.gz.yanked");
    REQUIRE(f.index.Reload(&err));
    auto page = f.index.ProjectJson("corral-demo-notests");
    CHECK((*page)["files"][0]["yanked"] == true);
  }
  SECTION("a new release") {
    ScratchDir elsewhere;
    fs::path wheel = elsewhere.path() / "demo_wheel-1.1-py3-none-any.whl";
    REQUIRE(WriteZip(wheel, {{"demo_wheel-1.1.dist-info/METADATA",
                              "Metadata-Version: 2.1\nName: demo-wheel\nVersion: 1.1\n"}}));
    REQUIRE(f.index.AddFile(wheel, &err));
    CHECK(f.index.last_serial() == start + 1);
    auto p = f.index.Project("demo-wheel");
    CHECK(p->serial == start + 1);
    CHECK(p->versions == std::vector<std::string>{"1.0", "1.1"});
    HttpResponse r = f.Get("/simple/demo-wheel/", kJson);
    CHECK(Header(r, "X-PyPI-Last-Serial") == std::to_string(start + 1));
    CHECK(json::parse(f.Get("/simple/", kJson).body)["meta"]["_last-serial"] == start + 1);

    // Same name, same bytes: accepted without change. Different bytes: refused.
    REQUIRE(f.index.AddFile(wheel, &err));
    CHECK(f.index.last_serial() == start + 1);
    REQUIRE(WriteZip(wheel, {{"demo_wheel-1.1.dist-info/METADATA", "Name: other\n"}}));
    CHECK_FALSE(f.index.AddFile(wheel, &err));
    CHECK(err.find("already published") != std::string::npos);
    CHECK_FALSE(f.index.AddFile(elsewhere.path() / "README.txt", &err));
  }
  SECTION("a removal bumps the global serial") {
    fs::remove(f.dir.path() / "corral_demo_notests-1.0.0.tar.gz");
    REQUIRE(f.index.Reload(&err));
    CHECK(f.index.last_serial() == start + 1);
    CHECK_FALSE(f.index.Project("corral-demo-notests"));
  }
  SECTION("a restarted index keeps its serials") {
    REQUIRE(f.index.Yank("corral_demo_cext-1.0.0.tar.gz", "", &err));
    LocalIndex restarted;
    REQUIRE(restarted.Load(f.dir.path(), &err));
    CHECK(restarted.last_serial() == start + 1);
    CHECK(restarted.Project("corral-demo-cext")->serial == start + 1);
    CHECK(restarted.Project("corral-demo-pure")->serial == pure_serial);
  }
}

TEST_CASE("an sdist with a non-ASCII file name is published under the C locale") {
  std::setlocale(LC_ALL, "C");
  ScratchDir dir;
  fs::path sdist = dir.path() / "uni-1.0.tar.gz";
  // As Python's tarfile writes sdists: pax headers carrying UTF-8 names,
  // here before PKG-INFO (the real wheel 0.45.1 sdist's test data is so).
  std::ofstream(dir.path() / "make.py")
      << "import io, sys, tarfile\n"
         "t = tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT)\n"
         "for name, data in [(u'uni-1.0/tests/\\u00e5\\u00e4\\u00f6_\\u65e5\\u672c.py', b'X = 1\\n'),\n"
         "                   ('uni-1.0/PKG-INFO', b'Metadata-Version: 2.1\\nName: uni\\nVersion: 1.0\\nRequires-Python: >=3.8\\n')]:\n"
         "    info = tarfile.TarInfo(name)\n"
         "    info.size = len(data)\n"
         "    t.addfile(info, io.BytesIO(data))\n"
         "t.close()\n";
  std::string cmd = "python3 " + (dir.path() / "make.py").string() + " " + sdist.string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  fs::remove(dir.path() / "make.py");
  LocalIndex index;
  std::string err;
  INFO(err);
  REQUIRE(index.Load(dir.path(), &err));
  REQUIRE(index.Project("uni"));
  REQUIRE(index.Project("uni")->files.size() == 1);
  CHECK(index.Project("uni")->files[0].requires_python == ">=3.8");  // PKG-INFO, read past the name
}
