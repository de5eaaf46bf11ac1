#include "coordinator/index_sync.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/names.h"
#include "common/protocol.h"

namespace corral::coordinator {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
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

bool ParseIndexRoot(const nlohmann::json& root, std::vector<IndexProject>* out, std::string* err) {
  if (!root.is_object() || !root.contains("projects") || !root["projects"].is_array()) {
    *err = "the index root is not a PEP 691 document: expected {\"projects\": [...]}";
    return false;
  }
  for (const auto& p : root["projects"]) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
      *err = "an entry of the index root's 'projects' has no string 'name'";
      return false;
    }
    IndexProject ip;
    ip.name = p["name"].get<std::string>();
    auto s = p.find("_last-serial");
    if (s != p.end() && s->is_number_integer()) ip.last_serial = s->get<int64_t>();
    out->push_back(std::move(ip));
  }
  return true;
}

bool ParseIndexProject(const std::string& page_url, const std::string& project,
                       const nlohmann::json& page, std::vector<IndexFile>* out, std::string* err) {
  if (!page.is_object() || !page.contains("files") || !page["files"].is_array()) {
    *err = "the page is not a PEP 691 project document: expected {\"files\": [...]}";
    return false;
  }
  std::vector<IndexFile> files;
  size_t index = 0;
  for (const auto& f : page["files"]) {
    std::string where = "file #" + std::to_string(index++);
    if (!f.is_object() || !f.contains("filename") || !f["filename"].is_string()) {
      *err = where + " has no string 'filename'";
      return false;
    }
    IndexFile file;
    file.filename = f["filename"].get<std::string>();
    where = "file '" + file.filename + "'";
    if (!f.contains("url") || !f["url"].is_string() || f["url"].get<std::string>().empty()) {
      *err = where + " has no 'url'";
      return false;
    }
    file.url = ResolveUrl(page_url, f["url"].get<std::string>());
    auto hashes = f.find("hashes");
    if (hashes == f.end() || !hashes->is_object() || !hashes->contains("sha256") ||
        !(*hashes)["sha256"].is_string()) {
      *err = where + " has no 'hashes.sha256' (the coordinator needs it to check inputs)";
      return false;
    }
    file.sha256 = (*hashes)["sha256"].get<std::string>();
    for (char& c : file.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!IsSha256Hex(file.sha256)) {
      *err = where + " has a 'hashes.sha256' that is not 64 hex digits";
      return false;
    }
    if (f.contains("size") && f["size"].is_number_integer()) file.size = f["size"].get<int64_t>();
    if (f.contains("requires-python") && f["requires-python"].is_string())
      file.requires_python = f["requires-python"].get<std::string>();
    if (f.contains("yanked")) {
      const auto& y = f["yanked"];
      if (y.is_boolean()) {
        file.yanked = y.get<bool>();
      } else if (y.is_string()) {
        file.yanked = true;
        file.yanked_reason = y.get<std::string>();
      }
    }
    if (f.contains("upload-time") && f["upload-time"].is_string())
      file.upload_time = f["upload-time"].get<std::string>();
    if (!SplitDistributionFilename(file.filename, project, &file.version, &file.kind)) continue;
    files.push_back(std::move(file));
  }
  for (auto& f : files) out->push_back(std::move(f));
  return true;
}

IndexClient::IndexClient(std::string index_url, HttpClientOptions options)
    : index_url_(std::move(index_url)), client_(options) {
  if (!index_url_.empty() && index_url_.back() != '/') index_url_ += '/';
}

bool IndexClient::FetchJson(const std::string& url, nlohmann::json* out, std::string* err) const {
  HttpResult r = client_.Get(url, {{"Accept", kPep691Accept}});
  if (!r.ok()) {
    *err = "GET " + url + ": " + r.Describe();
    return false;
  }
  std::string perr;
  if (!ParseJson(r.body, out, &perr)) {
    *err = "GET " + url + ": " + perr + " (is this a PEP 691 index? it answered " +
           r.headers["content-type"] + ")";
    return false;
  }
  return true;
}

bool IndexClient::FetchRoot(std::vector<IndexProject>* out, std::string* err) const {
  nlohmann::json root;
  if (!FetchJson(index_url_, &root, err)) return false;
  if (!ParseIndexRoot(root, out, err)) {
    *err = index_url_ + ": " + *err;
    return false;
  }
  return true;
}

bool IndexClient::FetchProject(const std::string& project, std::vector<IndexFile>* out,
                               std::string* err) const {
  std::string url = index_url_ + project + "/";
  nlohmann::json page;
  if (!FetchJson(url, &page, err)) return false;
  if (!ParseIndexProject(url, project, page, out, err)) {
    *err = url + ": " + *err;
    return false;
  }
  return true;
}

}  // namespace corral::coordinator
