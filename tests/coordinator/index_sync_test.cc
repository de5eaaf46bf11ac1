#include "coordinator/index_sync.h"

#include <catch2/catch.hpp>

#include "coordinator_test_support.h"

using namespace corral;
using namespace corral::coordinator;
using namespace corral::testing;

TEST_CASE("index sync: file names give versions and kinds") {
  std::string v, k;
  REQUIRE(SplitDistributionFilename("corral_demo_pure-1.0.0.tar.gz", "corral-demo-pure", &v, &k));
  CHECK(v == "1.0.0");
  CHECK(k == "sdist");
  REQUIRE(SplitDistributionFilename("Foo.Bar-2.0rc1-py3-none-any.whl", "foo-bar", &v, &k));
  CHECK(v == "2.0rc1");
  CHECK(k == "wheel");
  CHECK_FALSE(SplitDistributionFilename("other-1.0.tar.gz", "foo", &v, &k));
  CHECK_FALSE(SplitDistributionFilename("foo-1.0.exe", "foo", &v, &k));
}

TEST_CASE("index sync: project page URLs are resolved and malformed entries skipped") {
  nlohmann::json page = {{"files",
                          {{{"filename", "foo-1.0.tar.gz"},
                            {"url", "../../files/foo-1.0.tar.gz"},
                            {"hashes", {{"sha256", std::string(64, 'A')}}},
                            {"requires-python", ">=3.8"},
                            {"upload-time", "2024-03-01T10:00:00.000000Z"},
                            {"size", 1234},
                            {"core-metadata", {{"sha256", std::string(64, 'b')}}},
                            {"yanked", "broken"}}}}};
  IndexPage out;
  std::string err;
  REQUIRE(ParseIndexProject("http://h/simple/foo/", "foo", page, &out, &err));
  REQUIRE(out.files.size() == 1);
  const IndexFile& f = out.files[0];
  CHECK(f.url == "http://h/files/foo-1.0.tar.gz");
  CHECK(f.sha256 == std::string(64, 'a'));  // lower-cased
  CHECK(f.requires_python == ">=3.8");
  CHECK(f.yanked);
  CHECK(f.yanked_reason == "broken");
  CHECK(f.size == 1234);
  CHECK(f.upload_time == "2024-03-01T10:00:00.000000Z");
  CHECK(f.core_metadata);
  CHECK(f.core_metadata_sha256 == std::string(64, 'b'));
  CHECK(out.problems.empty());

  // A file without a sha256 is left out, named in the problems; the page stays.
  page["files"].push_back({{"filename", "foo-2.0.tar.gz"}, {"url", "x"}});
  out = {};
  REQUIRE(ParseIndexProject("http://h/simple/foo/", "foo", page, &out, &err));
  CHECK(out.files.size() == 1);
  REQUIRE(out.problems.size() == 1);
  CHECK(out.problems[0].find("foo-2.0.tar.gz") != std::string::npos);
  CHECK(out.problems[0].find("sha256") != std::string::npos);
}

TEST_CASE("index sync: bad file entries are skipped one by one, each with its reason") {
  auto file = [](const std::string& name) {
    return nlohmann::json{{"filename", name},
                          {"url", "../../files/" + name},
                          {"hashes", {{"sha256", std::string(64, 'c')}}}};
  };
  nlohmann::json files = nlohmann::json::array();
  files.push_back(file("foo-1.0.tar.gz"));                     // good
  files.push_back(file("foo-1.0.tar.gz"));                     // listed twice
  files.push_back(file("foo-not.a.version!.tar.gz"));          // invalid version
  files.push_back(file("bar-1.0.tar.gz"));                     // another project's file
  auto huge = file("foo-2.0.tar.gz");
  huge["size"] = int64_t{1} << 50;                             // absurd size
  files.push_back(huge);
  auto negative = file("foo-2.1.tar.gz");
  negative["size"] = -5;
  files.push_back(negative);
  auto badhash = file("foo-3.0.tar.gz");
  badhash["hashes"]["sha256"] = "xyz";
  files.push_back(badhash);
  files.push_back(file("foo-1.0.win32.exe"));                  // not an input: ignored silently
  files.push_back(file(std::string(300, 'f') + "-1.0.tar.gz"));  // absurd name
  files.push_back(42);                                         // not an object
  files.push_back(file("Foo-4.0.POST1.tar.gz"));               // good: version canonicalised
  IndexPage out;
  std::string err;
  REQUIRE(ParseIndexProject("http://h/simple/foo/", "foo", {{"files", files}}, &out, &err));
  REQUIRE(out.files.size() == 2);
  CHECK(out.files[0].version == "1.0");
  CHECK(out.files[1].version == "4.0.post1");
  CHECK(out.problems.size() == 8);
  auto has = [&](const std::string& a, const std::string& b) {
    for (const auto& p : out.problems)
      if (p.find(a) != std::string::npos && p.find(b) != std::string::npos) return true;
    return false;
  };
  CHECK(has("foo-1.0.tar.gz", "twice"));
  CHECK(has("foo-not.a.version!.tar.gz", "PEP 440"));
  CHECK(has("bar-1.0.tar.gz", "does not belong"));
  CHECK(has("foo-2.0.tar.gz", "absurd"));
  CHECK(has("foo-2.1.tar.gz", "absurd"));
  CHECK(has("foo-3.0.tar.gz", "64 hex"));
  CHECK(has("fff", "longer than"));
  CHECK(has("#10", "filename"));
}

