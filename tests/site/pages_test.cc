// The site's pages rendered from API-shaped JSON (docs/API_SHAPES.md) and
// read back with an XML parser, the way a browser or a scraper would see them.
#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "leaderboard/site.h"

namespace corral::site {
namespace {

using json = nlohmann::json;

// A rendered page parsed as XML; fails the test when it is not well-formed.
struct Page {
  explicit Page(std::string html_text) : html(std::move(html_text)) {
    pugi::xml_parse_result r = doc.load_string(html.c_str(), pugi::parse_default);
    INFO("offset " << r.offset << ": "
                   << html.substr(r.offset > 80 ? r.offset - 80 : 0, 160));
    REQUIRE(r);
  }
  pugi::xpath_node_set All(const char* xpath) const { return doc.select_nodes(xpath); }
  pugi::xml_node One(const char* xpath) const {
    pugi::xml_node n = doc.select_node(xpath).node();
    INFO(xpath);
    REQUIRE(n);
    return n;
  }
  std::string html;
  pugi::xml_document doc;
};

// All text under `node`, as a reader sees it.
std::string Text(pugi::xml_node node) {
  std::string out;
  for (pugi::xml_node n : node.children()) {
    if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata)
      out += n.value();
    else
      out += Text(n);
  }
  return out;
}

bool HasClass(pugi::xml_node node, const std::string& cls) {
  std::string classes = " " + std::string(node.attribute("class").value()) + " ";
  return classes.find(" " + cls + " ") != std::string::npos;
}

// What every page shares: the layout, no external assets, no script.
void CheckLayout(const Page& page) {
  CHECK(page.html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(std::string(page.One("//meta[@name='viewport']").attribute("content").value())
            .find("width=device-width") != std::string::npos);
  CHECK(page.One("//head/style"));
  CHECK(page.One("//header//a[@href='/' and text()='Home']"));
  CHECK(page.One("//header//a[@href='/leaderboard' and text()='Leaderboard']"));
  CHECK(page.One("//footer"));
  CHECK(page.All("//script").empty());
  CHECK(page.All("//link").empty());
  CHECK(page.All("//*[@src]").empty());
  CHECK(page.All("//*[contains(@href,'://') or starts-with(@href,'//')]").empty());
  CHECK(page.html.find("url(") == std::string::npos);
  CHECK(page.html.find("@import") == std::string::npos);
}

json ProjectsList() {
  return json::parse(R"({
    "projects": [
      {"project": "corral-demo-pure", "versions": 3, "verdicts": 7, "pending": 2},
      {"project": "corral-demo-ext", "versions": 1, "verdicts": 0, "pending": 3}],
    "stats": {"projects": 2, "tasks": 12, "verdicts": 7, "volunteers": 4, "results": 15}})");
}

json Matrix() {
  return json::parse(R"({
    "project": "corral-demo-pure", "summary": "A pure package for the demo",
    "platforms": ["cp27-linux_x86_64", "cp311-linux_x86_64", "pp39-linux_x86_64"],
    "versions": [
      {"version": "1.1.0", "yanked": false, "requires_python": ">=3.8",
       "filename": "corral_demo_pure-1.1.0.tar.gz",
       "cells": {
         "cp27-linux_x86_64": {"status": "unsupported", "task_id": "t-11-27", "results": 0, "agreeing": 0},
         "cp311-linux_x86_64": {"status": "passed", "task_id": "t-11-311", "results": 2, "agreeing": 2,
                                "summary": "12 tests passed"},
         "pp39-linux_x86_64": {"status": "inconclusive", "task_id": "t-11-pp", "results": 4, "agreeing": 1}}},
      {"version": "1.0.0", "yanked": true, "requires_python": "",
       "cells": {
         "cp27-linux_x86_64": {"status": "build_failed", "task_id": "t-10-27", "results": 2, "agreeing": 2},
         "cp311-linux_x86_64": {"status": "tests_failed", "task_id": "t-10-311", "results": 2, "agreeing": 2},
         "pp39-linux_x86_64": {"status": "pending"}}},
      {"version": "0.9", "cells": {}}]})");
}

