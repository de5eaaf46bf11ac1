#include "demo/local_index.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include <sys/stat.h>

#include "common/archive_error.h"
#include "common/crypto.h"

namespace fs = std::filesystem;

namespace corral {

namespace {

constexpr const char* kStateFile = ".corral-index-state.json";
constexpr const char* kYankedSuffix = ".yanked";
constexpr size_t kMaxMetadataBytes = 1 << 20;
constexpr const char* kJsonType = "application/vnd.pypi.simple.v1+json";
constexpr const char* kHtmlV1Type = "application/vnd.pypi.simple.v1+html";
constexpr const char* kTextHtmlType = "text/html; charset=utf-8";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#x27;"; break;
      default: out += c;
    }
  }
  return out;
}

// Percent-encodes a path segment, keeping the characters file names use.
std::string EncodeSegment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string UploadTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
  return buf;
}

// The value of header `key` in an RFC 822 style metadata block ("" if absent).
std::string MetadataField(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string line;
  std::string want = Lower(key);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // the body starts
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (Lower(Trim(std::string_view(line).substr(0, colon))) == want)
      return Trim(std::string_view(line).substr(colon + 1));
  }
  return "";
}

// Reads the core metadata out of a distribution: the wheel's
// NAME-VERSION.dist-info/METADATA or the sdist's TOP/PKG-INFO. Sets *found
// to false (and returns true) when the archive has none.
bool ReadCoreMetadata(const fs::path& file, bool is_wheel, const std::string& project,
                      const std::string& version, std::string* out, bool* found,
                      std::string* err) {
  *found = false;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_zip(a);
  auto fail = [&](const std::string& what) {
    *err = "reading the core metadata of " + file.string() + ": " + what + ": " +
           ArchiveError(a) +
           " (is the file a complete, valid archive?)";
    archive_read_free(a);
    return false;
  };
  if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK) return fail("open");
  std::string wanted_dist = NormalizeProjectName(project) + "-" + version;
  bool best = false;  // found the exact NAME-VERSION.dist-info
  archive_entry* e;
  int r;
  // ARCHIVE_WARN: a name that the C locale cannot show (non-ASCII); the
  // UTF-8 name is read instead.
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    const char* name = archive_entry_pathname_utf8(e);
    if (!name) name = archive_entry_pathname(e);
    std::string path = name ? name : "";
    size_t slash = path.find('/');
    if (slash == std::string::npos || path.find('/', slash + 1) != std::string::npos ||
        archive_entry_filetype(e) != AE_IFREG) {
      archive_read_data_skip(a);
      continue;
    }
    std::string top = path.substr(0, slash), leaf = path.substr(slash + 1);
    bool match = false, exact = false;
    if (is_wheel && leaf == "METADATA" && EndsWith(top, ".dist-info")) {
      match = true;
      std::string stem = top.substr(0, top.size() - std::strlen(".dist-info"));
      size_t dash = stem.rfind('-');
      exact = dash != std::string::npos &&
              NormalizeProjectName(stem.substr(0, dash)) + stem.substr(dash) == wanted_dist;
    } else if (!is_wheel && leaf == "PKG-INFO") {
      match = exact = true;
    }
    if (!match || best || (*found && !exact)) {
      archive_read_data_skip(a);
      continue;
    }
    if (archive_entry_size_is_set(e) &&
        archive_entry_size(e) > static_cast<la_int64_t>(kMaxMetadataBytes)) {
      archive_read_free(a);
      *err = "reading the core metadata of " + file.string() + ": " + path + " is larger than " +
             std::to_string(kMaxMetadataBytes) + " bytes; refusing it";
      return false;
    }
    std::string data;
    char buf[1 << 14];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
      data.append(buf, static_cast<size_t>(n));
      if (data.size() > kMaxMetadataBytes) {
        archive_read_free(a);
        *err = "reading the core metadata of " + file.string() + ": " + path +
               " is larger than " + std::to_string(kMaxMetadataBytes) + " bytes; refusing it";
        return false;
      }
    }
    if (n < 0) return fail("reading " + path);
    *out = std::move(data);
    *found = true;
    best = exact;
    if (best) break;
  }
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN && r != ARCHIVE_EOF) return fail("listing entries");
  archive_read_free(a);
  return true;
}

