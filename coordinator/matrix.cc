#include "coordinator/matrix.h"

#include <algorithm>

#include "common/protocol.h"
#include "common/pep440.h"
#include "common/platform.h"
#include "coordinator/records.h"
#include "coordinator/store.h"

namespace corral::coordinator {

bool VersionOlder(const std::string& a, const std::string& b) {
  Version va, vb;
  std::string err;
  bool pa = ParseVersion(a, &va, &err), pb = ParseVersion(b, &vb, &err);
  if (pa && pb) return CompareVersions(va, vb) < 0;
  if (pa != pb) return !pa;
  return a < b;
}

void SortPlatforms(std::vector<std::string>* tags) {
  auto key = [](const std::string& t) {
    PlatformTag p;
    std::string err;
    if (!ParsePlatformTag(t, &p, &err)) return std::make_tuple(std::string("zz"), 0, 0, t);
    return std::make_tuple(p.implementation, p.major, p.minor, p.os + "_" + p.arch);
  };
  std::sort(tags->begin(), tags->end(),
            [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
}

bool LoadMatrix(const Store& store, const std::string& name,
                const std::vector<std::string>& platforms, Matrix* out) {
  nlohmann::json j;
  ProjectRecord p;
  if (!store.GetJson(Cf::kProjects, name, &j) || !FromJson(j, &p)) return false;
  out->project = p.name;
  out->display_name = p.display_name;
  out->summary = p.summary;
  out->platforms = platforms;
  std::map<std::string, MatrixRow> rows;
  store.Scan(Cf::kFiles, Key({name, ""}), "", [&](std::string_view, std::string_view value) {
    FileRecord f;
    if (!FromJson(ParseJsonOrDiscarded(value), &f)) return true;
    MatrixRow& row = rows[f.version];
    row.version = f.version;
    // The row shows the sdist when there is one (the usual input).
    if (row.filename.empty() || f.kind == "sdist") {
      row.filename = f.filename;
      row.requires_python = f.requires_python;
    }
    row.yanked = row.yanked || f.yanked;
    return true;
  });
  store.Scan(Cf::kProjectTasks, Key({name, ""}), "", [&](std::string_view key, std::string_view) {
    auto parts = SplitKey(key);
    if (parts.size() != 4) return true;
    const std::string &version = parts[1], &platform = parts[2], &task_id = parts[3];
    MatrixCell cell;
    cell.task_id = task_id;
    nlohmann::json tj, vj;
    TaskRecord t;
    VerdictRecord v;
    if (store.GetJson(Cf::kTasks, task_id, &tj) && FromJson(tj, &t)) cell.results = t.results;
    if (store.GetJson(Cf::kVerdicts, task_id, &vj) && FromJson(vj, &v)) {
      cell.status = v.status;
      cell.summary = v.summary;
      cell.agreeing = v.agreeing;
      cell.decided_at = v.decided_at;
    } else {
      cell.status = "pending";
      cell.summary = t.cancelled ? "not built: " + t.cancelled_reason
                     : cell.results ? std::to_string(cell.results) + " result(s), waiting for agreement"
                                    : "waiting for a volunteer";
    }
    rows[version].version = version;
    rows[version].cells[platform] = cell;
    if (std::find(out->platforms.begin(), out->platforms.end(), platform) == out->platforms.end())
      out->platforms.push_back(platform);
    return true;
  });
  SortPlatforms(&out->platforms);
  out->rows.clear();
  for (auto& [_, r] : rows) out->rows.push_back(std::move(r));
  std::sort(out->rows.begin(), out->rows.end(),
            [](const MatrixRow& a, const MatrixRow& b) { return VersionOlder(b.version, a.version); });
  return true;
}

}  // namespace corral::coordinator