TEST_CASE("Project page: one row per version, one cell per platform, status as text and class") {
  Page page(RenderProject(Matrix()));
  CheckLayout(page);
  CHECK(Text(page.One("//h1")) == "corral-demo-pure");
  CHECK(Text(page.One("//p[@class='summary']")) == "A pure package for the demo");

  auto headers = page.All("//table[@class='matrix']/thead/tr/th[@class='platform']");
  REQUIRE(headers.size() == 3);
  CHECK(Text(headers[0].node()) == "CPython 2.7cp27-linux_x86_64");
  CHECK(Text(headers[1].node()) == "CPython 3.11cp311-linux_x86_64");
  CHECK(Text(headers[2].node()) == "PyPy 3.9pp39-linux_x86_64");
  CHECK(Text(headers[1].node().child("small")) == "cp311-linux_x86_64");

  auto rows = page.All("//table[@class='matrix']/tbody/tr");
  REQUIRE(rows.size() == 3);
  struct Expect {
    const char* text;
    const char* cls;
    const char* link;  // nullptr: no link
  };
  const std::vector<std::vector<Expect>> expected = {
      {{"unsupported", "s-unsupported", "/tasks/t-11-27"},
       {"passed", "s-passed", "/tasks/t-11-311"},
       {"inconclusive", "s-inconclusive", "/tasks/t-11-pp"}},
      {{"build failed", "s-build_failed", "/tasks/t-10-27"},
       {"tests failed", "s-tests_failed", "/tasks/t-10-311"},
       {"pending", "s-pending", nullptr}},
      {{"not scheduled", "s-none", nullptr},
       {"not scheduled", "s-none", nullptr},
       {"not scheduled", "s-none", nullptr}},
  };
  const std::vector<std::string> versions = {"1.1.0", "1.0.0", "0.9"};
  for (size_t r = 0; r < rows.size(); ++r) {
    pugi::xml_node row = rows[r].node();
    CHECK(Text(row.child("th")).rfind(versions[r], 0) == 0);
    auto cells = row.select_nodes("td");
    REQUIRE(cells.size() == 3);
    for (size_t c = 0; c < cells.size(); ++c) {
      INFO("row " << r << " cell " << c);
      pugi::xml_node cell = cells[c].node();
      const Expect& e = expected[r][c];
      CHECK(HasClass(cell, "cell"));
      CHECK(HasClass(cell, e.cls));
      pugi::xml_node link = cell.child("a");
      if (e.link) {
        REQUIRE(link);
        CHECK(std::string(link.attribute("href").value()) == e.link);
        CHECK(Text(link) == e.text);
      } else {
        CHECK_FALSE(link);
        CHECK(Text(cell).rfind(e.text, 0) == 0);
      }
    }
  }
  // Agreement counts, the cell summary as a tooltip, yanked and Requires-Python.
  CHECK(Text(rows[0].node().select_node("td[2]/small").node()) == "2/2 agree");
  CHECK(std::string(rows[0].node().select_node("td[2]").node().attribute("title").value()) ==
        "12 tests passed");
  CHECK(Text(rows[0].node().child("th")).find("Requires-Python >=3.8") != std::string::npos);
  CHECK(Text(rows[1].node().child("th")).find("yanked") != std::string::npos);
  CHECK(Text(rows[0].node().child("th")).find("yanked") == std::string::npos);

  // The legend names each colour in words.
  auto legend = page.All("//ul[@class='legend']/li");
  CHECK(legend.size() >= 11);
  bool saw_inconclusive = false;
  for (auto li : legend)
    if (HasClass(li.node(), "s-inconclusive") && Text(li.node()) == "inconclusive")
      saw_inconclusive = true;
  CHECK(saw_inconclusive);
  CHECK(page.One("//footer//a[@href='/api/v1/projects/corral-demo-pure']"));
}