// A simplified PEP 440 order: release numbers compared numerically, then a
// release without suffix after its pre-releases and before its post-releases.
bool VersionLess(const std::string& a, const std::string& b) {
  auto split = [](const std::string& v, std::vector<long>* nums, std::string* rest) {
    size_t i = 0;
    if (i < v.size() && (v[i] == 'v' || v[i] == 'V')) ++i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
      long n = 0;
      auto r = std::from_chars(v.data() + i, v.data() + v.size(), n);
      nums->push_back(n);
      i = static_cast<size_t>(r.ptr - v.data());
      if (i + 1 < v.size() && v[i] == '.' && std::isdigit(static_cast<unsigned char>(v[i + 1])))
        ++i;
      else
        break;
    }
    *rest = Lower(v.substr(i));
  };
  std::vector<long> na, nb;
  std::string ra, rb;
  split(a, &na, &ra);
  split(b, &nb, &rb);
  while (na.size() < nb.size()) na.push_back(0);
  while (nb.size() < na.size()) nb.push_back(0);
  if (na != nb) return na < nb;
  auto rank = [](const std::string& rest) {
    if (rest.empty()) return 2;
    std::string r = rest;
    if (r[0] == '.' || r[0] == '-' || r[0] == '_') r = r.substr(1);
    if (r.rfind("post", 0) == 0) return 3;
    if (r.rfind("dev", 0) == 0) return 0;
    return 1;  // a, b, rc, alpha, beta, c, pre, preview
  };
  if (rank(ra) != rank(rb)) return rank(ra) < rank(rb);
  return ra < rb;
}

std::string ReadFile(const fs::path& p, bool* ok) {
  std::ifstream in(p, std::ios::binary);
  *ok = static_cast<bool>(in);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The media type chosen for a simple page from an Accept header.
enum class PageFormat { kJson, kHtmlV1, kTextHtml, kNone };

PageFormat Negotiate(const std::string& accept) {
  if (Trim(accept).empty()) return PageFormat::kTextHtml;
  PageFormat best = PageFormat::kNone;
  double best_q = 0;
  int best_rank = 99;
  std::stringstream items(accept);
  std::string item;
  while (std::getline(items, item, ',')) {
    std::stringstream parts(item);
    std::string type;
    std::getline(parts, type, ';');
    type = Lower(Trim(type));
    double q = 1;
    std::string param;
    while (std::getline(parts, param, ';')) {
      param = Trim(param);
      if (param.rfind("q=", 0) == 0) q = std::atof(param.c_str() + 2);
    }
    PageFormat f;
    int rank;  // the server's preference when q values tie
    if (type == kJsonType || type == "application/vnd.pypi.simple.latest+json") {
      f = PageFormat::kJson, rank = 0;
    } else if (type == kHtmlV1Type || type == "application/vnd.pypi.simple.latest+html") {
      f = PageFormat::kHtmlV1, rank = 1;
    } else if (type == "text/html" || type == "text/*" || type == "*/*") {
      f = PageFormat::kTextHtml, rank = 2;
    } else {
      continue;
    }
    if (q <= 0) continue;
    if (q > best_q || (q == best_q && rank < best_rank)) best = f, best_q = q, best_rank = rank;
  }
  return best;
}

}  // namespace

bool ParseDistFilename(std::string_view filename, std::string* project, std::string* version,
                       bool* is_wheel) {
  std::string_view stem;
  if (EndsWith(filename, ".whl")) {
    stem = filename.substr(0, filename.size() - 4);
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t dash; (dash = stem.find('-', start)) != std::string_view::npos; start = dash + 1)
      parts.push_back(stem.substr(start, dash - start));
    parts.push_back(stem.substr(start));
    if (parts.size() != 5 && parts.size() != 6) return false;
    for (std::string_view p : parts)
      if (p.empty()) return false;
    *project = NormalizeProjectName(parts[0]);
    *version = std::string(parts[1]);
    *is_wheel = true;
    return true;
  }
  if (EndsWith(filename, ".tar.gz")) {
    stem = filename.substr(0, filename.size() - 7);
  } else if (EndsWith(filename, ".zip")) {
    stem = filename.substr(0, filename.size() - 4);
  } else {
    return false;
  }
  size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == stem.size()) return false;
  *project = NormalizeProjectName(stem.substr(0, dash));
  *version = std::string(stem.substr(dash + 1));
  *is_wheel = false;
  return !project->empty();
}

// What a scan learned of one file and keeps while the file's size and
// modification time stay the same, so a reload does not rehash everything.
struct LocalIndex::Cached {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  IndexFile file;  // yanked is filled per scan
};

