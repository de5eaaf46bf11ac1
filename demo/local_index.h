// A package index over a folder of distribution files, speaking the same
// "simple" API as PyPI: PEP 503 HTML and PEP 691 JSON (API version 1.1, with
// PEP 700's versions, sizes and upload times), PEP 592 yanking, PEP 658/714
// core metadata for wheels, and PyPI's serials (`_last-serial`,
// X-PyPI-Last-Serial). The demo serves its generated corpus with it, so the
// coordinator's index sync and pip exercise exactly the code paths they use
// against PyPI, on loopback and without the network.
//
// Layout of the folder:
//   NAME-VERSION.tar.gz / .zip      sdists (PEP 625 names; legacy dashed names too)
//   NAME-VERSION-...-PLAT.whl       wheels (PEP 427 names)
//   FILENAME.yanked                 marks FILENAME yanked; its text is the reason
//   .corral-index-state.json        serials, kept so a restart never lowers them
// Anything else is ignored.
//
// URLs served (Handle):
//   /simple/                   project list   (HTML or JSON by Accept)
//   /simple/<name>/            project page   (non-normalised names: 301)
//   /files/<filename>          the file's bytes
//   /files/<filename>.metadata a wheel's METADATA (PEP 658)
// File URLs in the pages are relative ("../../files/FILENAME"), which PEP 503
// allows and pip resolves against the page's URL.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "common/names.h"

namespace corral {


// Splits a distribution file name into its project (normalised) and version.
// Understands wheels (PEP 427: name-version[-build]-py-abi-plat.whl) and
// sdists (.tar.gz or .zip; the version is what follows the last '-').
// Returns false for any other name.
bool ParseDistFilename(std::string_view filename, std::string* project, std::string* version,
                       bool* is_wheel);

// One distribution file as the index publishes it.
struct IndexFile {
  std::string filename;
  std::string project;            // normalised
  std::string version;
  bool is_wheel = false;
  std::string sha256;             // lower-case hex of the file's bytes
  uint64_t size = 0;
  int64_t mtime = 0;              // unix seconds; the upload time
  std::string upload_time;        // PEP 700: "2024-03-01T10:00:00.000000Z"
  std::string requires_python;    // from PKG-INFO / METADATA; "" when absent
  std::optional<std::string> yanked;  // the reason ("" = yanked without one)
  std::string metadata;           // wheels: the METADATA file's bytes; else ""
  std::string metadata_sha256;    // of `metadata`; "" when there is none
  std::string display_name;       // the metadata's Name, or the file name's
};

// One project: its files sorted by file name, and the serial of its last change.
struct IndexProject {
  std::string name;          // normalised
  std::string display_name;  // as the newest release's metadata spells it
  int64_t serial = 0;
  std::vector<IndexFile> files;
  std::vector<std::string> versions;  // distinct, oldest first (PEP 440 order, simplified)
};

// The index. Load once, then Reload (or AddFile / Yank) whenever the folder
// changes: a project whose files, hashes or yank states changed gets a new
// serial, taken from a global counter that only grows. All methods are
// thread-safe; Handle and the renderers read an immutable snapshot, so they
// never wait for a reload that is hashing files.
class LocalIndex {
 public:
  LocalIndex();
  ~LocalIndex();
  LocalIndex(const LocalIndex&) = delete;
  LocalIndex& operator=(const LocalIndex&) = delete;

  // Scans `dir` (which must exist) and publishes its files. Serials continue
  // from the folder's state file when there is one. Returns false with *err
  // naming the file that could not be read or the state that could not be
  // written; the index then keeps serving what it had.
  bool Load(const std::filesystem::path& dir, std::string* err);
  // Rescans the folder given to Load, bumping the serial of each changed,
  // new or removed project.
  bool Reload(std::string* err);
  // Copies `file` (a distribution with a well-formed name) into the folder
  // with the current time as its upload time, then reloads. Refuses a name
  // already taken by different bytes, as PyPI does.
  bool AddFile(const std::filesystem::path& file, std::string* err);
  // Marks a published file yanked with `reason` (PEP 592), or unyanks it,
  // through its sidecar file; then reloads.
  bool Yank(const std::string& filename, const std::string& reason, std::string* err);
  bool Unyank(const std::string& filename, std::string* err);

  // The global serial: the highest serial of any change so far (0 before Load).
  int64_t last_serial() const;
  // The project (normalised name), or nullopt when it is not published.
  std::optional<IndexProject> Project(const std::string& name) const;
  // Normalised names of all projects, sorted.
  std::vector<std::string> ProjectNames() const;
  const std::filesystem::path& dir() const { return dir_; }

  // PEP 691 root: {"meta": {"api-version": "1.1", "_last-serial": N},
  //                "projects": [{"name": ..., "_last-serial": n}, ...]}
  nlohmann::json RootJson() const;
  // PEP 503 root: one anchor per project, href "NAME/".
  std::string RootHtml() const;
  // PEP 691 project page: {"meta": {...}, "name", "versions", "files": [...]},
  // or nullopt for an unknown (or non-normalised) name.
  std::optional<nlohmann::json> ProjectJson(const std::string& name) const;
  // PEP 503 project page; nullopt for an unknown (or non-normalised) name.
  std::optional<std::string> ProjectHtml(const std::string& name) const;

  // Answers one HTTP request for the URLs listed at the top of this file;
  // errors are {"error": code, "detail": text} with 301, 404, 405 or 406.
  // Responses for the simple pages carry X-PyPI-Last-Serial, Vary: Accept
  // and an ETag (If-None-Match gives 304).
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  struct State;
  struct Cached;
  bool Rescan(bool first, std::string* err);
  std::shared_ptr<const State> Snapshot() const;

  std::filesystem::path dir_;
  mutable std::mutex mu_;             // guards state_ and the swap of it
  std::mutex reload_mu_;              // one rescan at a time
  std::shared_ptr<const State> state_;
  std::map<std::string, std::shared_ptr<Cached>> cache_;  // by file name; under reload_mu_
};

}  // namespace corral