TEST_CASE("Project page without versions says so") {
  Page page(RenderProject(json::parse(R"({"project": "empty", "platforms": [], "versions": []})")));
  CHECK(page.All("//table[@class='matrix']").empty());
  CHECK(page.html.find("No versions") != std::string::npos);
}

TEST_CASE("Home without an answer: the form and the projects") {
  Page page(RenderHome(ProjectsList(), nullptr));
  CheckLayout(page);
  pugi::xml_node form = page.One("//form[@action='/lookup']");
  CHECK(std::string(form.attribute("method").value()) == "get");
  CHECK(form.select_node(".//input[@name='project']"));
  CHECK(form.select_node(".//input[@name='python']"));
  auto options = form.select_nodes(".//select[@name='os']/option");
  REQUIRE(options.size() == 3);
  CHECK(std::string(options[0].node().attribute("value").value()) == "linux");
  CHECK(std::string(options[1].node().attribute("value").value()) == "windows");
  CHECK(std::string(options[2].node().attribute("value").value()) == "macos");
  CHECK(page.All("//*[contains(@class,'answer')]").empty());

  auto rows = page.All("//table[@class='projects']/tbody/tr");
  REQUIRE(rows.size() == 2);
  pugi::xml_node first = rows[0].node();
  CHECK(std::string(first.select_node("td/a").node().attribute("href").value()) ==
        "/projects/corral-demo-pure");
  CHECK(Text(first.select_node("td[2]").node()) == "3");
  CHECK(Text(first.select_node("td[3]").node()) == "7");
  CHECK(Text(first.select_node("td[4]").node()) == "2");
  CHECK(Text(rows[1].node().select_node("td/a").node()) == "corral-demo-ext");

  Page empty(RenderHome(json::parse(R"({"projects": []})"), nullptr));
  CHECK(empty.html.find("No projects yet.") != std::string::npos);
}

TEST_CASE("Home with an answer: the sentence, its styling, the newest version, the evidence") {
  json answer = json::parse(R"({
    "project": "corral-demo-pure", "os": "macos", "python": "3.11", "version": null,
    "answer": "yes",
    "sentence": "Yes: corral-demo-pure 1.1.0 passes its tests with CPython 3.11 on macos (2 volunteers agreed).",
    "newest_working_version": "1.1.0",
    "evidence": [
      {"version": "1.1.0", "platform": "cp311-macosx_arm64", "status": "passed", "task_id": "t1", "agreeing": 2},
      {"version": "1.0.0", "platform": "cp311-macosx_arm64", "status": "tests_failed", "task_id": "t2", "agreeing": 3}]})");
  Page page(RenderHome(ProjectsList(), &answer));
  CheckLayout(page);
  pugi::xml_node section = page.One("//section[@id='answer']");
  CHECK(HasClass(section, "answer-yes"));
  CHECK(Text(section.select_node("p[@class='sentence']").node()) == answer["sentence"]);
  CHECK(Text(page.One("//strong[@class='newest']")) == "1.1.0");
  auto evidence = page.All("//table[@class='evidence']/tbody/tr");
  REQUIRE(evidence.size() == 2);
  CHECK(std::string(evidence[0].node().select_node("td/a").node().attribute("href").value()) ==
        "/tasks/t1");
  CHECK(Text(evidence[0].node().select_node("td/a").node()) == "passed");
  CHECK(HasClass(evidence[1].node().select_node("td[3]").node(), "s-tests_failed"));
  CHECK(Text(evidence[1].node().select_node("td[4]").node()) == "3");
  // The form keeps the question; the projects are still listed below.
  CHECK(std::string(page.One("//input[@name='project']").attribute("value").value()) ==
        "corral-demo-pure");
  CHECK(std::string(page.One("//input[@name='python']").attribute("value").value()) == "3.11");
  CHECK(std::string(page.One("//option[@selected]").attribute("value").value()) == "macos");
  CHECK(page.All("//table[@class='projects']/tbody/tr").size() == 2);
  CHECK(page.One("//footer//a[@href='/api/v1/compat?project=corral-demo-pure&os=macos&python=3.11']"));

  for (const char* word : {"no", "unknown", "unsupported"}) {
    json other = answer;
    other["answer"] = word;
    other["newest_working_version"] = nullptr;
    other["evidence"] = json::array();
    Page p(RenderHome(ProjectsList(), &other));
    INFO(word);
    CHECK(HasClass(p.One("//section[@id='answer']"), std::string("answer-") + word));
    CHECK(p.All("//strong[@class='newest']").empty());
    CHECK(p.All("//table[@class='evidence']").empty());
  }
  json odd = answer;
  odd["answer"] = "\"><b>";
  Page p(RenderHome(ProjectsList(), &odd));
  CHECK(HasClass(p.One("//section[@id='answer']"), "answer-unknown"));
}

