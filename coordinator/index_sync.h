// Reading a package index the way mirrors do (DESIGN.md section 3): the
// PEP 691 JSON simple API when the index offers it, PEP 503 HTML otherwise.
// The root page lists projects with their `_last-serial`; a project page
// lists its files with hashes, sizes, Requires-Python, yanked flags, upload
// times (PEP 700) and core-metadata availability (PEP 658/714). Pages are
// fetched conditionally (ETag / If-None-Match) and carry the index's serial
// (X-PyPI-Last-Serial), so the caller can tell a stale copy from a fresh one.
//
// Bad input never fails a whole sync: a page that is not a simple page, has
// the wrong content type or is too large fails on its own (the caller logs
// it with the project's name and retries next pass), and a file entry that
// is malformed (no sha256, an absurd size, a name that is not this project's,
// a version that is not PEP 440) is left out and described in the page's
// `problems`. Parsing is separate from fetching so both can be tested alone.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_client.h"

namespace corral::coordinator {

inline constexpr char kPep691Accept[] = "application/vnd.pypi.simple.v1+json";
// What the sync asks for: JSON first, HTML when the index has no JSON (as pip does).
inline constexpr char kSimpleAccept[] =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01";

// Bounds on what an index may send; beyond them the input is refused as
// absurd rather than trusted. Defaults fit PyPI (its JSON root is ~40 MB, its
// largest project pages a few MB, its largest files a few GB).
struct IndexLimits {
  size_t max_root_bytes = 512u << 20;     // the root page
  size_t max_page_bytes = 32u << 20;      // one project page
  size_t max_files_per_page = 200'000;    // more makes the page malformed
  int64_t max_file_size = 16ll << 30;     // a larger (or negative) "size" skips the file
  size_t max_filename_bytes = 255;        // longer names skip the file
};

// One entry of the index's root page.
struct IndexProject {
  std::string name;          // as the index spells it
  int64_t last_serial = -1;  // -1 when the index gives none (PEP 503 HTML): always fetch
};

// The root page, parsed.
struct IndexRoot {
  std::vector<IndexProject> projects;  // valid names, one entry per normalised name
  int64_t last_serial = -1;            // the index's serial (meta or X-PyPI-Last-Serial), or -1
  std::string format;                  // "json" or "html"
  std::vector<std::string> problems;   // entries left out, each with the name and why
};

// One file of a project page, with its URL made absolute.
struct IndexFile {
  std::string filename, url, sha256;
  int64_t size = 0;  // 0 when the index does not say (PEP 503 HTML)
  std::string requires_python;
  bool yanked = false;
  std::string yanked_reason;
  std::string upload_time;       // ISO 8601 as given (PEP 700), or ""
  bool core_metadata = false;    // PEP 658/714: FILE.metadata can be fetched
  std::string core_metadata_sha256;  // its sha256 when the index gives one
  std::string version;  // from the filename, in PEP 440 canonical form
  std::string kind;     // "sdist" or "wheel"
};

// One project page, parsed.
struct IndexPage {
  std::vector<IndexFile> files;       // sdists and wheels that passed every check
  std::vector<std::string> problems;  // files left out, each with the filename and why
  int64_t serial = -1;                // X-PyPI-Last-Serial, else meta `_last-serial`, else -1
  std::string etag;                   // for the next conditional GET, or ""
  bool not_modified = false;          // 304: nothing changed since `etag`; no files
  std::string format;                 // "json" or "html"
};

// Parses a PEP 691 root document. False with *err when it is not one (or
// its api-version's major is not 1); bad entries go to out->problems.
bool ParseIndexRoot(const nlohmann::json& root, IndexRoot* out, std::string* err);
// Parses a PEP 503 root page: one anchor per project, its text the name.
bool ParseIndexRootHtml(std::string_view html, IndexRoot* out, std::string* err);

// Parses a PEP 691 project document for `project` (normalised) fetched from
// `page_url`. Files that are neither sdists nor wheels (eggs, installers) are
// left out silently; malformed ones are left out and described in
// out->problems. False with *err only when the document as a whole is not a
// project page (not an object, no "files" array, another project's "name",
// an api-version this code does not speak, too many files).
bool ParseIndexProject(const std::string& page_url, const std::string& project,
                       const nlohmann::json& page, IndexPage* out, std::string* err,
                       const IndexLimits& limits = {});
// The same for a PEP 503 HTML project page: hashes from the URL fragment
// (#sha256=...), data-requires-python, data-yanked, data-core-metadata /
// data-dist-info-metadata.
bool ParseIndexProjectHtml(const std::string& page_url, const std::string& project,
                           std::string_view html, IndexPage* out, std::string* err,
                           const IndexLimits& limits = {});

// The version in an sdist's or wheel's filename (as written), and its kind;
// false for other files or files of another project. `project` is the
// normalised name the file should belong to.
bool SplitDistributionFilename(const std::string& filename, const std::string& project,
                               std::string* version, std::string* kind);

// Fetches pages of one index over HTTP, asking for JSON and accepting HTML.
// Thread-safe (HttpClient is; this holds no other state).
class IndexClient {
 public:
  // `index_url` is the root of the simple API, e.g. "http://host/simple/".
  explicit IndexClient(std::string index_url, IndexLimits limits = {},
                       HttpClientOptions options = {});

  // Fetches and parses the root page. False with *err (naming the URL) on a
  // transport error, an HTTP error, a wrong content type, a page over
  // max_root_bytes or one that does not parse.
  bool FetchRoot(IndexRoot* out, std::string* err) const;
  // Fetches and parses `project`'s page (name normalised by the caller).
  // With a non-empty `etag` the GET is conditional: a 304 answer sets
  // out->not_modified and returns true. False with *err as FetchRoot.
  bool FetchProject(const std::string& project, const std::string& etag, IndexPage* out,
                    std::string* err) const;
  const std::string& index_url() const { return index_url_; }

 private:
  std::string index_url_;
  IndexLimits limits_;
  HttpClient root_client_, page_client_;
};

}  // namespace corral::coordinator