TEST_CASE("index sync: a page that is not this project's simple page is refused whole") {
  IndexPage out;
  std::string err;
  CHECK_FALSE(ParseIndexProject("http://h/simple/foo/", "foo", nlohmann::json::array(), &out, &err));
  CHECK_FALSE(ParseIndexProject("http://h/simple/foo/", "foo", {{"name", "bar"}, {"files", nlohmann::json::array()}},
                                &out, &err));
  CHECK(err.find("'bar'") != std::string::npos);
  CHECK_FALSE(ParseIndexProject("http://h/simple/foo/", "foo",
                                {{"meta", {{"api-version", "2.0"}}}, {"files", nlohmann::json::array()}}, &out, &err));
  CHECK(err.find("PEP 629") != std::string::npos);
  IndexLimits small;
  small.max_files_per_page = 2;
  nlohmann::json three = nlohmann::json::array({nlohmann::json::object(), nlohmann::json::object(), nlohmann::json::object()});
  CHECK_FALSE(ParseIndexProject("http://h/simple/foo/", "foo", {{"files", three}}, &out, &err, small));
  CHECK(err.find("more than the 2") != std::string::npos);
}

TEST_CASE("index sync: root entries with invalid names or names that normalise to one project") {
  nlohmann::json root = {{"meta", {{"api-version", "1.0"}, {"_last-serial", 99}}},
                         {"projects",
                          {{{"name", "Foo_Bar"}, {"_last-serial", 5}},
                           {{"name", "foo.bar"}, {"_last-serial", 9}},
                           {{"name", "-bad-"}, {"_last-serial", 3}},
                           {{"name", 17}},
                           {{"name", "ok"}}}}};
  IndexRoot out;
  std::string err;
  REQUIRE(ParseIndexRoot(root, &out, &err));
  CHECK(out.last_serial == 99);
  REQUIRE(out.projects.size() == 2);
  CHECK(out.projects[0].name == "Foo_Bar");
  CHECK(out.projects[0].last_serial == 5);  // the first entry's
  CHECK(out.projects[1].name == "ok");
  CHECK(out.projects[1].last_serial == -1);
  REQUIRE(out.problems.size() == 3);
  CHECK(out.problems[0].find("normalises to 'foo-bar'") != std::string::npos);
  CHECK(out.problems[1].find("-bad-") != std::string::npos);
}

TEST_CASE("index sync: a malformed project page is skipped while the others are ingested") {
  TestIndex index;
  index.SetProject("alpha", {{"alpha-1.0.tar.gz", "alpha one", ""}, {"alpha-2.0.tar.gz", "alpha two", ""}});
  index.SetProject("beta", {{"beta-0.1.tar.gz", "beta", ""}});
  index.SetRawPage("broken", "{ this is not json");
  TestCoordinator tc(index, {"cp311-linux_x86_64", "cp312-linux_x86_64"});
  REQUIRE(tc.Sync());

  auto list = Get(*tc.c, "/api/v1/projects");
  std::vector<std::string> names;
  for (auto& p : list["projects"]) names.push_back(p["project"]);
  CHECK(names == std::vector<std::string>{"alpha", "beta"});
  CHECK(tc.c->GetProgress().tasks == 6);  // 3 releases x 2 platforms

  auto alpha = Get(*tc.c, "/api/v1/projects/Alpha");
  REQUIRE(alpha["versions"].size() == 2);
  CHECK(alpha["versions"][0]["version"] == "2.0");  // newest first
  CHECK(alpha["versions"][0]["cells"]["cp311-linux_x86_64"]["status"] == "pending");

  SECTION("a second pass with unchanged serials fetches nothing and duplicates nothing") {
    int hits = index.project_page_hits();
    REQUIRE(tc.Sync());
    CHECK(index.project_page_hits() == hits + 1);  // only the broken page, still unrecorded
    CHECK(tc.c->GetProgress().tasks == 6);
  }
  SECTION("once fixed, the broken project is ingested on the next pass") {
    index.SetProject("broken", {{"broken-1.0.tar.gz", "fixed", ""}});
    REQUIRE(tc.Sync());
    CHECK(tc.c->GetProgress().tasks == 8);
  }
  SECTION("a new release creates only its own tasks") {
    index.SetProject("beta", {{"beta-0.1.tar.gz", "beta", ""}, {"beta-0.2.tar.gz", "beta 2", ""}});
    REQUIRE(tc.Sync());
    CHECK(tc.c->GetProgress().tasks == 8);
  }
}

TEST_CASE("index sync: wheels are inputs only when a release has no sdist") {
  TestIndex index;
  index.SetProject("gamma", {{"gamma-1.0.tar.gz", "sdist", ""},
                             {"gamma-1.0-py3-none-any.whl", "wheel", ""},
                             {"gamma-2.0-py3-none-any.whl", "wheel2", ""},
                             {"gamma-2.0-cp311-cp311-win_amd64.whl", "winwheel", ""}});
  TestCoordinator tc(index, {"cp311-linux_x86_64"});
  REQUIRE(tc.Sync());
  auto g = Get(*tc.c, "/api/v1/projects/gamma");
  REQUIRE(g["versions"].size() == 2);
  std::string t2 = g["versions"][0]["cells"]["cp311-linux_x86_64"]["task_id"];
  std::string t1 = g["versions"][1]["cells"]["cp311-linux_x86_64"]["task_id"];
  CHECK(Get(*tc.c, "/api/v1/tasks/" + t1)["filename"] == "gamma-1.0.tar.gz");
  CHECK(Get(*tc.c, "/api/v1/tasks/" + t2)["filename"] == "gamma-2.0-py3-none-any.whl");
}