json Task() {
  return json::parse(R"js({
    "task_id": "9f2c", "project": "corral-demo-pure", "version": "1.0.0",
    "filename": "corral_demo_pure-1.0.0.tar.gz", "sha256": "ab12", "platform": "cp311-linux_x86_64",
    "status": "tests_failed", "summary": "1 of 12 tests failed",
    "reproduce": "corral reproduce 9f2c --coordinator http://127.0.0.1:8080",
    "results": [
      {"volunteer_id": "v-alice", "volunteer_name": "alice-laptop", "account": "alice",
       "outcome": "tests_failed", "summary": "1 of 12 tests failed",
       "tests": {"passed": 11, "failed": 1, "errors": 0, "skipped": 2},
       "failing_tests": ["tests/test_core.py::test_divide"],
       "test_run": {"runner": "pytest", "command": "cd /job/testrun && python -m pytest tests",
                    "found_by": "testpaths in pyproject.toml",
                    "degraded": "the project's pytest addopts need a plugin that is not installed",
                    "requirements": ["pytest", "hypothesis"], "requirements_missing": ["hypothesis (none)"],
                    "not_run": ["tests.test_prop (needs hypothesis)"], "flaky": ["tests.test_net.test_retry"],
                    "first_failures": [{"id": "tests/test_core.py::test_divide",
                                        "text": "Traceback: ZeroDivisionError <in test>"}]},
       "durations": {"build_s": 3.21, "test_s": 1.5, "total_s": 5},
       "wheel": {"filename": "corral_demo_pure-1.0.0-py3-none-any.whl", "sha256": "cd34",
                 "content_digest": "ef56"},
       "log_sha256": "0123456789abcdef0123", "log_url": "/api/v1/artifacts/0123456789abcdef0123",
       "commands": ["python -m build --wheel", "python -m pytest --junitxml=report.xml"],
       "environment": {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
       "platform": {"implementation": "cpython", "python_version": "3.11.7", "libc": "glibc 2.36"},
       "isolation": "bwrap+seccomp", "agrees": true, "received_at": "2024-05-01T12:00:00Z"},
      {"volunteer_id": "v-bob", "volunteer_name": "bob-desktop", "account": "bob",
       "outcome": "passed", "agrees": false}]})js");
}

