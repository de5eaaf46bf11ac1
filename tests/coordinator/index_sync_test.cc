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

TEST_CASE("index sync: project page URLs are resolved and malformed entries refused") {
  nlohmann::json page = {{"files",
                          {{{"filename", "foo-1.0.tar.gz"},
                            {"url", "../../files/foo-1.0.tar.gz"},
                            {"hashes", {{"sha256", std::string(64, 'a')}}},
                            {"requires-python", ">=3.8"},
                            {"yanked", "broken"}}}}};
  std::vector<IndexFile> files;
  std::string err;
  REQUIRE(ParseIndexProject("http://h/simple/foo/", "foo", page, &files, &err));
  REQUIRE(files.size() == 1);
  CHECK(files[0].url == "http://h/files/foo-1.0.tar.gz");
  CHECK(files[0].requires_python == ">=3.8");
  CHECK(files[0].yanked);
  CHECK(files[0].yanked_reason == "broken");

  page["files"][0].erase("hashes");
  files.clear();
  CHECK_FALSE(ParseIndexProject("http://h/simple/foo/", "foo", page, &files, &err));
  CHECK(err.find("sha256") != std::string::npos);
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
