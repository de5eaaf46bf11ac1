// How an sdist says it must be built (PEP 517/518): the [build-system] table
// of pyproject.toml, or the setuptools legacy fallback when there is none.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace corral::sandbox {

// The build backend and what it needs, as the runner receives it.
struct BuildSystem {
  std::vector<std::string> requirements;  // PEP 508 strings ("requires"; a C++20 keyword)
  std::string backend;                 // "module:object" or "module"
  std::vector<std::string> backend_path;  // relative to the source root
  bool from_pyproject = false;         // false: the PEP 517 fallback was used
  // Test requirements, read as data from everywhere projects declare them
  // (DESIGN.md 5a): [project.optional-dependencies] and PEP 735
  // [dependency-groups] named test, tests, testing or dev; tox.ini's
  // [testenv] deps; requirements files for tests (requirements*test*.txt,
  // test-requirements.txt, requirements/test*.txt, requirements-dev.txt).
  // Options, paths, URLs and tox substitutions are skipped; at most 64,
  // without duplicates. The prepare phase fetches each on its own.
  std::vector<std::string> test_requirements;
};

// Reads `source_root`/pyproject.toml (parsed with toml++). No file, or no
// [build-system] table: the fallback (setuptools.build_meta:__legacy__ with
// setuptools>=40.8.0 and wheel). A table without build-backend keeps its
// requires with the legacy backend, as pip does. Returns false with *err
// (the package's fault: build_failed) on invalid TOML, wrong types, or a
// backend-path that is absolute or leaves the source tree.
bool ReadBuildSystem(const std::filesystem::path& source_root, BuildSystem* out,
                     std::string* err);

}  // namespace corral::sandbox