TEST_CASE("Task page: verdict, reproduce command, each result with its log link") {
  Page page(RenderTask(Task()));
  CheckLayout(page);
  CHECK(Text(page.One("//h1")) == "corral-demo-pure 1.0.0 on CPython 3.11");
  CHECK(HasClass(page.One("//dd/span[contains(@class,'cell')]"), "s-tests_failed"));
  const std::string cmd = "corral reproduce 9f2c --coordinator http://127.0.0.1:8080";
  CHECK(Text(page.One("//pre[@class='reproduce']")) == cmd);
  pugi::xml_node copy = page.One("//form//input[@readonly]");
  CHECK(std::string(copy.attribute("value").value()) == cmd);

  auto results = page.All("//section[@class='result']");
  REQUIRE(results.size() == 2);
  pugi::xml_node first = results[0].node();
  CHECK(first.select_node(".//a[@href='/volunteers/v-alice']"));
  CHECK(Text(first).find("alice-laptop") != std::string::npos);
  CHECK(std::string(first.select_node(".//a[@class='log']").node().attribute("href").value()) ==
        "/api/v1/artifacts/0123456789abcdef0123");
  CHECK(Text(first.select_node(".//ul[@class='failing']/li").node()) ==
        "tests/test_core.py::test_divide");
  std::string text = Text(first);
  CHECK(text.find("11 passed, 1 failed, 0 errors, 2 skipped, 1 not run, 1 flaky") != std::string::npos);
  // How the suite ran: the evidence a maintainer checks.
  CHECK(Text(first.select_node(".//pre[@class='suite-command']").node()) ==
        "cd /job/testrun && python -m pytest tests");
  CHECK(text.find("testpaths in pyproject.toml") != std::string::npos);
  CHECK(Text(first.select_node(".//dd[@class='degraded']").node()).find("addopts") != std::string::npos);
  CHECK(text.find("hypothesis (none)") != std::string::npos);
  CHECK(Text(first.select_node(".//ul[@class='flaky']/li").node()) == "tests.test_net.test_retry");
  CHECK(Text(first.select_node(".//ul[@class='not-run']/li").node()) == "tests.test_prop (needs hypothesis)");
  pugi::xml_node tb = first.select_node(".//details[@class='traceback']").node();
  CHECK(Text(tb.child("summary")) == "tests/test_core.py::test_divide");
  CHECK(Text(tb.child("pre")) == "Traceback: ZeroDivisionError <in test>");
  CHECK(text.find("build 3.2 s, tests 1.5 s, total 5.0 s") != std::string::npos);
  CHECK(text.find("corral_demo_pure-1.0.0-py3-none-any.whl") != std::string::npos);
  CHECK(text.find("ef56") != std::string::npos);
  CHECK(text.find("bwrap+seccomp") != std::string::npos);
  CHECK(text.find("agrees with the verdict") != std::string::npos);
  CHECK(Text(first.select_node(".//pre[@class='commands']").node())
            .find("python -m build --wheel") != std::string::npos);
  auto env = first.select_nodes(".//table[@class='environment']/tbody/tr");
  REQUIRE(env.size() == 2);
  CHECK(Text(env[0].node().child("th")) == "PATH");
  CHECK(Text(env[0].node().child("td")) == "/usr/bin:/bin");
  CHECK(first.select_nodes(".//table[@class='platform']/tbody/tr").size() == 3);

  pugi::xml_node second = results[1].node();
  CHECK(Text(second).find("disagrees with the verdict") != std::string::npos);
  CHECK(Text(second).find("none uploaded") != std::string::npos);
  CHECK_FALSE(second.select_node(".//a[@class='log']"));
}

