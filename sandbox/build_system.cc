#include "sandbox/build_system.h"

#include <toml++/toml.h>

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

void ReadTestExtras(const toml::table& doc, BuildSystem* out) {
  const toml::table* extras = doc["project"]["optional-dependencies"].as_table();
  if (!extras) return;
  for (const char* key : {"test", "tests", "testing"}) {
    const toml::array* list = (*extras)[key].as_array();
    if (!list) continue;
    for (const auto& item : *list)
      if (const auto* s = item.as_string(); s && !s->get().empty() && out->test_requirements.size() < 64)
        out->test_requirements.push_back(s->get());
  }
}

}  // namespace

bool ReadBuildSystem(const std::filesystem::path& source_root, BuildSystem* out,
                     std::string* err) {
  *out = BuildSystem{};
  std::filesystem::path file = source_root / "pyproject.toml";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    Fallback(out);
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
  if (!bs_node) {
    Fallback(out);
    ReadTestExtras(doc, out);
    return true;
  }
  ReadTestExtras(doc, out);
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
