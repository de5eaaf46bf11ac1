#include "leaderboard/atom_feed.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/http_server.h"
#include "common/platform.h"
#include "leaderboard/site.h"

namespace corral::site {
namespace {

using json = nlohmann::json;

const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

long long Int(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_number() ? v.get<long long>() : 0;
}

std::string X(const std::string& s) { return HtmlEscape(s); }

std::string PlatformWords(const std::string& tag) {
  PlatformTag t;
  std::string err;
  if (!ParsePlatformTag(tag, &t, &err)) return tag;
  return (t.implementation == "pp" ? "PyPy " : "CPython ") + t.PythonVersion() + " on " + t.os +
         " (" + tag + ")";
}

}  // namespace

std::string Rfc3339(long long unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string RenderAtomFeed(const json& feed, const std::string& public_url,
                           const std::string& self_path) {
  std::string project = Str(feed, "project");
  const json& verdicts = Field(feed, "verdicts");
  long long updated = Int(feed, "updated");
  if (verdicts.is_array())
    for (const json& v : verdicts) updated = std::max(updated, Int(v, "decided_at"));
  std::string alternate = public_url + (project.empty() ? "/" : "/projects/" + UrlEncode(project));

  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n";
  out += "  <id>" + X(public_url + self_path) + "</id>\n";
  out += "  <title>" + X(project.empty() ? "Corral: new verdicts" : "Corral: " + project + " verdicts") +
         "</title>\n";
  out += "  <subtitle>" +
         X("Verdicts on which two volunteers of different accounts agreed, newest first; "
           "\"Regression\" marks a version that fails where the version before it passed.") +
         "</subtitle>\n";
  out += "  <updated>" + Rfc3339(updated) + "</updated>\n";
  out += "  <link rel=\"self\" type=\"application/atom+xml\" href=\"" + X(public_url + self_path) + "\"/>\n";
  out += "  <link rel=\"alternate\" type=\"text/html\" href=\"" + X(alternate) + "\"/>\n";
  out += "  <author><name>Corral</name><uri>" + X(public_url + "/") + "</uri></author>\n";
  out += "  <generator>Corral</generator>\n";
  if (verdicts.is_array()) {
    for (const json& v : verdicts) {
      std::string task = Str(v, "task_id"), status = Str(v, "status");
      std::string name = Str(v, "project") + " " + Str(v, "version");
      std::string where = PlatformWords(Str(v, "platform"));
      const json& reg = Field(v, "regression");
      bool regression = reg.is_boolean() && reg.get<bool>();
      std::string prev = Str(v, "previous_version"), prev_status = Str(v, "previous_status");
      const bool withdrawn = status == "withdrawn";
      std::string title = (regression ? "Regression: " : "") + name + " on " + where + ": " +
                          (withdrawn ? "verdict withdrawn (" + StatusText(Str(v, "withdrawn_status")) + ")"
                                     : StatusText(status));
      if (regression) title += " (" + prev + " " + StatusText(prev_status) + ")";
      std::string url = public_url + "/tasks/" + UrlEncode(task);
      std::string summary = StatusText(status);
      std::string detail = Str(v, "summary");
      if (withdrawn) {
        long long wheels = Int(v, "wheels_withdrawn");
        summary = "The verdict \"" + StatusText(Str(v, "withdrawn_status")) + "\" of " +
                  Rfc3339(Int(v, "withdrawn_decided_at")) + " was withdrawn: " + detail + "." +
                  (wheels > 0 ? " " + std::to_string(wheels) + " wheel(s) built for it were taken off /simple/."
                              : "");
      } else {
        if (!detail.empty()) summary += ": " + detail;
        summary += ". " + std::to_string(Int(v, "agreeing")) + " volunteers agreed.";
        if (!prev.empty())
          summary += " The version before it, " + prev + ", " +
                     (regression ? "passed" : "had the verdict " + StatusText(prev_status)) + " there.";
      }
      long long at = Int(v, "decided_at");
      out += "  <entry>\n";
      out += "    <id>" + X(url + (withdrawn ? "#withdrawn-" : "#decided-") + std::to_string(at)) + "</id>\n";
      out += "    <title>" + X(title) + "</title>\n";
      out += "    <updated>" + Rfc3339(at) + "</updated>\n";
      out += "    <link rel=\"alternate\" type=\"text/html\" href=\"" + X(url) + "\"/>\n";
      out += "    <category term=\"" + X(withdrawn ? "withdrawn" : StatusClass(status)) + "\"/>\n";
      if (regression) out += "    <category term=\"regression\"/>\n";
      out += "    <summary type=\"text\">" + X(summary) + "</summary>\n";
      out += "  </entry>\n";
    }
  }
  out += "</feed>\n";
  return out;
}

}  // namespace corral::site