TEST_CASE("Leaderboard: order as given, credit with one decimal, window links") {
  json board = json::parse(R"({"window": "week",
    "volunteers": [
      {"rank": 1, "volunteer_id": "v-carol", "name": "carol", "account": "c", "verified_results": 40,
       "credit": 123.456, "recent_average_credit": 10, "platforms": ["cp311-linux_x86_64"]},
      {"rank": 2, "volunteer_id": "v-alice", "name": "alice", "account": "a", "verified_results": 50,
       "credit": 99.95, "recent_average_credit": 0.04, "platforms": []},
      {"rank": 3, "volunteer_id": "v-bob", "name": "bob", "account": "b", "verified_results": 1,
       "credit": 7, "recent_average_credit": 0, "platforms": []}],
    "accounts": [
      {"rank": 1, "account": "acct-z", "name": "zed", "machines": 3, "verified_results": 90,
       "credit": 200.25, "recent_average_credit": 12.5},
      {"rank": 2, "account": "acct-a", "name": "ann", "machines": 1, "verified_results": 1,
       "credit": 0, "recent_average_credit": 0}]})");
  Page page(RenderLeaderboard(board));
  CheckLayout(page);
  auto vols = page.All("//table[@class='volunteers']/tbody/tr");
  REQUIRE(vols.size() == 3);
  const std::vector<std::string> names = {"carol", "alice", "bob"};
  const std::vector<std::string> credits = {"123.5", "100.0", "7.0"};
  for (size_t i = 0; i < vols.size(); ++i) {
    pugi::xml_node row = vols[i].node();
    CHECK(Text(row.select_node("td[1]").node()) == std::to_string(i + 1));
    CHECK(Text(row.select_node("td[2]/a").node()) == names[i]);
    CHECK(std::string(row.select_node("td[2]/a").node().attribute("href").value()) ==
          "/volunteers/v-" + names[i]);
    CHECK(Text(row.select_node("td[5]").node()) == credits[i]);
  }
  CHECK(Text(vols[1].node().select_node("td[6]").node()) == "0.0");
  auto accounts = page.All("//table[@class='accounts']/tbody/tr");
  REQUIRE(accounts.size() == 2);
  CHECK(Text(accounts[0].node().select_node("td[2]").node()).rfind("zed", 0) == 0);
  CHECK(Text(accounts[0].node().select_node("td[5]").node()) == "200.2");  // 200.25 rounds to even
  CHECK(Text(accounts[1].node().select_node("td[2]").node()).rfind("ann", 0) == 0);

  auto windows = page.All("//nav[contains(@class,'windows')]/a");
  REQUIRE(windows.size() == 3);
  CHECK(std::string(windows[0].node().attribute("href").value()) == "/leaderboard?window=day");
  CHECK(std::string(windows[1].node().attribute("href").value()) == "/leaderboard?window=week");
  CHECK(std::string(windows[2].node().attribute("href").value()) == "/leaderboard?window=all");
  CHECK(HasClass(windows[1].node(), "current"));
  CHECK_FALSE(HasClass(windows[2].node(), "current"));

  Page empty(RenderLeaderboard(json::parse(R"({"window": "day", "volunteers": [], "accounts": []})")));
  CHECK(empty.All("//table").empty());
  CHECK(HasClass(empty.One("//nav[contains(@class,'windows')]/a[1]"), "current"));
}

TEST_CASE("Volunteer page lists recent results with links") {
  json v = json::parse(R"({"volunteer_id": "v-alice", "name": "alice-laptop", "account": "alice",
    "platforms": ["cp311-linux_x86_64", "pp39-linux_x86_64"], "verified_results": 12, "credit": 45.678,
    "recent_results": [
      {"task_id": "0123456789abcdef", "project": "corral-demo-pure", "version": "1.0.0",
       "platform": "pp39-linux_x86_64", "outcome": "import_failed", "agrees": true},
      {"task_id": "t2", "project": "corral-demo-ext", "version": "0.1", "platform": "cp311-linux_x86_64",
       "outcome": "passed", "agrees": false}]})");
  Page page(RenderVolunteer(v));
  CheckLayout(page);
  CHECK(Text(page.One("//h1")) == "alice-laptop");
  CHECK(Text(page.One("//dl")).find("45.7") != std::string::npos);
  CHECK(Text(page.One("//dl")).find("PyPy 3.9") != std::string::npos);
  auto rows = page.All("//table[@class='recent']/tbody/tr");
  REQUIRE(rows.size() == 2);
  CHECK(std::string(rows[0].node().select_node("td[1]/a").node().attribute("href").value()) ==
        "/tasks/0123456789abcdef");
  CHECK(std::string(rows[0].node().select_node("td[2]/a").node().attribute("href").value()) ==
        "/projects/corral-demo-pure");
  CHECK(HasClass(rows[0].node().select_node("td[5]").node(), "s-import_failed"));
  CHECK(Text(rows[0].node().select_node("td[5]").node()) == "import failed");
  CHECK(Text(rows[0].node().select_node("td[6]").node()) == "yes");
  CHECK(Text(rows[1].node().select_node("td[6]").node()) == "no");
}