// One published view of the folder. Immutable once built.
struct LocalIndex::State {
  fs::path dir;
  int64_t last_serial = 0;
  std::map<std::string, IndexProject> projects;        // by normalised name
  std::map<std::string, const IndexFile*> files;       // by file name, into projects
  std::map<std::string, std::string> fingerprints;     // by project: what a change is
};

LocalIndex::LocalIndex() : state_(std::make_shared<State>()) {}
LocalIndex::~LocalIndex() = default;

std::shared_ptr<const LocalIndex::State> LocalIndex::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

bool LocalIndex::Load(const fs::path& dir, std::string* err) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    *err = "loading the local index: " + dir.string() +
           " is not a folder (write the demo corpus there first)";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    dir_ = dir;
  }
  return Rescan(/*first=*/true, err);
}

bool LocalIndex::Reload(std::string* err) {
  if (dir_.empty()) {
    *err = "reloading the local index: Load was never called";
    return false;
  }
  return Rescan(/*first=*/false, err);
}

bool LocalIndex::Rescan(bool first, std::string* err) {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  std::shared_ptr<const State> previous = Snapshot();
  auto next = std::make_shared<State>();
  next->dir = dir_;

  // Serials continue from the state file on first load (a restarted index
  // never goes back), and from memory afterwards.
  int64_t last_serial = previous->last_serial;
  std::map<std::string, std::pair<int64_t, std::string>> known;  // project -> serial, fingerprint
  for (const auto& [name, project] : previous->projects)
    known[name] = {project.serial, previous->fingerprints.at(name)};
  fs::path state_path = dir_ / kStateFile;
  if (first) {
    bool ok;
    std::string text = ReadFile(state_path, &ok);
    if (ok) {
      nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("last_serial")) {
        *err = "loading the local index: " + state_path.string() +
               " is not a valid state file; delete it to restart the serials";
        return false;
      }
      last_serial = j.value("last_serial", int64_t{0});
      if (j.contains("projects") && j["projects"].is_object())
        for (const auto& [name, p] : j["projects"].items())
          known[name] = {p.value("serial", int64_t{0}), p.value("fingerprint", "")};
    }
  }

  // Scan.
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec))
    if (entry.is_regular_file(ec)) paths.push_back(entry.path());
  if (ec) {
    *err = "scanning the local index folder " + dir_.string() + ": " + ec.message();
    return false;
  }
  std::sort(paths.begin(), paths.end());
  std::map<std::string, std::shared_ptr<Cached>> cache;
  for (const fs::path& path : paths) {
    std::string filename = path.filename().string();
    std::string project, version;
    bool is_wheel;
    if (!ParseDistFilename(filename, &project, &version, &is_wheel)) continue;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;  // vanished meanwhile
    int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    std::shared_ptr<Cached> c;
    auto it = cache_.find(filename);
    if (it != cache_.end() && it->second->size == static_cast<uint64_t>(st.st_size) &&
        it->second->mtime_ns == mtime_ns) {
      c = it->second;
    } else {
      c = std::make_shared<Cached>();
      c->size = static_cast<uint64_t>(st.st_size);
      c->mtime_ns = mtime_ns;
      IndexFile& f = c->file;
      f.filename = filename;
      f.project = project;
      f.version = version;
      f.is_wheel = is_wheel;
      f.size = c->size;
      f.mtime = st.st_mtim.tv_sec;
      f.upload_time = UploadTime(f.mtime);
      if (!Sha256File(path, &f.sha256, err)) return false;
      std::string metadata;
      bool found;
      if (!ReadCoreMetadata(path, is_wheel, project, version, &metadata, &found, err))
        return false;
      if (found) {
        f.requires_python = MetadataField(metadata, "Requires-Python");
        f.display_name = MetadataField(metadata, "Name");
        if (is_wheel) {
          f.metadata = metadata;
          f.metadata_sha256 = Sha256Hex(metadata);
        }
      }
      if (f.display_name.empty() || NormalizeProjectName(f.display_name) != project)
        f.display_name = project;
    }
    cache[filename] = c;
    IndexFile file = c->file;
    fs::path sidecar = path;
    sidecar += kYankedSuffix;
    bool yanked;
    std::string reason = ReadFile(sidecar, &yanked);
    if (yanked) file.yanked = Trim(reason);
    IndexProject& p = next->projects[project];
    p.name = project;
    p.files.push_back(std::move(file));
  }

  // Versions, display names, fingerprints and serials.
  std::vector<std::string> changed;
  for (auto& [name, p] : next->projects) {
    std::set<std::string> versions;
    std::string fingerprint;
    const IndexFile* newest = nullptr;
    for (const IndexFile& f : p.files) {
      versions.insert(f.version);
      fingerprint += f.filename + " " + f.sha256 + " " +
                     (f.yanked ? "yanked:" + *f.yanked : std::string("-")) + "\n";
      if (!newest || VersionLess(newest->version, f.version)) newest = &f;
    }
    p.versions.assign(versions.begin(), versions.end());
    std::sort(p.versions.begin(), p.versions.end(), VersionLess);
    p.display_name = newest->display_name;
    next->fingerprints[name] = Sha256Hex(fingerprint);
    auto k = known.find(name);
    if (k != known.end() && k->second.second == next->fingerprints[name]) {
      p.serial = k->second.first;
    } else {
      changed.push_back(name);
    }
  }
  for (const std::string& name : changed) next->projects[name].serial = ++last_serial;
  for (const auto& [name, _] : known)
    if (!next->projects.count(name)) ++last_serial;  // a removal is a change too
  next->last_serial = last_serial;
  for (auto& [name, p] : next->projects)
    for (const IndexFile& f : p.files) next->files[f.filename] = &f;

  // Persist the serials before publishing them.
  nlohmann::json saved = {{"last_serial", last_serial}, {"projects", nlohmann::json::object()}};
  for (const auto& [name, p] : next->projects)
    saved["projects"][name] = {{"serial", p.serial}, {"fingerprint", next->fingerprints[name]}};
  fs::path partial = state_path;
  partial += ".part";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << saved.dump(1) << "\n";
    if (!out.flush()) {
      *err = "saving the local index's serials to " + partial.string() + ": " +
             std::strerror(errno) + " (the folder must be writable)";
      return false;
    }
  }
  fs::rename(partial, state_path, ec);
  if (ec) {
    *err = "saving the local index's serials to " + state_path.string() + ": " + ec.message();
    return false;
  }

  cache_ = std::move(cache);
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(next);
  return true;
}

