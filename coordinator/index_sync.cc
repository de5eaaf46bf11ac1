#include "coordinator/index_sync.h"

#include <cctype>
#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/http_server.h"
#include "common/names.h"
#include "common/pep440.h"
#include "common/protocol.h"
#include "coordinator/simple_html.h"

namespace corral::coordinator {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// At most 80 characters of untrusted text, for a log line.
std::string Excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80))
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  if (s.size() > 80) out += "...";
  return out;
}

bool ParseInt64(std::string_view s, int64_t* out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// PEP 629: a major version other than 1 is a format this code cannot read.
bool CheckApiVersion(const std::string& version, std::string* err) {
  if (version.empty()) return true;
  size_t dot = version.find('.');
  if (version.substr(0, dot) == "1") return true;
  *err = "the index speaks simple API version " + Excerpt(version) +
         "; this coordinator reads major version 1 only (PEP 629)";
  return false;
}

// The media type of a Content-Type header, lower case, without parameters.
std::string MediaType(const std::string& content_type) {
  std::string t = Lower(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  while (!t.empty() && t.front() == ' ') t.erase(0, 1);
  return t;
}

enum class Format { kJson, kHtml, kOther };

Format FormatOf(const std::string& media_type) {
  if (media_type == "application/vnd.pypi.simple.v1+json") return Format::kJson;
  if (media_type == "application/vnd.pypi.simple.v1+html" || media_type == "text/html")
    return Format::kHtml;
  return Format::kOther;
}

// Checks a file entry common to both formats and fills version and kind.
// Returns "" when the file is usable, the reason it is left out otherwise;
// *ignore is set for files that are simply not inputs (eggs, installers).
std::string CheckFile(const std::string& project, const IndexLimits& limits, IndexFile* f,
                      bool* ignore) {
  *ignore = false;
  if (f->filename.empty()) return "it has no file name";
  if (f->filename.size() > limits.max_filename_bytes)
    return "its name is longer than " + std::to_string(limits.max_filename_bytes) + " bytes";
  for (char c : f->filename)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return "its name has a slash or a control character";
  std::string version, kind;
  bool wheel = EndsWith(f->filename, ".whl");
  bool sdist = false;
  for (const char* ext : {".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz"})
    sdist = sdist || EndsWith(f->filename, ext);
  if (!wheel && !sdist) {
    *ignore = true;  // .egg, .exe, .msi, .rpm: not something Corral builds
    return "not an sdist or a wheel";
  }
  if (!SplitDistributionFilename(f->filename, project, &version, &kind))
    return "its name does not belong to project '" + project + "'";
  Version v;
  std::string verr;
  if (!ParseVersion(version, &v, &verr))
    return "its version '" + Excerpt(version) + "' is not a PEP 440 version";
  f->version = NormalizeVersion(v);
  f->kind = kind;
  if (f->url.empty()) return "it has no URL";
  for (char& c : f->sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (f->sha256.empty())
    return "it has no sha256 hash (the coordinator needs it to check volunteers' inputs)";
  if (!IsSha256Hex(f->sha256)) return "its sha256 is not 64 hex digits";
  if (f->size < 0 || f->size > limits.max_file_size)
    return "its size " + std::to_string(f->size) + " is absurd (limit " +
           std::to_string(limits.max_file_size) + " bytes)";
  return "";
}

// Adds a checked file to the page unless its name was seen already.
void AddFile(const std::string& project, const IndexLimits& limits, IndexFile f,
             std::set<std::string>* seen, IndexPage* out) {
  bool ignore = false;
  std::string why = CheckFile(project, limits, &f, &ignore);
  if (ignore) return;
  if (!why.empty()) {
    out->problems.push_back("file '" + Excerpt(f.filename) + "' skipped: " + why);
    return;
  }
  if (!seen->insert(f.filename).second) {
    out->problems.push_back("file '" + Excerpt(f.filename) +
                            "' skipped: listed twice on the page");
    return;
  }
  out->files.push_back(std::move(f));
}

// Root entries: valid names only, one per normalised name (the first listed;
// the index serves one page for them, whose serial is the first entry's).
void AddRootProject(IndexProject p, std::map<std::string, size_t>* by_name, IndexRoot* out) {
  if (!IsValidProjectName(p.name)) {
    out->problems.push_back("project '" + Excerpt(p.name) +
                            "' skipped: not a valid project name");
    return;
  }
  std::string normalised = NormalizeProjectName(p.name);
  auto [it, fresh] = by_name->emplace(normalised, out->projects.size());
  if (!fresh) {
    IndexProject& first = out->projects[it->second];
    out->problems.push_back("project '" + Excerpt(p.name) + "' skipped: it normalises to '" +
                            normalised + "', like '" + first.name +
                            "' listed before it; one project is synced under that name");
    return;
  }
  out->projects.push_back(std::move(p));
}

// PEP 658/714: false, true, or {"sha256": ...}.
void ReadCoreMetadata(const nlohmann::json& v, IndexFile* f) {
  if (v.is_boolean()) {
    f->core_metadata = v.get<bool>();
  } else if (v.is_object()) {
    f->core_metadata = true;
    auto s = v.find("sha256");
    if (s != v.end() && s->is_string()) {
      std::string hex = Lower(s->get<std::string>());
      if (IsSha256Hex(hex)) f->core_metadata_sha256 = hex;
    }
  }
}

// The HTML form: "true", or "sha256=<hex>".
void ReadCoreMetadataAttr(const std::string& value, IndexFile* f) {
  f->core_metadata = true;
  if (value.rfind("sha256=", 0) == 0) {
    std::string hex = Lower(value.substr(7));
    if (IsSha256Hex(hex)) f->core_metadata_sha256 = hex;
  } else if (value == "false") {
    f->core_metadata = false;
  }
}

}  // namespace

bool SplitDistributionFilename(const std::string& filename, const std::string& project,
                               std::string* version, std::string* kind) {
  std::string stem;
  if (EndsWith(filename, ".whl")) {
    stem = filename.substr(0, filename.size() - 4);
    size_t d1 = stem.find('-');
    if (d1 == std::string::npos) return false;
    size_t d2 = stem.find('-', d1 + 1);
    if (d2 == std::string::npos) return false;
    if (NormalizeProjectName(stem.substr(0, d1)) != project) return false;
    *version = stem.substr(d1 + 1, d2 - d1 - 1);
    *kind = "wheel";
    return !version->empty();
  }
  for (const char* ext : {".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz"}) {
    if (EndsWith(filename, ext)) {
      stem = filename.substr(0, filename.size() - std::string(ext).size());
      // Names may contain '-' in old sdists; versions (normalised) do not.
      size_t dash = stem.rfind('-');
      if (dash == std::string::npos || dash == 0) return false;
      if (NormalizeProjectName(stem.substr(0, dash)) != project) return false;
      *version = stem.substr(dash + 1);
      *kind = "sdist";
      return !version->empty();
    }
  }
  return false;
}

bool ParseIndexRoot(const nlohmann::json& root, IndexRoot* out, std::string* err) {
  if (!root.is_object() || !root.contains("projects") || !root["projects"].is_array()) {
    *err = "the index root is not a PEP 691 document: expected {\"projects\": [...]}";
    return false;
  }
  auto meta = root.find("meta");
  if (meta != root.end() && meta->is_object()) {
    auto v = meta->find("api-version");
    if (v != meta->end() && v->is_string() && !CheckApiVersion(v->get<std::string>(), err))
      return false;
    auto s = meta->find("_last-serial");
    if (s != meta->end() && s->is_number_integer()) out->last_serial = s->get<int64_t>();
  }
  out->format = "json";
  std::map<std::string, size_t> by_name;
  size_t index = 0;
  for (const auto& p : root["projects"]) {
    ++index;
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
      out->problems.push_back("root entry #" + std::to_string(index) +
                              " skipped: it has no string 'name'");
      continue;
    }
    IndexProject ip;
    ip.name = p["name"].get<std::string>();
    auto s = p.find("_last-serial");
    if (s != p.end() && s->is_number_integer() && s->get<int64_t>() >= 0)
      ip.last_serial = s->get<int64_t>();
    AddRootProject(std::move(ip), &by_name, out);
  }
  return true;
}

bool ParseIndexRootHtml(std::string_view html, IndexRoot* out, std::string* err) {
  SimpleHtmlPage page = ParseSimpleHtml(html);
  if (!CheckApiVersion(page.repository_version, err)) return false;
  out->format = "html";
  std::map<std::string, size_t> by_name;
  for (const auto& a : page.anchors) {
    // The text is the name; the href ("name/") is only a link to it.
    IndexProject ip;
    ip.name = a.text;
    AddRootProject(std::move(ip), &by_name, out);
  }
  return true;
}

bool ParseIndexProject(const std::string& page_url, const std::string& project,
                       const nlohmann::json& page, IndexPage* out, std::string* err,
                       const IndexLimits& limits) {
  if (!page.is_object() || !page.contains("files") || !page["files"].is_array()) {
    *err = "the page is not a PEP 691 project document: expected {\"files\": [...]}";
    return false;
  }
  auto meta = page.find("meta");
  if (meta != page.end() && meta->is_object()) {
    auto v = meta->find("api-version");
    if (v != meta->end() && v->is_string() && !CheckApiVersion(v->get<std::string>(), err))
      return false;
    auto s = meta->find("_last-serial");
    if (s != meta->end() && s->is_number_integer() && out->serial < 0)
      out->serial = s->get<int64_t>();
  }
  auto name = page.find("name");
  if (name != page.end() && name->is_string() &&
      NormalizeProjectName(name->get<std::string>()) != project) {
    *err = "the page is for project '" + Excerpt(name->get<std::string>()) + "', not '" +
           project + "'";
    return false;
  }
  if (page["files"].size() > limits.max_files_per_page) {
    *err = "the page lists " + std::to_string(page["files"].size()) + " files, more than the " +
           std::to_string(limits.max_files_per_page) + " this coordinator accepts";
    return false;
  }
  out->format = "json";
  std::set<std::string> seen;
  size_t index = 0;
  for (const auto& f : page["files"]) {
    ++index;
    if (!f.is_object() || !f.contains("filename") || !f["filename"].is_string()) {
      out->problems.push_back("file #" + std::to_string(index) +
                              " skipped: it has no string 'filename'");
      continue;
    }
    IndexFile file;
    file.filename = f["filename"].get<std::string>();
    auto str = [&](const char* key) -> std::string {
      auto it = f.find(key);
      return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string url = str("url");
    if (!url.empty()) file.url = ResolveUrl(page_url, url);
    auto hashes = f.find("hashes");
    if (hashes != f.end() && hashes->is_object()) {
      auto sha = hashes->find("sha256");
      if (sha != hashes->end() && sha->is_string()) file.sha256 = sha->get<std::string>();
    }
    auto size = f.find("size");
    if (size != f.end() && !size->is_null()) {
      if (size->is_number_integer()) {
        file.size = size->get<int64_t>();
      } else if (size->is_number_unsigned() || size->is_number_float()) {
        file.size = -1;  // beyond int64, or fractional: absurd either way
      }
    }
    file.requires_python = str("requires-python");
    auto y = f.find("yanked");
    if (y != f.end()) {
      if (y->is_boolean()) {
        file.yanked = y->get<bool>();
      } else if (y->is_string()) {
        file.yanked = true;
        file.yanked_reason = y->get<std::string>();
      }
    }
    file.upload_time = str("upload-time");
    auto cm = f.find("core-metadata");
    if (cm == f.end()) cm = f.find("dist-info-metadata");  // PEP 691's name before PEP 714
    if (cm == f.end()) cm = f.find("data-dist-info-metadata");
    if (cm != f.end()) ReadCoreMetadata(*cm, &file);
    AddFile(project, limits, std::move(file), &seen, out);
  }
  return true;
}

bool ParseIndexProjectHtml(const std::string& page_url, const std::string& project,
                           std::string_view html, IndexPage* out, std::string* err,
                           const IndexLimits& limits) {
  size_t dropped = 0;
  SimpleHtmlPage page = ParseSimpleHtml(html, limits.max_files_per_page, &dropped);
  if (!CheckApiVersion(page.repository_version, err)) return false;
  if (dropped > 0) {
    *err = "the page lists more than " + std::to_string(limits.max_files_per_page) +
           " files, more than this coordinator accepts";
    return false;
  }
  out->format = "html";
  std::set<std::string> seen;
  for (const auto& a : page.anchors) {
    IndexFile file;
    std::string href = a.Attr("href");
    std::string fragment;
    size_t hash = href.find('#');
    if (hash != std::string::npos) {
      fragment = href.substr(hash + 1);
      href.resize(hash);
    }
    if (!href.empty()) file.url = ResolveUrl(page_url, href);
    if (fragment.rfind("sha256=", 0) == 0) file.sha256 = fragment.substr(7);
    // PEP 503: the text is the file name; fall back to the URL's last segment.
    file.filename = a.text;
    if (file.filename.empty() && !href.empty()) {
      std::string path = href.substr(0, href.find('?'));
      file.filename = UrlDecode(path.substr(path.rfind('/') + 1));
    }
    file.requires_python = a.Attr("data-requires-python");
    if (a.Has("data-yanked")) {
      file.yanked = true;
      file.yanked_reason = a.Attr("data-yanked");
    }
    if (a.Has("data-core-metadata")) ReadCoreMetadataAttr(a.Attr("data-core-metadata"), &file);
    else if (a.Has("data-dist-info-metadata"))
      ReadCoreMetadataAttr(a.Attr("data-dist-info-metadata"), &file);
    AddFile(project, limits, std::move(file), &seen, out);
  }
  return true;
}

IndexClient::IndexClient(std::string index_url, IndexLimits limits, HttpClientOptions options)
    : index_url_(std::move(index_url)),
      limits_(limits),
      root_client_([&] {
        HttpClientOptions o = options;
        o.max_body_bytes = limits.max_root_bytes;
        return o;
      }()),
      page_client_([&] {
        HttpClientOptions o = options;
        o.max_body_bytes = limits.max_page_bytes;
        return o;
      }()) {
  if (!index_url_.empty() && index_url_.back() != '/') index_url_ += '/';
}

namespace {

// The checks both pages share: an HTTP answer, a content type this code reads.
bool CheckAnswer(const HttpResult& r, const std::string& url, Format* format, std::string* err) {
  if (!r.ok()) {
    *err = "GET " + url + ": " + r.Describe();
    return false;
  }
  auto ct = r.headers.find("content-type");
  std::string type = ct == r.headers.end() ? "" : MediaType(ct->second);
  *format = FormatOf(type);
  if (*format == Format::kOther) {
    *err = "GET " + url + ": the answer's content type is '" + Excerpt(type) +
           "', neither PEP 691 JSON (" + kPep691Accept + ") nor PEP 503 HTML (text/html)";
    return false;
  }
  return true;
}

int64_t SerialHeader(const HttpResult& r) {
  auto it = r.headers.find("x-pypi-last-serial");
  int64_t serial = -1;
  if (it == r.headers.end() || !ParseInt64(it->second, &serial) || serial < 0) return -1;
  return serial;
}

}  // namespace

bool IndexClient::FetchRoot(IndexRoot* out, std::string* err) const {
  HttpResult r = root_client_.Get(index_url_, {{"Accept", kSimpleAccept}});
  Format format;
  if (!CheckAnswer(r, index_url_, &format, err)) return false;
  bool ok;
  if (format == Format::kJson) {
    nlohmann::json root;
    std::string perr;
    // The root lists every project (PyPI: over 600,000): its size was capped
    // by the client, the depth is checked as always.
    ok = ParseJson(r.body, &root, &perr, r.body.size(), r.body.size()) && ParseIndexRoot(root, out, err);
    if (!perr.empty()) *err = perr + " although it says it is PEP 691 JSON";
  } else {
    ok = ParseIndexRootHtml(r.body, out, err);
  }
  if (!ok) {
    *err = index_url_ + ": " + *err;
    return false;
  }
  int64_t serial = SerialHeader(r);
  if (serial >= 0) out->last_serial = serial;
  return true;
}

bool IndexClient::FetchProject(const std::string& project, const std::string& etag,
                               IndexPage* out, std::string* err) const {
  std::string url = index_url_ + project + "/";
  Headers headers{{"Accept", kSimpleAccept}};
  if (!etag.empty()) headers.emplace_back("If-None-Match", etag);
  HttpResult r = page_client_.Get(url, headers);
  out->serial = SerialHeader(r);
  if (r.error.empty() && r.status == 304 && !etag.empty()) {
    out->not_modified = true;
    out->etag = etag;
    return true;
  }
  Format format;
  if (!CheckAnswer(r, url, &format, err)) return false;
  auto et = r.headers.find("etag");
  if (et != r.headers.end()) out->etag = et->second;
  bool ok;
  if (format == Format::kJson) {
    nlohmann::json page;
    std::string perr;
    ok = ParseJson(r.body, &page, &perr, r.body.size(), r.body.size()) &&
         ParseIndexProject(url, project, page, out, err, limits_);
    if (!perr.empty()) *err = perr + " although it says it is PEP 691 JSON";
  } else {
    ok = ParseIndexProjectHtml(url, project, r.body, out, err, limits_);
  }
  if (!ok) {
    *err = url + ": " + *err;
    return false;
  }
  return true;
}

}  // namespace corral::coordinator
