// A project's matrix (versions x platforms), read from the store: the shape
// behind the project page and the compatibility lookup.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace corral::coordinator {

class Store;

// One task's standing, as a cell of the matrix.
struct MatrixCell {
  std::string status;  // an outcome word, "pending" or "inconclusive"
  std::string task_id, summary;
  int results = 0, agreeing = 0;
  int64_t decided_at = 0;  // unix seconds; 0 while pending
};

struct MatrixRow {
  std::string version, requires_python, filename;
  bool yanked = false;
  std::map<std::string, MatrixCell> cells;  // by platform tag
};

struct Matrix {
  std::string project, display_name, summary;
  std::vector<std::string> platforms;  // columns: cp before pp, then by version
  std::vector<MatrixRow> rows;         // newest version first (PEP 440)
};

// Reads project `name` (normalised) and its tasks and verdicts. False when
// the project is unknown. `platforms` is the coordinator's platform set.
bool LoadMatrix(const Store& store, const std::string& name,
                const std::vector<std::string>& platforms, Matrix* out);

// Sorts tags for columns: implementation (cp, then pp), version, os, arch.
void SortPlatforms(std::vector<std::string>* tags);

// True when version a is older than b under PEP 440 (unparsable ones oldest).
bool VersionOlder(const std::string& a, const std::string& b);

}  // namespace corral::coordinator
