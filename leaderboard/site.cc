#include "leaderboard/site.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <kainjow/mustache.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>

#include "common/platform.h"
#include "leaderboard/badge.h"
#include "leaderboard/templates.h"

namespace corral::site {
namespace {

using json = nlohmann::json;
using Data = kainjow::mustache::data;
using List = kainjow::mustache::list;

// Statuses a cell can have, in legend order, with the words shown for them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kStatuses = {{
    {"passed", "passed"},
    {"no_tests", "no tests"},
    {"tests_unrunnable", "tests could not run"},
    {"tests_failed", "tests failed"},
    {"import_failed", "import failed"},
    {"install_failed", "install failed"},
    {"build_failed", "build failed"},
    {"timeout", "timed out"},
    {"resource_exhausted", "resources exhausted"},
    {"unsupported", "unsupported"},
    {"pending", "pending"},
    {"inconclusive", "inconclusive"},
    {"infra_error", "infrastructure error"},
    {"none", "not scheduled"},
}};

const json& Null() {
  static const json kNull;
  return kNull;
}

// j[key] when j is an object holding it; null otherwise. Never throws.
const json& Field(const json& j, std::string_view key) {
  if (!j.is_object()) return Null();
  auto it = j.find(key);
  return it == j.end() ? Null() : *it;
}

// A JSON value as the text a reader expects: strings as they are, numbers
// and booleans spelled out, an argv-like array joined by spaces, null empty.
std::string JsonText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  if (v.is_array()) {
    bool all_strings = true;
    for (const json& e : v) all_strings = all_strings && e.is_string();
    if (all_strings) {
      std::string out;
      for (const json& e : v) {
        if (!out.empty()) out += ' ';
        out += e.get<std::string>();
      }
      return out;
    }
  }
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Text(const json& j, std::string_view key) { return JsonText(Field(j, key)); }

// Unix seconds as "2026-11-23 10:42:06 UTC"; other values as text.
std::string UtcTime(const json& v) {
  if (!v.is_number_integer()) return JsonText(v);
  std::time_t t = static_cast<std::time_t>(v.get<int64_t>());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// A count: integers as they are, anything else "0".
std::string Count(const json& j, std::string_view key) {
  const json& v = Field(j, key);
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) return std::to_string(static_cast<long long>(v.get<double>()));
  return "0";
}

double Number(const json& v) { return v.is_number() ? v.get<double>() : 0.0; }

std::string Fixed1(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

std::string Seconds(const json& v) { return v.is_number() ? Fixed1(v.get<double>()) + " s" : "?"; }

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// Percent-encodes everything but RFC 3986's unreserved characters, so that
// a value can be one URL path segment or one query value.
std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Shorten(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(0, n) + "…";
}

// "CPython 3.11" for "cp311-linux_x86_64"; the tag itself when it is not one.
std::string PlatformLabel(const std::string& tag) {
  PlatformTag t;
  std::string err;
  if (!ParsePlatformTag(tag, &t, &err)) return tag;
  return (t.implementation == "pp" ? "PyPy " : "CPython ") + t.PythonVersion();
}

Data Bool(bool b) { return Data(b ? Data::type::bool_true : Data::type::bool_false); }

void SetStatus(Data* d, const std::string& status) {
  d->set("status_text", StatusText(status));
  d->set("status_class", StatusClass(status));
}

// Renders `tpl` with `d`, escaping through HtmlEscape. Compiled templates are
// kept per thread: kainjow's render is not const.
std::string Render(const char* tpl, const Data& d) {
  thread_local std::unordered_map<const char*, std::unique_ptr<kainjow::mustache::mustache>>
      cache;
  auto& compiled = cache[tpl];
  if (!compiled) {
    compiled = std::make_unique<kainjow::mustache::mustache>(std::string(tpl));
    compiled->set_custom_escape([](const std::string& s) { return HtmlEscape(s); });
  }
  if (!compiled->is_valid())
    return "<p>Internal error: page template invalid: " + HtmlEscape(compiled->error_message()) +
           "</p>";
  return compiled->render(d);
}

std::string Document(const std::string& title, const std::string& json_url,
                     const std::string& body) {
  Data d;
  d.set("title", title);
  d.set("content", body);
  d.set("has_json", Bool(!json_url.empty()));
  d.set("json_url", json_url);
  return Render(kLayoutTemplate, d);
}

// Rows of a key/value table from a JSON object (keys in JSON order) or array.
List KeyValueRows(const json& v) {
  List rows;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      Data row;
      row.set("key", it.key());
      row.set("value", JsonText(it.value()));
      rows.push_back(row);
    }
  } else if (v.is_array()) {
    for (const json& e : v) {
      Data row;
      row.set("key", JsonText(e));
      row.set("value", "");
      rows.push_back(row);
    }
  }
  return rows;
}

