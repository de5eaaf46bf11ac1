// Atom feeds of verdicts and regressions: the regression rule on a matrix,
// the feed document read back with an XML parser, and the whole path from
// volunteers' signed results through the coordinator's verdicts to
// /feeds/verdicts.atom, /projects/{p}/feed.atom, /api/v1/verdicts and the
// project's badge.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <map>
#include <pugixml.hpp>
#include <regex>
#include <string>
#include <vector>

#include "coordinator/matrix.h"
#include "coordinator/verdict_feed.h"
#include "leaderboard/atom_feed.h"
#include "tests/coordinator/coordinator_test_support.h"

namespace corral {
namespace {

using json = nlohmann::json;
using coordinator::FeedEntry;
using coordinator::Matrix;
using coordinator::MatrixCell;
using coordinator::MatrixRow;

// Rows newest first, as LoadMatrix orders them.
Matrix MakeMatrix(const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& rows) {
  Matrix m;
  m.project = "widget";
  for (const auto& [version, cells] : rows) {
    MatrixRow r;
    r.version = version;
    for (const auto& [tag, status] : cells) {
      MatrixCell c;
      c.status = status;
      c.task_id = version + "@" + tag;
      r.cells[tag] = c;
    }
    m.rows.push_back(r);
  }
  return m;
}

FeedEntry Entry(const std::string& version, const std::string& platform, const std::string& status) {
  FeedEntry e;
  e.project = "widget";
  e.version = version;
  e.platform = platform;
  e.status = status;
  return e;
}

const std::string k311 = "cp311-linux_x86_64";
const std::string k312 = "cp312-linux_x86_64";

TEST_CASE("Regression: a version that fails where the version before it passed") {
  Matrix m = MakeMatrix({{"3.0", {{k311, "tests_failed"}, {k312, "tests_failed"}}},
                         {"2.1", {{k311, "pending"}, {k312, "inconclusive"}}},
                         {"2.0", {{k311, "passed"}, {k312, "build_failed"}}},
                         {"1.0", {{k311, "passed"}, {k312, "no_tests"}}}});
  FeedEntry e = Entry("3.0", k311, "tests_failed");
  coordinator::MarkRegression(m, &e);
  // 2.1 has no verdict on 3.11 (pending): the version before is 2.0.
  CHECK(e.regression);
  CHECK(e.previous_version == "2.0");
  CHECK(e.previous_status == "passed");

  FeedEntry same_as_before = Entry("3.0", k312, "tests_failed");
  coordinator::MarkRegression(m, &same_as_before);
  CHECK_FALSE(same_as_before.regression);  // 2.0 already failed there
  CHECK(same_as_before.previous_version == "2.0");

  FeedEntry broke = Entry("2.0", k312, "build_failed");
  coordinator::MarkRegression(m, &broke);
  CHECK(broke.regression);  // 1.0 worked (no tests)
  CHECK(broke.previous_version == "1.0");

  FeedEntry first = Entry("1.0", k311, "passed");
  coordinator::MarkRegression(m, &first);
  CHECK_FALSE(first.regression);
  CHECK(first.previous_version.empty());

  FeedEntry fixed = Entry("2.0", k311, "passed");
  coordinator::MarkRegression(m, &fixed);
  CHECK_FALSE(fixed.regression);

  // An older version without a cell on the platform is skipped; one that is
  // "unsupported" there did not pass, so a failure after it is no regression.
  Matrix m2 = MakeMatrix({{"2.0", {{k311, "import_failed"}}}, {"1.5", {}}, {"1.0", {{k311, "unsupported"}}}});
  FeedEntry e2 = Entry("2.0", k311, "import_failed");
  coordinator::MarkRegression(m2, &e2);
  CHECK_FALSE(e2.regression);
  CHECK(e2.previous_version == "1.0");
}

// The feed as an XML document; fails the test when it is not well-formed.
struct Feed {
  explicit Feed(const std::string& text) : xml(text) {
    pugi::xml_parse_result r = doc.load_string(xml.c_str());
    INFO(r.description() << " at " << r.offset << ": " << xml.substr(r.offset > 60 ? r.offset - 60 : 0, 120));
    REQUIRE(r);
    root = doc.child("feed");
    REQUIRE(root);
  }
  std::string xml;
  pugi::xml_document doc;
  pugi::xml_node root;
};

// What RFC 4287 requires of a feed and of each entry.
void CheckAtom(const Feed& f) {
  CHECK(std::string(f.root.attribute("xmlns").value()) == "http://www.w3.org/2005/Atom");
  for (const char* child : {"id", "title", "updated", "author"}) {
    INFO(child);
    CHECK(f.root.child(child));
  }
  CHECK(f.root.find_child_by_attribute("link", "rel", "self"));
  std::regex rfc3339("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ");
  CHECK(std::regex_match(std::string(f.root.child_value("updated")), rfc3339));
  for (pugi::xml_node e : f.root.children("entry")) {
    CHECK(std::string(e.child_value("id")).rfind("http", 0) == 0);
    CHECK(!std::string(e.child_value("title")).empty());
    CHECK(std::regex_match(std::string(e.child_value("updated")), rfc3339));
    CHECK(std::string(e.child("link").attribute("href").value()).rfind("http", 0) == 0);
  }
}

TEST_CASE("Atom feed: entries, regression titles and categories, escaping") {
  json feed = json::parse(R"({"project": null, "updated": 1700000000, "verdicts": [
    {"task_id": "t2", "project": "widget", "version": "2.0", "platform": "cp311-linux_x86_64",
     "status": "tests_failed", "summary": "1 of 3 tests failed", "agreeing": 2, "decided_at": 1700000500,
     "regression": true, "previous_version": "1.0", "previous_status": "passed"},
    {"task_id": "t1", "project": "widget", "version": "1.0", "platform": "cp311-linux_x86_64",
     "status": "passed", "summary": "3 tests passed", "agreeing": 3, "decided_at": 1700000100,
     "regression": false, "previous_version": null, "previous_status": null}]})");
  Feed f(site::RenderAtomFeed(feed, "http://corral.example", "/feeds/verdicts.atom"));
  CheckAtom(f);
  CHECK(std::string(f.root.child_value("id")) == "http://corral.example/feeds/verdicts.atom");
  CHECK(std::string(f.root.child_value("updated")) == "2023-11-14T22:21:40Z");  // the newest entry
  auto entries = f.root.select_nodes("entry");
  REQUIRE(entries.size() == 2);
  pugi::xml_node reg = entries[0].node();
  CHECK(std::string(reg.child_value("title")) ==
        "Regression: widget 2.0 on CPython 3.11 on linux (cp311-linux_x86_64): tests failed (1.0 passed)");
  CHECK(reg.find_child_by_attribute("category", "term", "regression"));
  CHECK(reg.find_child_by_attribute("category", "term", "tests_failed"));
  CHECK(std::string(reg.child("link").attribute("href").value()) == "http://corral.example/tasks/t2");
  CHECK(std::string(reg.child_value("id")) == "http://corral.example/tasks/t2#decided-1700000500");
  CHECK(std::string(reg.child_value("summary")).find("1 of 3 tests failed") != std::string::npos);
  pugi::xml_node ok = entries[1].node();
  CHECK(std::string(ok.child_value("title")).rfind("widget 1.0 on CPython 3.11", 0) == 0);
  CHECK_FALSE(ok.find_child_by_attribute("category", "term", "regression"));

