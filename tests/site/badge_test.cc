// README badges: what they say about a project's matrix, and the SVG read
// back with an XML parser.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <map>
#include <pugixml.hpp>
#include <set>
#include <string>
#include <vector>

#include "leaderboard/badge.h"

namespace corral::site {
namespace {

using json = nlohmann::json;

// A matrix document with one row per {version, {tag: status}}.
json Matrix(const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& rows,
            std::set<std::string> yanked = {}) {
  json versions = json::array();
  std::set<std::string> tags;
  for (const auto& [version, cells] : rows) {
    json c = json::object();
    for (const auto& [tag, status] : cells) {
      c[tag] = {{"status", status}, {"task_id", version + tag}, {"results", 2}, {"agreeing", 2}};
      tags.insert(tag);
    }
    versions.push_back({{"version", version}, {"yanked", yanked.count(version) > 0}, {"cells", c}});
  }
  return {{"project", "p"}, {"platforms", tags}, {"versions", versions}};
}

const std::string kDash = "\xE2\x80\x93";

TEST_CASE("Badge: the passing Pythons of the newest release, consecutive minors joined") {
  json m = Matrix({{"2.0", {{"cp27-linux_x86_64", "passed"},
                            {"cp36-linux_x86_64", "passed"},
                            {"cp37-linux_x86_64", "no_tests"},
                            {"cp38-linux_x86_64", "passed"},
                            {"cp313-linux_x86_64", "passed"},
                            {"cp312-linux_x86_64", "passed"},
                            {"cp310-linux_x86_64", "passed"},
                            {"cp311-win_amd64", "passed"},
                            {"cp311-linux_x86_64", "passed"},
                            {"pp39-linux_x86_64", "passed"},
                            {"pp310-linux_x86_64", "passed"}}},
                   {"1.0", {{"cp39-linux_x86_64", "passed"}}}});
  Badge b = BadgeForProject(m);
  CHECK(b.label == "corral");
  // 3.9 is not in 2.0's row, so 3.8 and 3.10 are not joined.
  CHECK(b.message == "py2.7, 3.6" + kDash + "3.8, 3.10" + kDash + "3.13, pypy3.9" + kDash + "3.10 passing");
  CHECK(b.color == "#4c1");
  CHECK(b.version == "2.0");
}

TEST_CASE("Badge: failing, partly failing, unknown and unsupported") {
  // Some pass, some fail: the passing ones, in yellow.
  Badge partly = BadgeForProject(Matrix({{"1.0", {{"cp311-linux_x86_64", "passed"},
                                                  {"cp312-linux_x86_64", "tests_failed"}}}}));
  CHECK(partly.message == "py3.11 passing");
  CHECK(partly.color == "#dfb317");
  // A Python that fails on one OS and passes on another is not passing.
  Badge mixed = BadgeForProject(Matrix({{"1.0", {{"cp311-linux_x86_64", "passed"},
                                                 {"cp311-win_amd64", "import_failed"}}}}));
  CHECK(mixed.message == "failing");
  CHECK(mixed.color == "#e05d44");
  Badge failing = BadgeForProject(Matrix({{"1.0", {{"cp311-linux_x86_64", "build_failed"}}}}));
  CHECK(failing.message == "failing");
  Badge pending = BadgeForProject(Matrix({{"1.0", {{"cp311-linux_x86_64", "pending"},
                                                   {"cp312-linux_x86_64", "inconclusive"}}}}));
  CHECK(pending.message == "unknown");
  CHECK(pending.color == "#9f9f9f");
  Badge unsupported = BadgeForProject(Matrix({{"1.0", {{"cp27-linux_x86_64", "unsupported"}}}}));
  CHECK(unsupported.message == "unsupported");
  CHECK(BadgeForProject(json::parse(R"({"project": "p", "versions": []})")).message == "unknown");
  CHECK(BadgeForProject(json::parse(R"([1, 2])")).message == "unknown");
}

TEST_CASE("Badge: a newest release without verdicts or yanked gives way to the newest one with some") {
  json m = Matrix({{"3.0", {{"cp311-linux_x86_64", "pending"}}},
                   {"2.0", {{"cp311-linux_x86_64", "tests_failed"}}},
                   {"1.0", {{"cp311-linux_x86_64", "passed"}}}},
                  {"2.0"});
  Badge b = BadgeForProject(m);
  CHECK(b.version == "1.0");
  CHECK(b.message == "py3.11 passing");
}

TEST_CASE("Badge text width grows with the text, per Verdana 11px") {
  CHECK(BadgeTextWidth("") == 0);
  CHECK(BadgeTextWidth("i") < BadgeTextWidth("m"));
  CHECK(BadgeTextWidth("corral") == Approx(31.4).margin(0.2));
  CHECK(BadgeTextWidth("passing") > BadgeTextWidth("pass"));
  // Unknown characters count wide, one per UTF-8 sequence.
  CHECK(BadgeTextWidth("\xE2\x9C\x93") == Approx(BadgeTextWidth("m")).margin(0.1));
  CHECK(BadgeTextWidth(kDash) < BadgeTextWidth("m"));
}

TEST_CASE("Badge SVG: well-formed, sized from its texts, self-contained, escaped") {
  Badge b{"corral", "py3.8" + kDash + "3.13 passing", "#4c1", "1.0"};
  std::string svg = RenderBadgeSvg(b);
  pugi::xml_document doc;
  REQUIRE(doc.load_string(svg.c_str()));
  pugi::xml_node root = doc.child("svg");
  REQUIRE(root);
  CHECK(std::string(root.attribute("xmlns").value()) == "http://www.w3.org/2000/svg");
  double lw = BadgeTextWidth("corral") + 10, mw = BadgeTextWidth(b.message) + 10;
  CHECK(root.attribute("width").as_double() == Approx(lw + mw).margin(0.06));
  CHECK(root.attribute("height").as_int() == 20);
  CHECK(std::string(root.child_value("title")) == "corral: " + b.message);
  // The message box is drawn in the message colour; the texts are there.
  CHECK(root.find_node([](pugi::xml_node n) {
    return std::string(n.name()) == "rect" && std::string(n.attribute("fill").value()) == "#4c1";
  }));
  int texts = 0;
  for (pugi::xpath_node t : doc.select_nodes("//text")) {
    ++texts;
    CHECK(t.node().attribute("textLength").as_double() > 0);
  }
  CHECK(texts == 4);  // shadow and text, for label and message
  CHECK(doc.select_node("//text[text()='corral']"));
  // Nothing fetched from elsewhere, nothing that runs.
  CHECK(svg.find("href") == std::string::npos);
  CHECK(svg.find("url(") == std::string::npos);
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("<image") == std::string::npos);
  CHECK(svg.find("@font-face") == std::string::npos);

  Badge longer{"corral", "py2.7, 3.6" + kDash + "3.13 passing", "#4c1", ""};
  pugi::xml_document doc2;
  REQUIRE(doc2.load_string(RenderBadgeSvg(longer).c_str()));
  CHECK(doc2.child("svg").attribute("width").as_double() > root.attribute("width").as_double());

  Badge evil{"<b>&", "\"'><script>", "\"/><script>", ""};
  std::string bad = RenderBadgeSvg(evil);
  pugi::xml_document doc3;
  REQUIRE(doc3.load_string(bad.c_str()));
  CHECK(bad.find("<script") == std::string::npos);
  CHECK(doc3.select_nodes("//script").empty());
}

TEST_CASE("Badge JSON is a shields.io endpoint document") {
  json j = BadgeJson(Badge{"corral", "failing", "#e05d44", "1.0"});
  CHECK(j == json::parse(R"({"schemaVersion": 1, "label": "corral", "message": "failing", "color": "#e05d44"})"));
}

}  // namespace
}  // namespace corral::site