TEST_CASE("Not-found page names what is missing, escaped") {
  Page page(RenderNotFound("project \"<b>x</b>\""));
  CheckLayout(page);
  CHECK(Text(page.One("//main/p")) == "There is no project \"<b>x</b>\" here.");
  CHECK(page.All("//main//b").empty());
}

// Replaces every string in `j` (not keys) with `value`.
void Poison(json& j, const std::string& value) {
  if (j.is_string()) {
    j = value;
  } else if (j.is_structured()) {
    for (json& child : j) Poison(child, value);
  }
}

TEST_CASE("Untrusted text is escaped on every page") {
  const std::string evil = "<script>alert(1)</script>\"' onload='x' &amp; </td></tr>";
  json projects = ProjectsList(), matrix = Matrix(), task = Task();
  json answer = json::parse(R"({"project": "p", "os": "linux", "python": "3.11", "answer": "yes",
    "sentence": "s", "newest_working_version": "1", "evidence": [
      {"version": "1", "platform": "cp311-linux_x86_64", "status": "passed", "task_id": "t", "agreeing": 2}]})");
  json board = json::parse(R"({"window": "all", "volunteers": [{"rank": 1, "volunteer_id": "v",
    "name": "n", "account": "a", "verified_results": 1, "credit": 1, "recent_average_credit": 1,
    "platforms": ["cp311-linux_x86_64"]}], "accounts": [{"rank": 1, "account": "a", "name": "n",
    "machines": 1, "verified_results": 1, "credit": 1, "recent_average_credit": 1}]})");
  json volunteer = json::parse(R"({"volunteer_id": "v", "name": "n", "account": "a",
    "platforms": ["cp311-linux_x86_64"], "verified_results": 1, "credit": 1, "recent_results": [
      {"task_id": "t", "project": "p", "version": "1", "platform": "cp311-linux_x86_64",
       "outcome": "passed", "agrees": true}]})");
  // Keys of the matrix's cells must stay platform tags to be looked up.
  json poisoned_matrix = matrix;
  Poison(poisoned_matrix["project"], evil);
  Poison(poisoned_matrix["summary"], evil);
  for (json& row : poisoned_matrix["versions"]) {
    Poison(row, evil);
  }
  for (json* j : {&projects, &task, &answer, &board, &volunteer}) Poison(*j, evil);
  task["environment"] = {{evil, evil}};

  const std::vector<std::pair<std::string, std::string>> pages = {
      {"home", RenderHome(projects, nullptr)},
      {"home+answer", RenderHome(projects, &answer)},
      {"project", RenderProject(poisoned_matrix)},
      {"task", RenderTask(task)},
      {"leaderboard", RenderLeaderboard(board)},
      {"volunteer", RenderVolunteer(volunteer)},
      {"not found", RenderNotFound(evil)},
  };
  for (const auto& [name, html] : pages) {
    INFO(name);
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    CHECK(html.find("onload='x'") == std::string::npos);
    Page page(html);  // still well-formed: nothing broke out of its element
    CHECK(page.All("//script").empty());
    CHECK(page.All("//*[@onload]").empty());
  }
}

TEST_CASE("Missing and mistyped fields render without throwing") {
  json junk = json::parse(R"({"projects": 5, "versions": "x", "results": [1, null, "a"],
    "volunteers": {"a": 1}, "recent_results": [{}], "platforms": [1, null]})");
  CHECK_NOTHROW(Page(RenderHome(junk, &junk)));
  CHECK_NOTHROW(Page(RenderProject(junk)));
  CHECK_NOTHROW(Page(RenderTask(junk)));
  CHECK_NOTHROW(Page(RenderLeaderboard(junk)));
  CHECK_NOTHROW(Page(RenderVolunteer(junk)));
  CHECK_NOTHROW(Page(RenderHome(json(), nullptr)));
  CHECK_NOTHROW(Page(RenderTask(json::array())));
}

}  // namespace
}  // namespace corral::site
