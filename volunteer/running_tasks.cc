#include "volunteer/running_tasks.h"

#include <algorithm>

#include "common/fs_util.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

const char* TaskPhaseName(TaskPhase phase) {
  switch (phase) {
    case TaskPhase::kFetching: return "fetching";
    case TaskPhase::kBuilding: return "building";
    case TaskPhase::kJournalled: return "journalled";
    case TaskPhase::kSubmitting: return "submitting";
  }
  return "unknown";
}

RunningTasks::RunningTasks(fs::path dir) : dir_(std::move(dir)) {}

std::chrono::milliseconds RunningTasks::RenewAfter(int64_t deadline, int64_t now_unix) {
  // A lease without a deadline (an old coordinator) is renewed every minute.
  int64_t left_ms = deadline > 0 ? (deadline - now_unix) * 1000 : 180'000;
  return std::chrono::milliseconds(std::clamp<int64_t>(left_ms / 3, 1000, 60'000));
}

void RunningTasks::Start(const TaskSpec& task, Clock::time_point now, int64_t now_unix) {
  Task t;
  t.spec = task;
  t.started = t.phase_started = now;
  t.renew_at = now + RenewAfter(task.lease_deadline, now_unix);
  WriteMarker(t);
  tasks_[task.lease_id] = std::move(t);
}

void RunningTasks::SetPhase(const std::string& lease_id, TaskPhase phase) {
  auto it = tasks_.find(lease_id);
  if (it == tasks_.end() || it->second.phase == phase) return;
  it->second.phase = phase;
  it->second.phase_started = Clock::now();
}

bool RunningTasks::BeginJournal(const std::string& lease_id) {
  auto it = tasks_.find(lease_id);
  if (it == tasks_.end() || it->second.abandoned || it->second.cancelled) return false;
  SetPhase(lease_id, TaskPhase::kJournalled);
  return true;
}

void RunningTasks::Journalled(const std::string& lease_id) { RemoveMarker(lease_id); }

void RunningTasks::Finish(const std::string& lease_id) {
  auto it = tasks_.find(lease_id);
  if (it == tasks_.end()) return;
  // An abandoned task's marker stays until its lease was returned; a
  // cancelled one's lease is over.
  if (!it->second.abandoned) RemoveMarker(lease_id);
  tasks_.erase(it);
}

bool RunningTasks::Renewable(const Task& t) const {
  return !t.abandoned && !t.cancelled &&
         (t.phase == TaskPhase::kFetching || t.phase == TaskPhase::kBuilding);
}

std::vector<std::string> RunningTasks::LeasesToRenew(Clock::time_point now) const {
  std::vector<std::string> out;
  bool due = false;
  for (const auto& [id, t] : tasks_) {
    if (!Renewable(t)) continue;
    out.push_back(id);
    due = due || t.renew_at <= now;
  }
  if (!due) out.clear();
  return out;
}

RunningTasks::Clock::time_point RunningTasks::NextRenewal() const {
  auto next = Clock::time_point::max();
  for (const auto& [id, t] : tasks_)
    if (Renewable(t)) next = std::min(next, t.renew_at);
  return next;
}

void RunningTasks::Extended(const std::string& lease_id, int64_t deadline, Clock::time_point now,
                            int64_t now_unix) {
  auto it = tasks_.find(lease_id);
  if (it == tasks_.end()) return;
  it->second.spec.lease_deadline = deadline;
  it->second.renew_at = now + RenewAfter(deadline, now_unix);
}

void RunningTasks::RenewalFailed(Clock::time_point now, std::chrono::milliseconds retry) {
  for (auto& [id, t] : tasks_)
    if (Renewable(t) && t.renew_at <= now) t.renew_at = now + retry;
}

bool RunningTasks::Cancel(const std::string& lease_id) {
  auto it = tasks_.find(lease_id);
  if (it == tasks_.end()) return false;
  it->second.cancelled = true;
  RemoveMarker(lease_id);
  return true;
}

std::vector<std::string> RunningTasks::AbandonUnjournalled() {
  std::vector<std::string> out;
  for (auto& [id, t] : tasks_) {
    if (t.abandoned || t.cancelled) continue;
    if (t.phase != TaskPhase::kFetching && t.phase != TaskPhase::kBuilding) continue;
    t.abandoned = true;
    out.push_back(id);
  }
  return out;
}

void RunningTasks::ForgetMarkers(const std::vector<std::string>& lease_ids) {
  for (const auto& id : lease_ids) RemoveMarker(id);
}

std::vector<std::string> RunningTasks::Leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (dir.empty()) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".lease") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RunningTasks::InputDigests() const {
  std::vector<std::string> out;
  for (const auto& [id, t] : tasks_) out.push_back(t.spec.sha256);
  return out;
}

nlohmann::json RunningTasks::ToJson(Clock::time_point now) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, t] : tasks_) {
    std::string phase = TaskPhaseName(t.phase);
    if (t.abandoned) phase += " (abandoned)";
    if (t.cancelled) phase += " (cancelled)";
    out.push_back({{"lease_id", id},
                   {"task_id", t.spec.task_id},
                   {"project", t.spec.project},
                   {"version", t.spec.version},
                   {"filename", t.spec.filename},
                   {"platform", t.spec.platform},
                   {"phase", phase},
                   {"elapsed_s", std::chrono::duration<double>(now - t.started).count()},
                   {"phase_elapsed_s", std::chrono::duration<double>(now - t.phase_started).count()},
                   {"lease_deadline", t.spec.lease_deadline}});
  }
  return out;
}

void RunningTasks::WriteMarker(const Task& t) {
  if (dir_.empty()) return;
  std::string err;
  nlohmann::json j = {{"lease_id", t.spec.lease_id}, {"task_id", t.spec.task_id},
                      {"project", t.spec.project}, {"version", t.spec.version},
                      {"platform", t.spec.platform}, {"started_at", NowSeconds()}};
  // Best effort: without the marker, a kill -9 leaves the lease to expire.
  if (EnsureDir(dir_, &err)) WriteFileAtomic(dir_ / (t.spec.lease_id + ".lease"), j.dump(), &err, 0600);
}

void RunningTasks::RemoveMarker(const std::string& lease_id) {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove(dir_ / (lease_id + ".lease"), ec);
}

}  // namespace corral::volunteer
