#include "coordinator/simple_pages.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <set>

#include "common/pep440.h"
#include "leaderboard/site.h"

namespace corral::coordinator {

namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string Lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// One media range of an Accept header.
struct MediaRange {
  std::string type, subtype;
  double q = 1;
};

std::vector<MediaRange> ParseAccept(const std::string& accept) {
  std::vector<MediaRange> out;
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t comma = accept.find(',', pos);
    if (comma == std::string::npos) comma = accept.size();
    std::string item = accept.substr(pos, comma - pos);
    pos = comma + 1;
    size_t semi = item.find(';');
    std::string media = Lower(Trim(item.substr(0, semi)));
    size_t slash = media.find('/');
    if (media.empty() || slash == std::string::npos) continue;
    MediaRange r{Trim(media.substr(0, slash)), Trim(media.substr(slash + 1)), 1};
    while (semi != std::string::npos) {
      size_t next = item.find(';', semi + 1);
      std::string param = Lower(Trim(item.substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1)));
      if (param.rfind("q=", 0) == 0) {
        char* end = nullptr;
        double q = std::strtod(param.c_str() + 2, &end);
        r.q = end && *end == '\0' && q >= 0 && q <= 1 ? q : 0;
      }
      semi = next;
    }
    out.push_back(std::move(r));
  }
  return out;
}

// How well `range` matches type/subtype: 2 exactly, 1 type/*, 0 */*, -1 not.
int Specificity(const MediaRange& range, const std::string& type, const std::string& subtype) {
  if (range.type == "*" && range.subtype == "*") return 0;
  if (range.type != type) return -1;
  if (range.subtype == "*") return 1;
  return range.subtype == subtype ? 2 : -1;
}

std::string HrefAttrs(const WheelRecord& w) {
  std::string a = "<a href=\"" + site::HtmlEscape(SimpleWheelUrl(w)) + "#sha256=" + w.sha256 + "\"";
  if (!w.requires_python.empty())
    a += " data-requires-python=\"" + site::HtmlEscape(w.requires_python) + "\"";
  if (!w.metadata_sha256.empty())
    a += " data-dist-info-metadata=\"sha256=" + w.metadata_sha256 + "\" data-core-metadata=\"sha256=" +
         w.metadata_sha256 + "\"";
  return a + ">" + site::HtmlEscape(w.filename) + "</a>";
}

std::string Page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"" +
         std::string(kSimpleApiVersion) + "\">\n    <title>" + site::HtmlEscape(title) +
         "</title>\n  </head>\n  <body>\n    <h1>" + site::HtmlEscape(title) + "</h1>\n" + body +
         "  </body>\n</html>\n";
}

}  // namespace

SimpleFormat ChooseSimpleFormat(const std::string& accept, const std::string& format_param) {
  std::string wanted = format_param.empty() ? accept : format_param;
  if (Trim(wanted).empty()) return SimpleFormat::kHtml;
  struct Offer {
    SimpleFormat format;
    std::string type, subtype;
  };
  // In order of preference at equal quality for explicit types.
  const Offer offers[] = {
      {SimpleFormat::kJson, "application", "vnd.pypi.simple.v1+json"},
      {SimpleFormat::kJson, "application", "vnd.pypi.simple.latest+json"},
      {SimpleFormat::kVersionedHtml, "application", "vnd.pypi.simple.v1+html"},
      {SimpleFormat::kVersionedHtml, "application", "vnd.pypi.simple.latest+html"},
      {SimpleFormat::kHtml, "text", "html"},
  };
  std::vector<MediaRange> ranges = ParseAccept(wanted);
  SimpleFormat best = SimpleFormat::kNotAcceptable;
  double best_q = 0;
  int best_spec = -1;
  for (const Offer& o : offers) {
    // The most specific range matching the offer sets its quality.
    int spec = -1;
    double q = 0;
    for (const auto& r : ranges) {
      int s = Specificity(r, o.type, o.subtype);
      if (s > spec) spec = s, q = r.q;
    }
    if (spec < 0 || q <= 0) continue;
    bool better = q > best_q || (q == best_q && spec > best_spec) ||
                  // A bare */* is a browser or curl: give them text/html.
                  (q == best_q && spec == best_spec && spec == 0 && o.format == SimpleFormat::kHtml);
    if (better) best = o.format, best_q = q, best_spec = spec;
  }
  return best;
}

std::string SimpleContentType(SimpleFormat format) {
  switch (format) {
    case SimpleFormat::kJson: return kSimpleJsonType;
    case SimpleFormat::kVersionedHtml: return kSimpleHtmlType;
    default: return "text/html; charset=utf-8";
  }
}

std::string SimpleWheelUrl(const WheelRecord& wheel) { return "../../wheels/" + WheelPath(wheel); }

std::string Iso8601Micros(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
  return buf;
}

std::string SimpleRootHtml(const std::vector<SimpleProject>& projects) {
  std::string body;
  for (const auto& p : projects)
    body += "    <a href=\"" + site::HtmlEscape(p.name) + "/\">" +
            site::HtmlEscape(p.display_name.empty() ? p.name : p.display_name) + "</a><br/>\n";
  return Page("Simple index", body);
}

nlohmann::json SimpleRootJson(const std::vector<SimpleProject>& projects) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : projects) list.push_back({{"name", p.display_name.empty() ? p.name : p.display_name}});
  return {{"meta", {{"api-version", kSimpleApiVersion}}}, {"projects", list}};
}

std::string SimpleProjectHtml(const std::string& project, const std::vector<WheelRecord>& wheels) {
  std::string body;
  for (const auto& w : wheels) body += "    " + HrefAttrs(w) + "<br/>\n";
  return Page("Links for " + project, body);
}

nlohmann::json SimpleProjectJson(const std::string& project, const std::vector<WheelRecord>& wheels) {
  nlohmann::json files = nlohmann::json::array();
  std::vector<std::string> versions;
  std::set<std::string> seen;
  for (const auto& w : wheels) {
    nlohmann::json f = {{"filename", w.filename},
                        {"url", SimpleWheelUrl(w)},
                        {"hashes", {{"sha256", w.sha256}}},
                        {"size", w.size},
                        {"yanked", false}};
    if (!w.requires_python.empty()) f["requires-python"] = w.requires_python;
    if (!w.metadata_sha256.empty()) {
      // PEP 714's name only: pip 23.0 (Debian 12's) reads the older JSON key
      // "dist-info-metadata" as a string and crashes on the object PEP 691
      // gives it, which is why PEP 714 renamed the key.
      f["core-metadata"] = {{"sha256", w.metadata_sha256}};
    }
    if (w.published_at > 0) f["upload-time"] = Iso8601Micros(w.published_at);
    files.push_back(std::move(f));
    if (seen.insert(w.version).second) versions.push_back(w.version);
  }
  return {{"meta", {{"api-version", kSimpleApiVersion}}},
          {"name", project},
          {"versions", versions},
          {"files", files}};
}

}  // namespace corral::coordinator