  // Untrusted text stays text.
  json evil = feed;
  evil["verdicts"][0]["summary"] = "</summary><script>x</script>&";
  evil["verdicts"][0]["project"] = "<b>";
  Feed e(site::RenderAtomFeed(evil, "http://corral.example", "/feeds/verdicts.atom"));
  CHECK(e.doc.select_nodes("//script").empty());
  CHECK(std::string(e.root.child("entry").child_value("summary")).find("<script>x</script>&") !=
        std::string::npos);

  // An empty feed is still a valid one, dated by "updated".
  Feed empty(site::RenderAtomFeed(json::parse(R"({"project": "widget", "updated": 1700000000, "verdicts": []})"),
                                  "http://corral.example", "/projects/widget/feed.atom"));
  CheckAtom(empty);
  CHECK(empty.root.select_nodes("entry").empty());
  CHECK(std::string(empty.root.child_value("updated")) == "2023-11-14T22:13:20Z");
  CHECK_NOTHROW(Feed(site::RenderAtomFeed(json::parse(R"({"verdicts": [1, null, {"x": 2}]})"), "", "/f")));
}

TEST_CASE("Feeds from the coordinator: newest verdicts first, a regression flagged, per project too") {
  using namespace corral::testing;
  TestIndex index;
  index.SetProject("widget", {{"widget-1.0.tar.gz", "w1", ">=3.6", "2023-01-01T00:00:00Z"},
                              {"widget-2.0.tar.gz", "w2", ">=3.6", "2024-01-01T00:00:00Z"}});
  index.SetProject("other", {{"other-1.0.tar.gz", "o1", "", "2024-02-01T00:00:00Z"}});
  TestCoordinator tc(index, {k311});
  REQUIRE(tc.Sync());
  auto x = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "xa", "x", {k311});
  auto y = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "ya", "y", {k311});
  REQUIRE(Enrol(*tc.c, x, tc.now).status == 200);
  REQUIRE(Enrol(*tc.c, y, tc.now).status == 200);

  // Newest uploads first: other 1.0 passes, widget 2.0 fails, then widget 1.0 passes.
  std::vector<std::string> decided;
  for (int round = 0; round < 3; ++round) {
    tc.now += 100;
    auto tx = Lease(*tc.c, x, tc.now);
    auto ty = Lease(*tc.c, y, tc.now);
    REQUIRE(tx.size() == 1);
    REQUIRE(ty.size() == 1);
    REQUIRE(tx[0].task_id == ty[0].task_id);
    Outcome o = tx[0].version == "2.0" ? Outcome::kTestsFailed : Outcome::kPassed;
    std::vector<std::string> failing;
    if (o == Outcome::kTestsFailed) failing = {"test_a"};
    REQUIRE(Submit(*tc.c, x, Envelope(PayloadFor(tx[0], x, o, 5, failing), *x.machine), tc.now).status == 200);
    REQUIRE(Submit(*tc.c, y, Envelope(PayloadFor(ty[0], y, o, 5, failing), *y.machine), tc.now).status == 200);
    decided.push_back(tx[0].project + " " + tx[0].version);
  }
  REQUIRE(decided == std::vector<std::string>{"other 1.0", "widget 2.0", "widget 1.0"});

  json list = Get(*tc.c, "/api/v1/verdicts");
  REQUIRE(list["verdicts"].size() == 3);
  CHECK(list["project"].is_null());
  CHECK(list["verdicts"][0]["version"] == "1.0");
  CHECK(list["verdicts"][0]["project"] == "widget");
  CHECK(list["verdicts"][0]["regression"] == false);
  CHECK(list["verdicts"][1]["version"] == "2.0");
  CHECK(list["verdicts"][1]["regression"] == true);
  CHECK(list["verdicts"][1]["previous_version"] == "1.0");
  CHECK(list["verdicts"][2]["project"] == "other");
  CHECK(list["updated"] == tc.now.load());
  CHECK(Get(*tc.c, "/api/v1/verdicts?limit=1")["verdicts"].size() == 1);
  CHECK(tc.c->Handle(Request("GET", "/api/v1/verdicts?limit=0")).status == 400);
  CHECK(tc.c->Handle(Request("GET", "/api/v1/verdicts?project=nope")).status == 404);
  json widget_only = Get(*tc.c, "/api/v1/verdicts?project=Widget");
  CHECK(widget_only["project"] == "widget");
  CHECK(widget_only["verdicts"].size() == 2);

  HttpResponse site_feed = tc.c->Handle(Request("GET", "/feeds/verdicts.atom"));
  CHECK(site_feed.status == 200);
  CHECK(site_feed.content_type.rfind("application/atom+xml", 0) == 0);
  Feed f(site_feed.body);
  CheckAtom(f);
  auto entries = f.root.select_nodes("entry");
  REQUIRE(entries.size() == 3);
  CHECK(std::string(entries[1].node().child_value("title")).rfind("Regression: widget 2.0", 0) == 0);
  CHECK(std::string(entries[0].node().child_value("title")).rfind("widget 1.0", 0) == 0);
  CHECK(std::string(f.root.child_value("id")) == "http://127.0.0.1:9999/feeds/verdicts.atom");

  HttpResponse project_feed = tc.c->Handle(Request("GET", "/projects/widget/feed.atom"));
  CHECK(project_feed.status == 200);
  Feed pf(project_feed.body);
  CheckAtom(pf);
  CHECK(pf.root.select_nodes("entry").size() == 2);
  CHECK(std::string(pf.root.child_value("title")) == "Corral: widget verdicts");
  CHECK(tc.c->Handle(Request("GET", "/projects/nope/feed.atom")).status == 404);

  // The badge says the newest release fails; its JSON form says the same.
  HttpResponse badge = tc.c->Handle(Request("GET", "/badges/widget.svg"));
  CHECK(badge.status == 200);
  CHECK(badge.content_type.rfind("image/svg+xml", 0) == 0);
  bool cached = false;
  for (const auto& [k, v] : badge.headers) cached = cached || (k == "Cache-Control" && v.find("max-age") != std::string::npos);
  CHECK(cached);
  pugi::xml_document svg;
  REQUIRE(svg.load_string(badge.body.c_str()));
  CHECK(std::string(svg.child("svg").child_value("title")) == "corral: failing");
  CHECK(Get(*tc.c, "/badges/other.json")["message"] == "py3.11 passing");
  CHECK(tc.c->Handle(Request("GET", "/badges/nope.svg")).status == 404);

  // The lookup says "No" for 2.0, with the newest working version and why.
  json compat = Get(*tc.c, "/api/v1/compat?project=widget&os=linux&python=3.11");
  CHECK(compat["answer_text"] == "No");
  CHECK(compat["newest_working_version"] == "1.0");
  REQUIRE(compat["newest_working_evidence"].size() == 1);
  CHECK(compat["newest_working_evidence"][0]["status"] == "passed");
  CHECK(compat["newest_working_evidence"][0]["agreeing"] == 2);
  CHECK(Get(*tc.c, "/api/v1/compat?project=widget&os=linux&python=2.7")["answer_text"] ==
        "Not supported by the package");
  // The project page shows the badge inline and its Markdown snippet.
  HttpResponse page = tc.c->Handle(Request("GET", "/projects/widget"));
  CHECK(page.body.find("<svg") != std::string::npos);
  CHECK(page.body.find("/badges/widget.svg)") != std::string::npos);
  CHECK(page.body.find("/projects/widget/feed.atom") != std::string::npos);
}

}  // namespace
}  // namespace corral
