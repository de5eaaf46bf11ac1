// The public site in a real browser: Debian's headless Chromium, with
// JavaScript switched off (the site must work without it), loads the pages
// of a finished demo network the way a visitor would reach them: the home
// page's search form, the project matrix, the leaderboard, a verdict and its
// log. Each page's DOM is checked against the JSON API; screenshots at a
// desktop and a phone width are kept in run.output/browser for people to
// look at.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/http_server.h"
#include "leaderboard/site.h"
#include "tests/e2e/e2e_checks.h"

namespace fs = std::filesystem;

// A check that, failing, ends the current step (a lambda) but not the test:
// the demo network still has to be stopped and its other checks run.
#define ENSURE(cond)     \
  do {                   \
    CHECK(cond);         \
    if (!(cond)) return; \
  } while (false)

namespace corral {
namespace {

struct Viewport {
  const char* name;
  int width, height;
};
constexpr Viewport kDesktop{"desktop", 1280, 900};
constexpr Viewport kPhone{"phone", 390, 844};

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path FindChromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(p)) return p;
  return {};
}

// One headless Chromium run: `extra` flags plus the URL. Its stdout goes to
// `out`, its stderr to `log`. Returns its exit status (-1 on timeout, when
// the whole process group is killed).
class Browser {
 public:
  Browser(fs::path binary, fs::path work) : binary_(std::move(binary)), work_(std::move(work)) {
    fs::create_directories(work_);
  }