List StringList(const json& v) {
  List out;
  if (v.is_array())
    for (const json& e : v) out.push_back(Data(JsonText(e)));
  return out;
}

bool Flag(const json& j, std::string_view key) {
  const json& v = Field(j, key);
  return v.is_boolean() && v.get<bool>();
}

// Rows of an evidence table (GET /api/v1/compat "evidence").
List EvidenceRows(const json& ev) {
  List evidence;
  if (!ev.is_array()) return evidence;
  for (const json& e : ev) {
    Data row;
    row.set("version", Text(e, "version"));
    std::string platform = Text(e, "platform");
    row.set("platform", platform);
    row.set("platform_label", PlatformLabel(platform));
    SetStatus(&row, Text(e, "status"));
    std::string task = Text(e, "task_id");
    row.set("has_task", Bool(!task.empty()));
    row.set("task_path", UrlEncode(task));
    row.set("agreeing", Count(e, "agreeing"));
    evidence.push_back(row);
  }
  return evidence;
}

// Credit-like amounts with one decimal.
std::string Amount(const json& j, std::string_view key) { return Fixed1(Number(Field(j, key))); }

Data ProjectsSection(const json& projects_list, Data d) {
  List projects;
  const json& items = Field(projects_list, "projects");
  if (items.is_array()) {
    for (const json& p : items) {
      Data row;
      std::string name = Text(p, "project");
      row.set("name", name);
      row.set("path", UrlEncode(name));
      row.set("versions", Count(p, "versions"));
      row.set("verdicts", Count(p, "verdicts"));
      row.set("pending", Count(p, "pending"));
      projects.push_back(row);
    }
  }
  d.set("has_projects", Bool(!projects.empty()));
  d.set("projects", projects);
  const json& stats = Field(projects_list, "stats");
  d.set("has_stats", Bool(stats.is_object()));
  for (const char* key : {"projects", "tasks", "verdicts", "volunteers", "results"})
    d.set(std::string("stats_") + key, Count(stats, key));
  return d;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        case '\t': case '\n': case '\r': out.push_back(static_cast<char>(c)); break;
        default:
          if (c < 0x20 || c == 0x7F)
            out += kReplacement;
          else
            out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: copy it when well-formed (no overlong
    // forms, no surrogates, nothing above U+10FFFF), else one U+FFFD per byte.
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c == 0xED) len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    bool ok = len != 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      unsigned char min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
      ok = cc >= min && cc <= max;
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

std::string StatusText(std::string_view status) {
  for (const auto& [word, text] : kStatuses)
    if (word == status) return std::string(text);
  return status.empty() ? "unknown" : std::string(status);
}

std::string StatusClass(std::string_view status) {
  for (const auto& [word, text] : kStatuses)
    if (word == status) return std::string(word);
  return "unknown";
}

std::string RenderHome(const json& projects_list, const json* answer) {
  Data d;
  const json& a = answer ? *answer : Null();
  std::string os = answer ? Text(a, "os") : "";
  List os_options;
  for (const auto& [value, label] : std::array<std::pair<const char*, const char*>, 3>{
           {{"linux", "Linux"}, {"windows", "Windows"}, {"macos", "macOS"}}}) {
    Data opt;
    opt.set("value", value);
    opt.set("label", label);
    opt.set("selected", Bool(os == value));
    os_options.push_back(opt);
  }
  d.set("os_options", os_options);
  std::string project = Text(a, "project");
  d.set("form_project", project);
  d.set("form_python", Text(a, "python"));
  d.set("has_answer", Bool(answer != nullptr && answer->is_object()));

  std::string word = Text(a, "answer");
  bool known = word == "yes" || word == "no" || word == "unknown" || word == "unsupported";
  d.set("answer_class", known ? word : "unknown");
  std::string sentence = Text(a, "sentence");
  d.set("sentence", sentence.empty() ? "No answer for " + project + "." : sentence);
  std::string newest = Text(a, "newest_working_version");
  d.set("has_newest", Bool(!newest.empty()));
  d.set("newest", newest);
  d.set("has_project_link", Bool(!project.empty()));
  d.set("project", project);
  d.set("project_path", UrlEncode(project));

  List evidence = EvidenceRows(Field(a, "evidence"));
  d.set("has_evidence", Bool(!evidence.empty()));
  d.set("evidence", evidence);
  List newest_evidence = EvidenceRows(Field(a, "newest_working_evidence"));
  d.set("has_newest_evidence", Bool(!newest_evidence.empty()));
  d.set("newest_evidence", newest_evidence);
  static const std::array<std::pair<std::string_view, std::string_view>, 4> kWords = {{
      {"yes", "Yes"}, {"no", "No"}, {"unknown", "Unknown"}, {"unsupported", "Not supported by the package"}}};
  std::string answer_word = "Unknown";
  for (const auto& [w, text] : kWords)
    if (w == word) answer_word = std::string(text);
  d.set("answer_word", answer_word);
  std::string impl = Text(a, "implementation");
  List impl_options;
  for (const auto& [value, label] : std::array<std::pair<const char*, const char*>, 2>{
           {{"cpython", "CPython"}, {"pypy", "PyPy"}}}) {
    Data opt;
    opt.set("value", value);
    opt.set("label", label);
    opt.set("selected", Bool(impl == value));
    impl_options.push_back(opt);
  }
  d.set("impl_options", impl_options);
  // `corral lookup` asks about CPython.
  d.set("has_cli", Bool(impl != "pypy" && !project.empty()));
  d.set("cli", "corral lookup " + project + " --os " + (os.empty() ? "linux" : os) + " --python " +
                   Text(a, "python"));
  d = ProjectsSection(projects_list, std::move(d));

  std::string title = "Does it work?";
  std::string json_url = "/api/v1/projects";
  if (answer) {
    title = project + " on " + os + " with Python " + Text(a, "python");
    json_url = "/api/v1/compat?project=" + UrlEncode(project) + "&os=" + UrlEncode(os) +
               "&python=" + UrlEncode(Text(a, "python"));
  }
  return Document(title, json_url, Render(kHomeTemplate, d));
}

std::string RenderProject(const json& project, const std::string& public_url) {
  Data d;
  std::string name = Text(project, "project");
  Badge badge = BadgeForProject(project);
  d.set("badge_svg", RenderBadgeSvg(badge));
  std::string badge_path = "/badges/" + UrlEncode(name) + ".svg";
  d.set("badge_path", badge_path);
  d.set("badge_json_path", "/badges/" + UrlEncode(name) + ".json");
  d.set("feed_path", "/projects/" + UrlEncode(name) + "/feed.atom");
  d.set("badge_markdown", "[![corral](" + public_url + badge_path + ")](" + public_url + "/projects/" +
                              UrlEncode(name) + ")");
  d.set("project", name);
  std::string summary = Text(project, "summary");
  d.set("has_summary", Bool(!summary.empty()));
  d.set("summary", summary);

  std::vector<std::string> tags;
  List platforms;
  const json& cols = Field(project, "platforms");
  if (cols.is_array()) {
    for (const json& c : cols) {
      std::string tag = JsonText(c);
      tags.push_back(tag);
      Data col;
      col.set("tag", tag);
      col.set("label", PlatformLabel(tag));
      platforms.push_back(col);
    }
  }
  d.set("platforms", platforms);

  List versions;
  const json& rows = Field(project, "versions");
  if (rows.is_array()) {
    for (const json& r : rows) {
      Data row;
      row.set("version", Text(r, "version"));
      const json& yanked = Field(r, "yanked");
      row.set("yanked", Bool(yanked.is_boolean() && yanked.get<bool>()));
      std::string requires_python = Text(r, "requires_python");
      row.set("has_requires_python", Bool(!requires_python.empty()));
      row.set("requires_python", requires_python);
      List cells;
      const json& by_platform = Field(r, "cells");
      for (const std::string& tag : tags) {
        const json& cell = Field(by_platform, tag);
        Data c;
        SetStatus(&c, cell.is_object() ? Text(cell, "status") : "none");
        std::string task = Text(cell, "task_id");
        c.set("has_task", Bool(!task.empty()));
        c.set("task_path", UrlEncode(task));
        const json& n_results = Field(cell, "results");
        bool counts = n_results.is_number() && n_results.get<double>() > 0;
        c.set("has_counts", Bool(counts));
        c.set("agreeing", Count(cell, "agreeing"));
        c.set("results", Count(cell, "results"));
        std::string title = Text(cell, "summary");
        c.set("has_title", Bool(!title.empty()));
        c.set("title", title);
        cells.push_back(c);
      }
      row.set("cells", cells);
      versions.push_back(row);
    }
  }
  d.set("has_versions", Bool(!versions.empty()));
  d.set("versions", versions);

  List legend;
  for (const auto& [word, text] : kStatuses) {
    Data item;
    item.set("status_class", std::string(word));
    item.set("status_text", std::string(text));
    legend.push_back(item);
  }
  d.set("legend", legend);
  return Document(name, "/api/v1/projects/" + UrlEncode(name), Render(kProjectTemplate, d));
}

std::string RenderTask(const json& task) {
  Data d;
  std::string project = Text(task, "project");
  std::string version = Text(task, "version");
  std::string platform = Text(task, "platform");
  std::string task_id = Text(task, "task_id");
  d.set("project", project);
  d.set("project_path", UrlEncode(project));
  d.set("version", version);
  d.set("platform", platform);
  d.set("platform_label", PlatformLabel(platform));
  d.set("task_id", task_id);
  SetStatus(&d, Text(task, "status"));
  std::string summary = Text(task, "summary");
  d.set("has_summary", Bool(!summary.empty()));
  d.set("summary", summary);
  std::string filename = Text(task, "filename"), sha256 = Text(task, "sha256");
  d.set("has_filename", Bool(!filename.empty()));
  d.set("filename", filename);
  d.set("has_sha256", Bool(!sha256.empty()));
  d.set("sha256", sha256);
  std::string evidence = Text(task, "evidence");
  d.set("has_evidence", Bool(!evidence.empty()));
  d.set("evidence", evidence);
  std::string reproduce = Text(task, "reproduce");
  d.set("reproduce", reproduce.empty() ? "corral reproduce " + task_id : reproduce);

  List results;
  const json& rs = Field(task, "results");
  if (rs.is_array()) {
    size_t index = 0;
    for (const json& r : rs) {
      Data row;
      row.set("index", std::to_string(++index));
      std::string volunteer_id = Text(r, "volunteer_id");
      std::string volunteer_name = Text(r, "volunteer_name");
      row.set("volunteer_id", volunteer_id);
      row.set("volunteer_path", UrlEncode(volunteer_id));
      row.set("volunteer_name", volunteer_name.empty() ? volunteer_id : volunteer_name);
      std::string account_name = Text(r, "account_name");
      row.set("account", account_name.empty() ? Text(r, "account")
                                              : account_name + " (" + Shorten(Text(r, "account"), 16) + ")");
      row.set("has_account_path", Bool(!Text(r, "account").empty()));
      row.set("account_path", UrlEncode(Text(r, "account")));
      SetStatus(&row, Text(r, "outcome"));
      std::string rsummary = Text(r, "summary");
      row.set("has_summary", Bool(!rsummary.empty()));
      row.set("summary", rsummary);

      const json& agrees = Field(r, "agrees");
      row.set("has_agrees", Bool(agrees.is_boolean()));
      bool agree = agrees.is_boolean() && agrees.get<bool>();
      row.set("agree_class", agree ? "yes" : "no");
      row.set("agree_text", agree ? "agrees with the verdict" : "disagrees with the verdict");

      const json& tests = Field(r, "tests");
      row.set("has_tests", Bool(tests.is_object()));
      for (const char* key : {"passed", "failed", "errors", "skipped"})
        row.set(std::string("tests_") + key, Count(tests, key));

      const json& durations = Field(r, "durations");
      row.set("has_durations", Bool(durations.is_object()));
      for (const char* key : {"build_s", "test_s", "total_s"})
        row.set(key, Seconds(Field(durations, key)));

      const json& wheel = Field(r, "wheel");
      row.set("has_wheel", Bool(wheel.is_object() && !Text(wheel, "sha256").empty()));
      row.set("wheel_filename", Text(wheel, "filename"));
      row.set("wheel_sha256", Text(wheel, "sha256"));
      row.set("wheel_content_digest", Text(wheel, "content_digest"));

      std::string isolation = Text(r, "isolation");
      row.set("isolation", isolation.empty() ? "not reported" : isolation);
      std::string log = Text(r, "log_sha256");
      row.set("has_log", Bool(!log.empty()));
      row.set("log_path", UrlEncode(log));
      row.set("log_short", Shorten(log, 12));
      std::string received = UtcTime(Field(r, "received_at"));
      row.set("has_received", Bool(!received.empty()));
      row.set("received_at", received);

      List failing = StringList(Field(r, "failing_tests"));
      row.set("has_failing", Bool(!failing.empty()));
      row.set("failing_tests", failing);
      // How the suite ran: what a maintainer needs to trust the verdict.
      const json& run = Field(r, "test_run");
      List not_run = StringList(Field(run, "not_run")), flaky = StringList(Field(run, "flaky"));
      row.set("tests_not_run", std::to_string(not_run.size()));
      row.set("tests_flaky", std::to_string(flaky.size()));
      std::string suite_command = Text(run, "command"), found_by = Text(run, "found_by"),
                  degraded = Text(run, "degraded"), runner = Text(run, "runner");
      List requirements = StringList(Field(run, "requirements")),
           missing = StringList(Field(run, "requirements_missing"));
      List first_failures;
      const json& ff = Field(run, "first_failures");
      if (ff.is_array())
        for (const json& f : ff) {
          Data one;
          one.set("id", Text(f, "id"));
          one.set("text", Text(f, "text"));
          first_failures.push_back(one);
        }
      row.set("has_test_run", Bool(!suite_command.empty() || !found_by.empty()));
      row.set("suite_runner", runner.empty() ? "none" : runner);
      row.set("suite_command", suite_command);
      row.set("has_found_by", Bool(!found_by.empty()));
      row.set("found_by", found_by);
      row.set("has_degraded", Bool(!degraded.empty()));
      row.set("degraded", degraded);
      row.set("has_test_requirements", Bool(!requirements.empty()));
      row.set("test_requirements", requirements);
      row.set("has_requirements_missing", Bool(!missing.empty()));
      row.set("requirements_missing", missing);
      row.set("has_not_run", Bool(!not_run.empty()));
      row.set("not_run", not_run);
      row.set("has_flaky", Bool(!flaky.empty()));
      row.set("flaky", flaky);
      row.set("has_first_failures", Bool(!first_failures.empty()));
      row.set("first_failures", first_failures);
      List commands = StringList(Field(r, "commands"));
      row.set("has_commands", Bool(!commands.empty()));
      row.set("commands", commands);
      List platform_rows = KeyValueRows(Field(r, "platform"));
      row.set("has_platform", Bool(!platform_rows.empty()));
      row.set("platform_rows", platform_rows);
      List env_rows = KeyValueRows(Field(r, "environment"));
      row.set("has_environment", Bool(!env_rows.empty()));
      row.set("environment_rows", env_rows);
      results.push_back(row);
    }
  }
  List agreeing;
  if (rs.is_array()) {
    for (const json& r : rs) {
      if (!Flag(r, "agrees")) continue;
      Data who;
      std::string id = Text(r, "volunteer_id"), vname = Text(r, "volunteer_name");
      std::string account = Text(r, "account_name");
      who.set("volunteer_path", UrlEncode(id));
      who.set("volunteer_name", vname.empty() ? Shorten(id, 16) : vname);
      who.set("account", account.empty() ? Shorten(Text(r, "account"), 16) : account);
      who.set("last", Bool(false));
      agreeing.push_back(who);
    }
  }
  if (!agreeing.empty()) agreeing.back().set("last", Bool(true));
  d.set("has_agreeing", Bool(!agreeing.empty()));
  d.set("agreeing", agreeing);
  d.set("result_count", std::to_string(results.size()));
  d.set("has_results", Bool(!results.empty()));
  d.set("results", results);
  return Document(project + " " + version + " on " + PlatformLabel(platform),
                  "/api/v1/tasks/" + UrlEncode(task_id), Render(kTaskTemplate, d));
}

std::string RenderLeaderboard(const json& leaderboard) {
  Data d;
  std::string window = Text(leaderboard, "window");
  if (window != "day" && window != "week") window = "all";
  List windows;
  for (const auto& [value, label] : std::array<std::pair<const char*, const char*>, 3>{
           {{"day", "Last day"}, {"week", "Last week"}, {"all", "All time"}}}) {
    Data w;
    w.set("value", value);
    w.set("label", label);
    w.set("current", Bool(window == value));
    windows.push_back(w);
  }
  d.set("windows", windows);
  d.set("window_text", window == "day"    ? "Credit and verified results of the last 24 hours."
                       : window == "week" ? "Credit and verified results of the last 7 days."
                                          : "Credit and verified results since the start.");
  const json& totals = Field(leaderboard, "totals");
  d.set("totals", totals.is_object()
                      ? Count(totals, "volunteers") + " volunteers, " + Count(totals, "accounts") +
                            " accounts, " + Count(totals, "suspended") + " suspended for cheating."
                      : std::string());

  // The interpreter part of each tag ("cp311") keeps a row short; the
  // volunteer's page has the full tags.
  auto short_tags = [](const json& tags) {
    List platforms;
    if (tags.is_array())
      for (const json& t : tags)
        if (t.is_string()) platforms.push_back(t.get<std::string>().substr(0, t.get<std::string>().find('-')));
    return platforms;
  };
  auto rank = [](const json& row) {
    const json& r = Field(row, "rank");
    return r.is_number() ? Count(row, "rank") : std::string("-");
  };

  List volunteers;
  const json& vs = Field(leaderboard, "volunteers");
  if (vs.is_array()) {
    for (const json& v : vs) {
      Data row;
      row.set("rank", rank(v));
      std::string id = Text(v, "volunteer_id"), name = Text(v, "name");
      row.set("path", UrlEncode(id));
      row.set("name", name.empty() ? Shorten(id, 16) : name);
      std::string account_name = Text(v, "account_name");
      row.set("account", account_name.empty() ? Shorten(Text(v, "account"), 16) : account_name);
      row.set("account_path", UrlEncode(Text(v, "account")));
      row.set("verified_results", Count(v, "verified_results"));
      row.set("credit", Amount(v, "credit"));
      row.set("recent_average_credit", Amount(v, "recent_average_credit"));
      row.set("cheaters_exposed", Count(v, "cheaters_exposed"));
      row.set("bounty", Amount(v, "bounty"));
      row.set("suspended", Bool(Flag(v, "suspended")));
      row.set("suspended_reason", Text(v, "suspended_reason"));
      row.set("platforms", short_tags(Field(v, "platforms")));
      volunteers.push_back(row);
    }
  }
  d.set("has_volunteers", Bool(!volunteers.empty()));
  d.set("volunteers", volunteers);

  List accounts;
  const json& as = Field(leaderboard, "accounts");
  if (as.is_array()) {
    for (const json& a : as) {
      Data row;
      row.set("rank", rank(a));
      std::string account = Text(a, "account"), name = Text(a, "name");
      row.set("name", name.empty() ? Shorten(account, 16) : name);
      row.set("show_id", Bool(!name.empty() && name != account));
      row.set("account", account);
      row.set("account_short", Shorten(account, 16));
      row.set("path", UrlEncode(account));
      row.set("machines", Count(a, "machines"));
      row.set("verified_results", Count(a, "verified_results"));
      row.set("credit", Amount(a, "credit"));
      row.set("recent_average_credit", Amount(a, "recent_average_credit"));
      row.set("cheaters_exposed", Count(a, "cheaters_exposed"));
      row.set("bounty", Amount(a, "bounty"));
      row.set("suspended", Bool(Flag(a, "suspended")));
      accounts.push_back(row);
    }
  }
  d.set("has_accounts", Bool(!accounts.empty()));
  d.set("accounts", accounts);

  List cheaters;
  const json& cs = Field(leaderboard, "cheaters");
  if (cs.is_array()) {
    for (const json& c : cs) {
      Data row;
      std::string id = Text(c, "volunteer_id"), name = Text(c, "name");
      row.set("path", UrlEncode(id));
      row.set("name", name.empty() ? Shorten(id, 16) : name);
      std::string account_name = Text(c, "account_name");
      row.set("account", account_name.empty() ? Shorten(Text(c, "account"), 16) : account_name);
      row.set("account_path", UrlEncode(Text(c, "account")));
      row.set("suspended_at", UtcTime(Field(c, "suspended_at")));
      row.set("reason", Text(c, "suspended_reason"));
      row.set("clawed_back", Amount(c, "clawed_back"));
      cheaters.push_back(row);
    }
  }
  d.set("has_cheaters", Bool(!cheaters.empty()));
  d.set("cheaters", cheaters);
  return Document("Leaderboard", "/api/v1/leaderboard?window=" + UrlEncode(window),
                  Render(kLeaderboardTemplate, d));
}

// What a volunteer's and an account's page both show: results, credit,
// cheaters exposed, bounty, claw-back and suspension.
static void SetStanding(Data* d, const json& who) {
  d->set("verified_results", Count(who, "verified_results"));
  d->set("credit", Amount(who, "credit"));
  d->set("recent_average_credit", Amount(who, "recent_average_credit"));
  d->set("cheaters_exposed", Count(who, "cheaters_exposed"));
  d->set("bounty", Amount(who, "bounty"));
  double clawed = Number(Field(who, "clawed_back"));
  d->set("has_clawed_back", Bool(clawed != 0));
  d->set("clawed_back", Fixed1(clawed));
  d->set("suspended", Bool(Flag(who, "suspended")));
  std::string reason = Text(who, "suspended_reason");
  d->set("has_reason", Bool(!reason.empty()));
  d->set("reason", reason);
  // Standing (issue 17): "trusted" by the operator, "established" by
  // independent validation, "newcomer".
  std::string standing = Text(who, "standing");
  d->set("trusted", Bool(standing == "trusted" || Flag(who, "trusted")));
  d->set("established", Bool(standing == "established"));
  d->set("newcomer", Bool(standing == "newcomer"));
}

std::string RenderVolunteer(const json& volunteer) {
  Data d;
  std::string id = Text(volunteer, "volunteer_id"), name = Text(volunteer, "name");
  d.set("volunteer_id", id);
  d.set("name", name.empty() ? Shorten(id, 16) : name);
  std::string account = Text(volunteer, "account"), account_name = Text(volunteer, "account_name");
  d.set("has_account", Bool(!account.empty()));
  d.set("account", account_name.empty() ? account : account_name + " (" + Shorten(account, 16) + ")");
  d.set("account_path", UrlEncode(account));
  const json& enrolled = Field(volunteer, "enrolled_at");
  d.set("has_enrolled", Bool(enrolled.is_number() && enrolled.get<double>() > 0));
  d.set("enrolled_at", UtcTime(enrolled));
  SetStanding(&d, volunteer);
  const json& at = Field(volunteer, "suspended_at");
  d.set("has_suspended_at", Bool(at.is_number() && at.get<double>() > 0));
  d.set("suspended_at", UtcTime(at));
  List platforms;
  const json& ps = Field(volunteer, "platforms");
  if (ps.is_array()) {
    for (const json& p : ps) {
      Data item;
      std::string tag = JsonText(p);
      item.set("tag", tag);
      item.set("label", PlatformLabel(tag));
      platforms.push_back(item);
    }
  }
  d.set("has_platforms", Bool(!platforms.empty()));
  d.set("platforms", platforms);

  List results;
  const json& rs = Field(volunteer, "recent_results");
  if (rs.is_array()) {
    for (const json& r : rs) {
      Data row;
      std::string task = Text(r, "task_id"), project = Text(r, "project");
      row.set("task_path", UrlEncode(task));
      row.set("task_short", Shorten(task, 12));
      row.set("project", project);
      row.set("project_path", UrlEncode(project));
      row.set("version", Text(r, "version"));
      std::string platform = Text(r, "platform");
      row.set("platform", platform);
      row.set("platform_label", PlatformLabel(platform));
      SetStatus(&row, Text(r, "outcome"));
      const json& agrees = Field(r, "agrees");
      bool agree = agrees.is_boolean() && agrees.get<bool>();
      row.set("agree_class", agrees.is_boolean() ? (agree ? "yes" : "no") : "unknown");
      row.set("agree_text", agrees.is_boolean() ? (agree ? "yes" : "no") : "not yet known");
      results.push_back(row);
    }
  }
  d.set("has_results", Bool(!results.empty()));
  d.set("results", results);
  return Document(name.empty() ? id : name, id.empty() ? "" : "/api/v1/volunteers/" + UrlEncode(id),
                  Render(kVolunteerTemplate, d));
}

std::string RenderAccount(const json& account) {
  Data d;
  std::string key = Text(account, "account"), name = Text(account, "name");
  d.set("account", key);
  d.set("name", name.empty() ? Shorten(key, 16) : name);
  const json& created = Field(account, "created_at");
  d.set("has_created", Bool(created.is_number() && created.get<double>() > 0));
  d.set("created_at", UtcTime(created));
  SetStanding(&d, account);
  d.set("flagged", Bool(Flag(account, "flagged")));
  List machines;
  const json& ms = Field(account, "machines");
  if (ms.is_array()) {
    for (const json& m : ms) {
      Data row;
      std::string id = Text(m, "volunteer_id"), mname = Text(m, "name");
      row.set("path", UrlEncode(id));
      row.set("name", mname.empty() ? Shorten(id, 16) : mname);
      row.set("verified_results", Count(m, "verified_results"));
      row.set("credit", Amount(m, "credit"));
      row.set("recent_average_credit", Amount(m, "recent_average_credit"));
      row.set("cheaters_exposed", Count(m, "cheaters_exposed"));
      row.set("bounty", Amount(m, "bounty"));
      row.set("suspended", Bool(Flag(m, "suspended")));
      row.set("suspended_reason", Text(m, "suspended_reason"));
      List tags;
      const json& ts = Field(m, "platforms");
      if (ts.is_array())
        for (const json& t : ts) tags.push_back(Data(JsonText(t)));
      row.set("platforms", tags);
      machines.push_back(row);
    }
  }
  d.set("machine_count", std::to_string(machines.size()));
  d.set("has_machines", Bool(!machines.empty()));
  d.set("machines", machines);
  return Document(name.empty() ? "Account" : name, key.empty() ? "" : "/api/v1/accounts/" + UrlEncode(key),
                  Render(kAccountTemplate, d));
}

std::string RenderNotFound(const std::string& what) {
  Data d;
  d.set("what", what);
  return Document("Not found", "", Render(kNotFoundTemplate, d));
}

}  // namespace corral::site
