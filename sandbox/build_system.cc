#include "sandbox/build_system.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include <system_error>

namespace corral::sandbox {

namespace {

void Fallback(BuildSystem* out) {
  out->requirements = {"setuptools>=40.8.0", "wheel"};
  out->backend = "setuptools.build_meta:__legacy__";
  out->backend_path.clear();
  out->from_pyproject = false;
}

bool StringArray(const toml::node* node, const char* key, std::vector<std::string>* out,
                 std::string* err) {
  const toml::array* arr = node->as_array();
  if (!arr) {
    *err = std::string("pyproject.toml: [build-system] ") + key + " must be an array of strings";
    return false;
  }
  for (const toml::node& item : *arr) {
    const auto* s = item.as_string();
    if (!s) {
      *err = std::string("pyproject.toml: [build-system] ") + key + " holds a non-string value";
      return false;
    }
    out->push_back(s->get());
  }
  return true;
}

constexpr size_t kMaxTestRequirements = 64;

// Adds one requirement line (PEP 508) unless it is empty, a duplicate, an
// option (-r, -e, --index-url...), a local path or a tox substitution.
void AddTestRequirement(std::string line, BuildSystem* out) {
  size_t hash = line.find(" #");
  if (hash != std::string::npos) line.resize(hash);
  size_t a = line.find_first_not_of(" \t"), b = line.find_last_not_of(" \t\r");
  if (a == std::string::npos) return;
  line = line.substr(a, b - a + 1);
  if (line.empty() || line[0] == '#' || line[0] == '-' || line[0] == '.' || line[0] == '/' ||
      line.find('{') != std::string::npos || line.find("://") != std::string::npos)
    return;
  // Not a PEP 508 requirement: a tox factor condition ("coverage: coverage",
  // "py37,py38: mock"; for other environments than the default one) or
  // anything that does not start with a project name.
  if (line.substr(0, line.find(';')).find(':') != std::string::npos || !std::isalnum(static_cast<unsigned char>(line[0])))
    return;
  auto& v = out->test_requirements;
  if (v.size() < kMaxTestRequirements && std::find(v.begin(), v.end(), line) == v.end()) v.push_back(line);
}

void ReadTestExtras(const toml::table& doc, BuildSystem* out) {
  const char* kNames[] = {"test", "tests", "testing", "dev"};
  if (const toml::table* extras = doc["project"]["optional-dependencies"].as_table())
    for (const char* key : kNames)
      if (const toml::array* list = (*extras)[key].as_array())
        for (const auto& item : *list)
          if (const auto* s = item.as_string()) AddTestRequirement(s->get(), out);
  // PEP 735 dependency groups ({include-group = ...} entries are followed
  // one level, within the same table).
  if (const toml::table* groups = doc["dependency-groups"].as_table())
    for (const char* key : kNames)
      if (const toml::array* list = (*groups)[key].as_array())
        for (const auto& item : *list) {
          if (const auto* s = item.as_string()) AddTestRequirement(s->get(), out);
          if (const auto* t = item.as_table())
            if (const auto* inc = (*t)["include-group"].as_string())
              if (const toml::array* sub = (*groups)[inc->get()].as_array())
                for (const auto& i : *sub)
                  if (const auto* s = i.as_string()) AddTestRequirement(s->get(), out);
        }
}

// Lines of a small text file (at most 256 KiB), or none.
std::vector<std::string> Lines(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec) || std::filesystem::file_size(file, ec) > (256u << 10))
    return {};
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// tox.ini's [testenv] deps (continuation lines indented) and the
// requirements files projects keep for their tests.
void ReadTestFiles(const std::filesystem::path& root, BuildSystem* out) {
  bool in_testenv = false, in_deps = false;
  for (const std::string& line : Lines(root / "tox.ini")) {
    if (!line.empty() && line[0] == '[') {
      in_testenv = line.rfind("[testenv]", 0) == 0;
      in_deps = false;
      continue;
    }
    if (!in_testenv) continue;
    bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (!indented) {
      in_deps = line.rfind("deps", 0) == 0 && line.find('=') != std::string::npos;
      if (in_deps) AddTestRequirement(line.substr(line.find('=') + 1), out);
      continue;
    }
    if (in_deps) AddTestRequirement(line, out);
  }
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& dir : {root, root / "requirements"}) {
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      bool txt = name.size() > 4 && name.substr(name.size() - 4) == ".txt";
      bool test = name.find("test") != std::string::npos;
      bool dev = name == "requirements-dev.txt" || name == "dev-requirements.txt";
      bool in_req_dir = dir != root && name.rfind("test", 0) == 0;
      bool at_root = dir == root && (name.rfind("requirements", 0) == 0 || name.rfind("test-requirements", 0) == 0 ||
                                     name.rfind("test_requirements", 0) == 0 || dev);
      if (txt && ((at_root && (test || dev)) || in_req_dir)) files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    for (const std::string& line : Lines(f)) AddTestRequirement(line, out);
}

}  // namespace

bool ReadBuildSystem(const std::filesystem::path& source_root, BuildSystem* out,
                     std::string* err) {
  *out = BuildSystem{};
  std::filesystem::path file = source_root / "pyproject.toml";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    Fallback(out);
    ReadTestFiles(source_root, out);
    return true;
  }
  if (std::filesystem::file_size(file, ec) > (4u << 20)) {
    *err = "pyproject.toml is larger than 4 MiB; refusing to parse it";
    return false;
  }
  toml::table doc;
  try {
    doc = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    *err = "pyproject.toml is not valid TOML (line " + std::to_string(where.line) + ", column " +
           std::to_string(where.column) + "): " + std::string(e.description());
    return false;
  }
  const toml::node* bs_node = doc.get("build-system");
  ReadTestExtras(doc, out);
  ReadTestFiles(source_root, out);
  if (!bs_node) {
    std::vector<std::string> tests = std::move(out->test_requirements);
    Fallback(out);
    out->test_requirements = std::move(tests);
    return true;
  }
  const toml::table* bs = bs_node->as_table();
  if (!bs) {
    *err = "pyproject.toml: build-system must be a table";
    return false;
  }
  out->from_pyproject = true;
  if (const toml::node* req = bs->get("requires")) {
    if (!StringArray(req, "requires", &out->requirements, err)) return false;
  } else {
    *err = "pyproject.toml: [build-system] has no 'requires' (PEP 518 makes it mandatory)";
    return false;
  }
  if (const toml::node* backend = bs->get("build-backend")) {
    const auto* s = backend->as_string();
    if (!s || s->get().empty()) {
      *err = "pyproject.toml: [build-system] build-backend must be a non-empty string";
      return false;
    }
    out->backend = s->get();
  } else {
    out->backend = "setuptools.build_meta:__legacy__";
  }
  if (const toml::node* bp = bs->get("backend-path")) {
    if (!StringArray(bp, "backend-path", &out->backend_path, err)) return false;
    for (const std::string& p : out->backend_path) {
      std::filesystem::path rel(p);
      bool escapes = rel.is_absolute();
      int depth = 0;
      for (const auto& part : rel.lexically_normal()) {
        if (part == "..") --depth;
        else if (part != "." && !part.empty()) ++depth;
        if (depth < 0) escapes = true;
      }
      if (escapes) {
        *err = "pyproject.toml: backend-path entry '" + p +
               "' leaves the source tree (PEP 517 requires paths inside it)";
        return false;
      }
    }
  }
  return true;
}

}  // namespace corral::sandbox