  int Run(const std::vector<std::string>& extra, const std::string& url, const fs::path& out,
          const Viewport& vp) {
    fs::path profile = work_ / ("profile-" + std::to_string(++runs_));
    fs::create_directories(profile);
    std::vector<std::string> args = {binary_.string(),
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--hide-scrollbars",
                                     // Not --blink-settings=scriptEnabled=false: Chromium 156's
                                     // headless mode writes no screenshot or DOM with it. The
                                     // site has no JavaScript at all instead (Dom checks).
                                     "--user-data-dir=" + profile.string(),
                                     "--window-size=" + std::to_string(vp.width) + "," +
                                         std::to_string(vp.height)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url);
    fs::path log = work_ / "chromium.log";
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (o >= 0) dup2(o, 1);
      if (e >= 0) dup2(e, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    if (pid < 0) return -1;
    setpgid(pid, pid);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    int status = 0;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kill(-pid, SIGKILL);  // helpers (zygote, renderer) that outlived the browser
    if (r == 0) {
      waitpid(pid, &status, 0);
      return -1;
    }
    std::error_code ec;
    fs::remove_all(profile, ec);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // The page's DOM after loading, as Chromium serialises it.
  std::string Dom(const std::string& url, const std::string& name) {
    fs::path out = work_ / (name + ".dom.html");
    int rc = Run({"--dump-dom"}, url, out, kDesktop);
    INFO("chromium --dump-dom " << url << " exited " << rc << "; its log: " << Tail(work_ / "chromium.log"));
    CHECK(rc == 0);
    std::string dom = ReadAll(out);
    // The site works without JavaScript because it has none.
    CHECK(dom.find("<script") == std::string::npos);
    CHECK_FALSE(std::regex_search(dom, std::regex("\\son[a-z]+=\"")));
    return dom;
  }

  // A screenshot of the page at one viewport, kept as `dir`/`name`-<viewport>.png.
  void Screenshot(const std::string& url, const fs::path& dir, const std::string& name, const Viewport& vp) {
    fs::path png = dir / (name + "-" + vp.name + ".png");
    std::error_code ec;
    fs::remove(png, ec);
    int rc = Run({"--screenshot=" + png.string()}, url, work_ / "screenshot.out", vp);
    INFO("chromium --screenshot " << url << " exited " << rc << "; its log: " << Tail(work_ / "chromium.log"));
    CHECK(rc == 0);
    std::string data = ReadAll(png);
    // A PNG of the asked width (IHDR: big-endian width at byte 16).
    CHECK(data.size() > 24);
    if (data.size() <= 24) return;
    CHECK(data.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    uint32_t width = (static_cast<uint8_t>(data[16]) << 24) | (static_cast<uint8_t>(data[17]) << 16) |
                     (static_cast<uint8_t>(data[18]) << 8) | static_cast<uint8_t>(data[19]);
    CHECK(width == static_cast<uint32_t>(vp.width));
    CHECK(data.size() > 4000);  // not a blank page
  }

  static std::string Tail(const fs::path& p) {
    std::string s = ReadAll(p);
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

 private:
  fs::path binary_, work_;
  int runs_ = 0;
};

// Text with the markup removed and HTML's entities decoded.
std::string PlainText(const std::string& html) {
  std::string text = std::regex_replace(html, std::regex("<[^>]*>"), "");
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    static const std::pair<const char*, const char*> kEntities[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
    bool done = false;
    for (const auto& [entity, ch] : kEntities) {
      if (text.compare(i, std::strlen(entity), entity) == 0) {
        out += ch;
        i += std::strlen(entity) - 1;
        done = true;
        break;
      }
    }
    if (!done) out.push_back('&');
  }
  return out;
}

// The inner HTML of the first element matching `open_tag_regex` up to the
// first `close` after it ("" when absent).
std::string Section(const std::string& html, const std::string& open_tag_regex, const std::string& close) {
  std::smatch m;
  if (!std::regex_search(html, m, std::regex(open_tag_regex))) return "";
  size_t start = m.position(0) + m.length(0);
  size_t end = html.find(close, start);
  return html.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::vector<std::string> Rows(const std::string& table_body) {
  std::vector<std::string> rows;
  std::regex row("<tr[^>]*>([\\s\\S]*?)</tr>");
  for (auto it = std::sregex_iterator(table_body.begin(), table_body.end(), row); it != std::sregex_iterator(); ++it)
    rows.push_back((*it)[1]);
  return rows;
}

std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> cells;
  std::regex cell("<t[dh][^>]*>([\\s\\S]*?)</t[dh]>");
  for (auto it = std::sregex_iterator(row.begin(), row.end(), cell); it != std::sregex_iterator(); ++it)
    cells.push_back((*it)[1]);
  return cells;
}

std::string Attribute(const std::string& html, const std::string& tag_regex, const std::string& attr) {
  std::smatch m;
  if (!std::regex_search(html, m, std::regex(tag_regex))) return "";
  std::string tag = m.str(0);
  std::smatch a;
  if (!std::regex_search(tag, a, std::regex(attr + "=\"([^\"]*)\""))) return "";
  return PlainText(a.str(1));
}

}  // namespace

void CheckSiteInBrowser(const DemoRun& run) {
  fs::path chromium = FindChromium();
  INFO("Debian's chromium is needed for the browser check: scripts/setup installs it "
       "(apt-get install chromium)");
  CHECK(!chromium.empty());
  if (chromium.empty()) return;
  fs::path shots = run.output / "browser";
  fs::create_directories(shots);
  Browser browser(chromium, run.data / "browser");
  HttpClient http;
  auto api = [&](const std::string& path) {
    HttpResult r = http.Get(run.base + path, {{"Accept", "application/json"}});
    INFO("GET " << path << ": " << r.Describe());
    CHECK(r.ok());
    return nlohmann::json::parse(r.body, nullptr, false);
  };

  std::string py;
  for (const auto& [tag, p] : run.by_tag)
    if (p.implementation == "cpython" && p.python_version.rfind("3.", 0) == 0) py = p.Tag().PythonVersion();
  if (py.empty()) py = run.by_tag.begin()->second.Tag().PythonVersion();

  // A search answered: the home page's form, filled in, says yes or no in words.
  [&] {
    std::string home = browser.Dom(run.base + "/", "home");
    std::string form = Section(home, "<form[^>]*class=\"lookup-form\"[^>]*>", "</form>");
    ENSURE(!form.empty());
    std::string action = Attribute(home, "<form[^>]*class=\"lookup-form\"[^>]*>", "action");
    CHECK(Attribute(home, "<form[^>]*class=\"lookup-form\"[^>]*>", "method") == "get");
    for (const char* field : {"project", "os", "python"})
      CHECK(form.find(std::string("name=\"") + field + "\"") != std::string::npos);
    browser.Screenshot(run.base + "/", shots, "home", kDesktop);
    browser.Screenshot(run.base + "/", shots, "home", kPhone);

    // What the browser sends when the form is submitted with these values.
    struct Ask {
      const char* project;
      const char* word;
      const char* answer;
    };
    for (const Ask& ask : {Ask{"corral-demo-pure", "Yes", "yes"}, Ask{"corral-demo-badimport", "No", "no"}}) {
      std::string query = "project=" + UrlEncode(ask.project) + "&os=linux&python=" + UrlEncode(py) +
                          "&implementation=cpython";
      std::string url = run.base + action + "?" + query;
      std::string page = browser.Dom(url, std::string("answer-") + ask.project);
      INFO(url);
      std::string word = PlainText(Section(page, "<p class=\"word\">", "</p>"));
      CHECK(word == ask.word);
      nlohmann::json compat = api("/api/v1/compat?" + query);
      CHECK(compat.value("answer", "") == ask.answer);
      std::string sentence = PlainText(Section(page, "<p class=\"sentence\">", "</p>"));
      CHECK(sentence == compat.value("sentence", "?"));
      // The evidence: which verdicts, how many volunteers agreed.
      std::string evidence = Section(page, "<table class=\"evidence\">", "</table>");
      auto rows = Rows(Section(evidence, "<tbody>", "</tbody>"));
      ENSURE(rows.size() == compat["evidence"].size());
      ENSURE(!rows.empty());
      auto cells = Cells(rows[0]);
      ENSURE(cells.size() == 4);
      CHECK(PlainText(cells[3]) == std::to_string(compat["evidence"][0].value("agreeing", -1)));
      CHECK(std::stoi(PlainText(cells[3])) >= 2);
      browser.Screenshot(url, shots, std::string("answer-") + ask.project, kDesktop);
      browser.Screenshot(url, shots, std::string("answer-") + ask.project, kPhone);
    }
  }();

  // A matrix shown: one cell per version and platform, in words, linked to its verdict.
  [&] {
    const std::string project = "corral-demo-refcount";
    nlohmann::json matrix = api("/api/v1/projects/" + project);
    std::string url = run.base + "/projects/" + project;
    std::string page = browser.Dom(url, "project");
    std::string table = Section(page, "<table class=\"matrix\">", "</table>");
    ENSURE(!table.empty());
    auto rows = Rows(Section(table, "<tbody>", "</tbody>"));
    ENSURE(rows.size() == matrix["versions"].size());
    std::vector<std::string> columns = matrix["platforms"].get<std::vector<std::string>>();
    int cells_seen = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      std::vector<std::string> cells = Cells(rows[r]);
      ENSURE(cells.size() == columns.size() + 1);  // the version, then one per platform
      const nlohmann::json& version = matrix["versions"][r];
      CHECK(PlainText(cells[0]).rfind(version.value("version", "?"), 0) == 0);
      for (size_t c = 0; c < columns.size(); ++c) {
        INFO("version " << version.value("version", "") << ", " << columns[c]);
        const nlohmann::json& cell = version["cells"][columns[c]];
        std::string status = cell.value("status", "");
        CHECK(PlainText(cells[c + 1]).rfind(site::StatusText(status), 0) == 0);
        CHECK(cells[c + 1].find("href=\"/tasks/" + cell.value("task_id", "?") + "\"") != std::string::npos);
        ++cells_seen;
      }
    }
    CHECK(cells_seen >= 2);
    // Outcome in colour too: each cell carries its status class.
    CHECK(std::regex_search(page, std::regex("<td class=\"cell s-(passed|tests_failed)\"")));
    CHECK(page.find("class=\"badge\"") != std::string::npos);  // the README badge
    browser.Screenshot(url, shots, "project", kDesktop);
    browser.Screenshot(url, shots, "project", kPhone);
  }();

  // The leaderboard in order: ranks up, credit down, as the API ranks them.
  [&] {
    nlohmann::json board = api("/api/v1/leaderboard?window=all");
    std::string url = run.base + "/leaderboard?window=all";
    std::string page = browser.Dom(url, "leaderboard");
    auto rows = Rows(Section(Section(page, "<table class=\"volunteers\">", "</table>"), "<tbody>", "</tbody>"));
    ENSURE(rows.size() == board["volunteers"].size());
    ENSURE(rows.size() >= 2);  // alice's and bob's machines
    double previous = 1e300;
    for (size_t i = 0; i < rows.size(); ++i) {
      auto cells = Cells(rows[i]);
      ENSURE(cells.size() >= 6);
      CHECK(PlainText(cells[0]) == std::to_string(i + 1));
      double credit = std::stod(PlainText(cells[4]));
      CHECK(credit <= previous);
      previous = credit;
      CHECK(cells[1].find("/volunteers/" + board["volunteers"][i].value("volunteer_id", "?")) !=
            std::string::npos);
    }
    CHECK(std::stod(PlainText(Cells(rows[0])[4])) > 0);
    CHECK(page.find("aria-current=\"page\"") != std::string::npos);
    browser.Screenshot(url, shots, "leaderboard", kDesktop);
    browser.Screenshot(url, shots, "leaderboard", kPhone);
    // A volunteer's page and its account's, reached from the leaderboard.
    std::string vol_href = Attribute(rows[0], "<a href=\"/volunteers/[^\"]*\"", "href");
    std::string acc_href = Attribute(rows[0], "<a href=\"/accounts/[^\"]*\"", "href");
    ENSURE(!vol_href.empty());
    ENSURE(!acc_href.empty());
    std::string vol = browser.Dom(run.base + vol_href, "volunteer");
    CHECK(PlainText(vol).find("Verified results") != std::string::npos);
    std::string acc = browser.Dom(run.base + acc_href, "account");
    CHECK(acc.find("<table class=\"machines\">") != std::string::npos);
    browser.Screenshot(run.base + acc_href, shots, "account", kPhone);
  }();

  // A log opened: the verdict's page links each result's log, and the log is its text.
  [&] {
    nlohmann::json matrix = api("/api/v1/projects/corral-demo-refcount");
    std::string task_id;
    for (const auto& v : matrix["versions"])
      for (const auto& [tag, cell] : v["cells"].items())
        if (task_id.empty() && cell.value("status", "") == "tests_failed") task_id = cell.value("task_id", "");
    if (task_id.empty()) task_id = matrix["versions"][0]["cells"].begin().value().value("task_id", "");
    ENSURE(!task_id.empty());
    std::string url = run.base + "/tasks/" + task_id;
    std::string page = browser.Dom(url, "task");
    std::string text = PlainText(page);
    nlohmann::json task = api("/api/v1/tasks/" + task_id);
    CHECK(text.find(task.value("reproduce", "?")) != std::string::npos);
    CHECK(text.find("Agreeing volunteers") != std::string::npos);
    for (const auto& r : task["results"])
      if (r.value("outcome", "") == "tests_failed")
        for (const auto& t : r["failing_tests"]) CHECK(text.find(t.get<std::string>()) != std::string::npos);
    // How the suite ran, from the volunteer's signed result: the command,
    // where the test list came from, the first failure's traceback.
    bool shown_run = false;
    for (const auto& r : task["results"]) {
      const auto& tr = r.value("test_run", nlohmann::json::object());
      if (r.value("outcome", "") != "tests_failed" || tr.value("command", "").empty()) continue;
      shown_run = true;
      CHECK(text.find("How the suite ran") != std::string::npos);
      CHECK(page.find("suite-command") != std::string::npos);
      CHECK(text.find(tr.value("found_by", "?")) != std::string::npos);
      ENSURE(!tr["first_failures"].empty());
      CHECK(text.find(tr["first_failures"][0].value("id", "?")) != std::string::npos);
      CHECK(page.find("class=\"traceback\"") != std::string::npos);
    }
    CHECK(shown_run);
    browser.Screenshot(url, shots, "task", kDesktop);
    browser.Screenshot(url, shots, "task", kPhone);

    std::string href = Attribute(page, "<a class=\"log\"[^>]*>", "href");
    ENSURE(!href.empty());
    HttpResult log = http.Get(run.base + href);
    ENSURE(log.ok());
    ENSURE(!log.body.empty());
    std::string shown = PlainText(browser.Dom(run.base + href, "log"));
    // The browser shows the log itself (text/plain): its first line and its end.
    std::string first = log.body.substr(0, log.body.find('\n'));
    CHECK(!first.empty());
    CHECK(shown.find(first) != std::string::npos);
    std::string last = log.body.substr(log.body.size() > 200 ? log.body.size() - 200 : 0);
    last = last.substr(last.find('\n') == std::string::npos ? 0 : last.find('\n') + 1);
    CHECK(shown.find(last.substr(0, last.find('\n'))) != std::string::npos);
    browser.Screenshot(run.base + href, shots, "log", kDesktop);
  }();
}

}  // namespace corral
