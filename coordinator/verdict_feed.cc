#include "coordinator/verdict_feed.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/protocol.h"
#include "coordinator/records.h"
#include "coordinator/store.h"

namespace corral::coordinator {

bool IsFailingStatus(const std::string& s) {
  return s == "tests_failed" || s == "import_failed" || s == "install_failed" ||
         s == "build_failed" || s == "timeout" || s == "resource_exhausted";
}

void MarkRegression(const Matrix& m, FeedEntry* e) {
  e->previous_version.clear();
  e->previous_status.clear();
  e->regression = false;
  // Rows are newest first: the older versions follow the entry's own row.
  auto row = std::find_if(m.rows.begin(), m.rows.end(),
                          [&](const MatrixRow& r) { return r.version == e->version; });
  if (row == m.rows.end()) return;
  for (auto older = row + 1; older != m.rows.end(); ++older) {
    auto cell = older->cells.find(e->platform);
    if (cell == older->cells.end()) continue;
    const std::string& s = cell->second.status;
    if (s == "pending" || s == "inconclusive") continue;
    e->previous_version = older->version;
    e->previous_status = s;
    break;
  }
  e->regression = IsFailingStatus(e->status) && IsWorkingStatus(e->previous_status);
}

std::string WithdrawalFeedValue(const std::string& status, int64_t decided_at, int wheels_withdrawn) {
  return nlohmann::json{{"withdrawn", status}, {"decided_at", decided_at}, {"wheels", wheels_withdrawn}}.dump();
}

namespace {

void MarkRegressions(const Store& store, std::vector<FeedEntry>* entries) {
  std::map<std::string, Matrix> matrices;
  for (FeedEntry& e : *entries) {
    if (e.status == "withdrawn") continue;
    auto it = matrices.find(e.project);
    if (it == matrices.end()) {
      Matrix m;
      if (!LoadMatrix(store, e.project, {}, &m)) m.project = e.project;
      it = matrices.emplace(e.project, std::move(m)).first;
    }
    MarkRegression(it->second, &e);
  }
}

}  // namespace

std::vector<FeedEntry> RecentVerdicts(const Store& store, size_t limit) {
  std::vector<FeedEntry> out;
  std::set<std::string> seen;
  if (limit == 0) return out;
  store.Scan(Cf::kVerdictTimes, "", "", [&](std::string_view key, std::string_view value) {
    auto parts = SplitKey(key);
    if (parts.size() != 2 || parts[0].size() != 16) return true;
    const std::string& task_id = parts[1];
    int64_t decided_at = static_cast<int64_t>(UINT64_MAX - std::stoull(parts[0], nullptr, 16));
    nlohmann::json j;
    VerdictRecord v;
    TaskRecord t;
    if (!value.empty()) {  // a withdrawal
      nlohmann::json w = ParseJsonOrDiscarded(value);
      if (!w.is_object() || !w.value("withdrawn", nlohmann::json()).is_string() ||
          !store.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t))
        return true;
      FeedEntry e;
      e.task_id = task_id;
      e.project = t.project;
      e.version = t.version;
      e.platform = t.platform;
      e.status = "withdrawn";
      e.decided_at = decided_at;
      e.withdrawn_status = w["withdrawn"].get<std::string>();
      e.withdrawn_decided_at = w.value("decided_at", int64_t{0});
      e.wheels_withdrawn = w.value("wheels", 0);
      e.summary = "a volunteer that helped decide it was caught lying; the task is verified again";
      out.push_back(std::move(e));
      return out.size() < limit;
    }
    // A task decided again (its verdict reopened) keeps its older key: only
    // the key of its current decision counts.
    if (!store.GetJson(Cf::kVerdicts, task_id, &j) || !FromJson(j, &v) || v.decided_at != decided_at ||
        v.status == "unsupported" || !seen.insert(task_id).second)
      return true;
    if (!store.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t)) return true;
    FeedEntry e;
    e.task_id = task_id;
    e.project = t.project;
    e.version = t.version;
    e.platform = t.platform;
    e.status = v.status;
    e.summary = v.summary;
    e.agreeing = v.agreeing;
    e.decided_at = v.decided_at;
    out.push_back(std::move(e));
    return out.size() < limit;
  });
  MarkRegressions(store, &out);
  return out;
}

std::vector<FeedEntry> ProjectVerdicts(const Store& store, const std::string& name, size_t limit) {
  std::vector<FeedEntry> out;
  Matrix m;
  if (!LoadMatrix(store, name, {}, &m)) return out;
  for (const MatrixRow& row : m.rows) {
    for (const auto& [platform, cell] : row.cells) {
      if (cell.status == "pending" || cell.status == "unsupported" || cell.decided_at == 0) continue;
      FeedEntry e;
      e.task_id = cell.task_id;
      e.project = m.project;
      e.version = row.version;
      e.platform = platform;
      e.status = cell.status;
      e.summary = cell.summary;
      e.agreeing = cell.agreeing;
      e.decided_at = cell.decided_at;
      MarkRegression(m, &e);
      out.push_back(std::move(e));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const FeedEntry& a, const FeedEntry& b) {
    return a.decided_at != b.decided_at ? a.decided_at > b.decided_at : a.task_id < b.task_id;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace corral::coordinator