bool LocalIndex::AddFile(const fs::path& file, std::string* err) {
  std::string filename = file.filename().string(), project, version;
  bool is_wheel;
  if (!ParseDistFilename(filename, &project, &version, &is_wheel)) {
    *err = "adding " + file.string() + " to the local index: '" + filename +
           "' is not a distribution file name (NAME-VERSION.tar.gz, .zip or a PEP 427 wheel)";
    return false;
  }
  if (dir_.empty()) {
    *err = "adding " + filename + " to the local index: Load was never called";
    return false;
  }
  fs::path target = dir_ / filename;
  std::error_code ec;
  if (fs::exists(target, ec)) {
    std::string have, want;
    if (!Sha256File(target, &have, err) || !Sha256File(file, &want, err)) return false;
    if (have != want) {
      *err = "adding " + file.string() + " to the local index: a different " + filename +
             " is already published; file names cannot be reused, release a new version";
      return false;
    }
    return Reload(err);
  }
  fs::path partial = target;
  partial += ".part";
  fs::copy_file(file, partial, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::last_write_time(partial, fs::file_time_type::clock::now(), ec);
  if (!ec) fs::rename(partial, target, ec);
  if (ec) {
    *err = "adding " + file.string() + " to the local index " + dir_.string() + ": " +
           ec.message();
    fs::remove(partial, ec);
    return false;
  }
  return Reload(err);
}

bool LocalIndex::Yank(const std::string& filename, const std::string& reason, std::string* err) {
  std::shared_ptr<const State> s = Snapshot();
  if (!s->files.count(filename)) {
    *err = "yanking " + filename + ": no such file in the local index " + dir_.string();
    return false;
  }
  fs::path sidecar = dir_ / (filename + kYankedSuffix);
  std::ofstream out(sidecar, std::ios::binary | std::ios::trunc);
  out << reason;
  if (!out.flush()) {
    *err = "yanking " + filename + ": cannot write " + sidecar.string() + ": " +
           std::strerror(errno);
    return false;
  }
  out.close();
  return Reload(err);
}

bool LocalIndex::Unyank(const std::string& filename, std::string* err) {
  std::error_code ec;
  fs::remove(dir_ / (filename + kYankedSuffix), ec);
  if (ec) {
    *err = "unyanking " + filename + ": " + ec.message();
    return false;
  }
  return Reload(err);
}

int64_t LocalIndex::last_serial() const { return Snapshot()->last_serial; }

std::optional<IndexProject> LocalIndex::Project(const std::string& name) const {
  std::shared_ptr<const State> s = Snapshot();
  auto it = s->projects.find(name);
  if (it == s->projects.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> LocalIndex::ProjectNames() const {
  std::shared_ptr<const State> s = Snapshot();
  std::vector<std::string> names;
  for (const auto& [name, _] : s->projects) names.push_back(name);
  return names;
}

namespace {

nlohmann::json RootJsonOf(int64_t last_serial, const std::map<std::string, IndexProject>& ps) {
  nlohmann::json projects = nlohmann::json::array();
  for (const auto& [name, p] : ps)
    projects.push_back({{"name", p.display_name}, {"_last-serial", p.serial}});
  return {{"meta", {{"api-version", "1.1"}, {"_last-serial", last_serial}}},
          {"projects", projects}};
}

std::string RootHtmlOf(const std::map<std::string, IndexProject>& ps) {
  std::string s =
      "<!DOCTYPE html>\n<html>\n  <head>\n"
      "    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
      "    <title>Simple index</title>\n  </head>\n  <body>\n";
  for (const auto& [name, p] : ps)
    s += "    <a href=\"" + HtmlEscape(EncodeSegment(name)) + "/\">" + HtmlEscape(p.display_name) +
         "</a>\n";
  return s + "  </body>\n</html>\n";
}

std::string FileUrl(const IndexFile& f) { return "../../files/" + EncodeSegment(f.filename); }

nlohmann::json ProjectJsonOf(const IndexProject& p) {
  nlohmann::json files = nlohmann::json::array();
  for (const IndexFile& f : p.files) {
    nlohmann::json metadata = false;
    if (!f.metadata_sha256.empty()) metadata = {{"sha256", f.metadata_sha256}};
    nlohmann::json yanked = false;
    if (f.yanked) yanked = f.yanked->empty() ? nlohmann::json(true) : nlohmann::json(*f.yanked);
    files.push_back({{"filename", f.filename},
                     {"url", FileUrl(f)},
                     {"hashes", {{"sha256", f.sha256}}},
                     {"requires-python", f.requires_python.empty()
                                             ? nlohmann::json(nullptr)
                                             : nlohmann::json(f.requires_python)},
                     {"size", f.size},
                     {"upload-time", f.upload_time},
                     {"yanked", yanked},
                     {"core-metadata", metadata}});  // PEP 714: no older key (pip 23.0 crashes on it)
  }
  return {{"meta", {{"api-version", "1.1"}, {"_last-serial", p.serial}}},
          {"name", p.name},
          {"versions", p.versions},
          {"files", files}};
}

std::string ProjectHtmlOf(const IndexProject& p) {
  std::string title = "Links for " + HtmlEscape(p.display_name);
  std::string s =
      "<!DOCTYPE html>\n<html>\n  <head>\n"
      "    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
      "    <title>" + title + "</title>\n  </head>\n  <body>\n    <h1>" + title + "</h1>\n";
  for (const IndexFile& f : p.files) {
    s += "    <a href=\"" + HtmlEscape(FileUrl(f) + "#sha256=" + f.sha256) + "\"";
    if (!f.requires_python.empty())
      s += " data-requires-python=\"" + HtmlEscape(f.requires_python) + "\"";
    if (f.yanked) s += " data-yanked=\"" + HtmlEscape(*f.yanked) + "\"";
    if (!f.metadata_sha256.empty()) {
      s += " data-dist-info-metadata=\"sha256=" + f.metadata_sha256 + "\"";
      s += " data-core-metadata=\"sha256=" + f.metadata_sha256 + "\"";
    }
    s += ">" + HtmlEscape(f.filename) + "</a><br>\n";
  }
  return s + "  </body>\n</html>\n";
}

}  // namespace

nlohmann::json LocalIndex::RootJson() const {
  std::shared_ptr<const State> s = Snapshot();
  return RootJsonOf(s->last_serial, s->projects);
}

std::string LocalIndex::RootHtml() const { return RootHtmlOf(Snapshot()->projects); }

std::optional<nlohmann::json> LocalIndex::ProjectJson(const std::string& name) const {
  std::shared_ptr<const State> s = Snapshot();
  auto it = s->projects.find(name);
  if (it == s->projects.end()) return std::nullopt;
  return ProjectJsonOf(it->second);
}

std::optional<std::string> LocalIndex::ProjectHtml(const std::string& name) const {
  std::shared_ptr<const State> s = Snapshot();
  auto it = s->projects.find(name);
  if (it == s->projects.end()) return std::nullopt;
  return ProjectHtmlOf(it->second);
}

HttpResponse LocalIndex::Handle(const HttpRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = HttpResponse::Error(405, "method_not_allowed",
                                         request.method + " is not supported; the index is "
                                                          "read-only (use GET)");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  std::shared_ptr<const State> s = Snapshot();
  const std::string& path = request.path;

  // A simple page, negotiated, with serial and ETag.
  auto page = [&](int64_t serial, const auto& json_fn, const auto& html_fn) {
    PageFormat format = Negotiate(request.Header("accept"));
    if (format == PageFormat::kNone)
      return HttpResponse::Error(406, "not_acceptable",
                                 "Accept names no format this index serves; ask for " +
                                     std::string(kJsonType) + ", " + kHtmlV1Type +
                                     " or text/html");
    HttpResponse r;
    if (format == PageFormat::kJson) {
      r.content_type = kJsonType;
      r.body = json_fn().dump();
    } else {
      r.content_type = format == PageFormat::kHtmlV1 ? kHtmlV1Type : kTextHtmlType;
      r.body = html_fn();
    }
    std::string etag = "\"" + Sha256Hex(r.content_type + "\n" + r.body).substr(0, 32) + "\"";
    r.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(serial));
    r.headers.emplace_back("Vary", "Accept");
    r.headers.emplace_back("ETag", etag);
    if (request.Header("if-none-match") == etag) {
      r.status = 304;
      r.body.clear();
    }
    return r;
  };

  if (path == "/simple" || path == "/simple/index.html") return HttpResponse::Redirect(301, "/simple/");
  if (path == "/simple/") {
    return page(s->last_serial, [&] { return RootJsonOf(s->last_serial, s->projects); },
                [&] { return RootHtmlOf(s->projects); });
  }
  if (path.rfind("/simple/", 0) == 0) {
    std::string rest = path.substr(std::strlen("/simple/"));
    bool slash = !rest.empty() && rest.back() == '/';
    if (slash) rest.pop_back();
    if (rest.empty() || rest.find('/') != std::string::npos)
      return HttpResponse::Error(404, "not_found", "no page at " + path + " in this index");
    std::string name = NormalizeProjectName(rest);
    auto it = s->projects.find(name);
    if (it == s->projects.end())
      return HttpResponse::Error(404, "not_found",
                                 "no project named '" + rest + "' (normalised: '" + name +
                                     "') in this index; see /simple/ for the list");
    if (name != rest || !slash) {
      std::string location = "/simple/" + EncodeSegment(name) + "/";
      return HttpResponse::Redirect(301, location);
    }
    const IndexProject& p = it->second;
    return page(p.serial, [&] { return ProjectJsonOf(p); }, [&] { return ProjectHtmlOf(p); });
  }
  if (path.rfind("/files/", 0) == 0) {
    std::string filename = path.substr(std::strlen("/files/"));
    bool metadata = false;
    auto it = s->files.find(filename);
    if (it == s->files.end() && EndsWith(filename, ".metadata")) {
      it = s->files.find(filename.substr(0, filename.size() - std::strlen(".metadata")));
      metadata = true;
    }
    if (it == s->files.end())
      return HttpResponse::Error(404, "not_found", "no file named '" + filename + "' in this index");
    const IndexFile& f = *it->second;
    HttpResponse r;
    r.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(s->last_serial));
    if (metadata) {
      if (f.metadata_sha256.empty())
        return HttpResponse::Error(404, "not_found",
                                   f.filename + " has no separate core metadata (only wheels do)");
      r.content_type = "text/plain; charset=utf-8";
      r.body = f.metadata;
      r.headers.emplace_back("ETag", "\"" + f.metadata_sha256 + "\"");
      return r;
    }
    bool ok;
    r.body = ReadFile(s->dir / f.filename, &ok);
    if (!ok)
      return HttpResponse::Error(404, "not_found",
                                 f.filename + " was removed from the index folder; reload the index");
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("ETag", "\"" + f.sha256 + "\"");
    return r;
  }
  return HttpResponse::Error(404, "not_found",
                             "no page at " + path + "; this index serves /simple/ and /files/");
}

}  // namespace corral
