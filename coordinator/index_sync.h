// Reading a package index through the PEP 691 JSON simple API: the root page
// lists projects with their `_last-serial`; a project page lists its files
// with hashes, sizes, Requires-Python, yanked flags and upload times. Only
// projects whose serial moved are fetched again. Parsing is separate from
// fetching so that both can be tested on their own.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "common/http_client.h"

namespace corral::coordinator {

inline constexpr char kPep691Accept[] = "application/vnd.pypi.simple.v1+json";

// One entry of the index's root page.
struct IndexProject {
  std::string name;          // as the index spells it
  int64_t last_serial = -1;  // -1 when the index gives none: always fetch
};

// One file of a project page, with its URL made absolute.
struct IndexFile {
  std::string filename, url, sha256;
  int64_t size = 0;
  std::string requires_python;
  bool yanked = false;
  std::string yanked_reason;
  std::string upload_time;
  std::string version;  // derived from the filename
  std::string kind;     // "sdist" or "wheel"
};

// Parses a PEP 691 root document. False with *err when it is not one.
bool ParseIndexRoot(const nlohmann::json& root, std::vector<IndexProject>* out, std::string* err);

// Parses a PEP 691 project document fetched from `page_url`. Files that are
// neither sdists nor wheels (eggs, installers) are left out; a file entry
// without a filename, URL or sha256, or whose name does not belong to
// `project`, makes the whole page malformed (false with *err naming it).
bool ParseIndexProject(const std::string& page_url, const std::string& project,
                       const nlohmann::json& page, std::vector<IndexFile>* out, std::string* err);

// The version in an sdist's or wheel's filename, and its kind; false for
// other files. `project` is the normalised name the file should belong to.
bool SplitDistributionFilename(const std::string& filename, const std::string& project,
                               std::string* version, std::string* kind);

// Fetches pages of one index over HTTP. Thread-compatible (HttpClient is
// thread-safe; this holds no state besides the base URL).
class IndexClient {
 public:
  // `index_url` is the root of the simple API, e.g. "http://host/simple/".
  explicit IndexClient(std::string index_url, HttpClientOptions options = {});

  bool FetchRoot(std::vector<IndexProject>* out, std::string* err) const;
  // Fetches and parses `project`'s page (name normalised by the caller).
  bool FetchProject(const std::string& project, std::vector<IndexFile>* out,
                    std::string* err) const;
  const std::string& index_url() const { return index_url_; }

 private:
  bool FetchJson(const std::string& url, nlohmann::json* out, std::string* err) const;
  std::string index_url_;
  HttpClient client_;
};

}  // namespace corral::coordinator
