#include "coordinator/scheduler.h"

#include <algorithm>

#include "common/crypto.h"
#include "coordinator/store.h"

namespace corral::coordinator {

std::string QueueKey(const std::string& platform, uint64_t priority, const std::string& task_id) {
  return Key({platform, OrderedHex(priority), task_id});
}

namespace {
std::string TaskOfQueueKey(const std::string& key) {
  size_t z = key.rfind('\0');
  return z == std::string::npos ? key : key.substr(z + 1);
}
}  // namespace

Scheduler::Scheduler(const Store& store, TaskStateLoader loader, size_t cache_batch,
                     int64_t machine_fault_retry_s)
    : store_(store), loader_(std::move(loader)), batch_(cache_batch),
      machine_fault_retry_s_(machine_fault_retry_s) {}

TaskState* Scheduler::State(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it != tasks_.end()) return &it->second;
  TaskState st;
  if (!loader_(task_id, &st)) return nullptr;
  return &tasks_.emplace(task_id, std::move(st)).first->second;
}

void Scheduler::RestoreLease(const ActiveLease& lease) {
  TaskState* st = State(lease.task_id);
  if (!st) return;
  st->active[lease.lease_id] = lease;
  st->accounts.insert(lease.account);
  if (!lease.prefix.empty()) st->prefixes.insert(lease.prefix);
  if (lease.single && !st->decided) {
    st->wanted_before_single = st->wanted;
    st->wanted = 1;
  }
  leases_[lease.lease_id] = lease.task_id;
  by_volunteer_[lease.volunteer_id].push_back(lease.lease_id);
}

void Scheduler::AddTask(const std::string& platform, const std::string& queue_key) {
  PlatformQueue& q = queues_[platform];
  // Keys after the cursor are found by the next refill, in order.
  if (q.exhausted || queue_key <= q.cursor) q.ready.insert(queue_key);
}

void Scheduler::Refill(const std::string& platform, PlatformQueue& q) {
  if (q.exhausted) return;
  std::string prefix = platform;
  prefix.push_back('\0');
  size_t read = 0;
  std::string start = q.cursor.empty() ? prefix : q.cursor;
  bool skip_first = !q.cursor.empty();
  store_.Scan(Cf::kQueue, prefix, start, [&](std::string_view key, std::string_view) {
    if (skip_first && key == q.cursor) return true;
    skip_first = false;
    std::string k(key);
    q.cursor = k;
    ++read;
    auto it = tasks_.find(TaskOfQueueKey(k));
    // Tasks already in memory are cached only while they want replicas;
    // the others come back through MaybeReady when that changes.
    if (it == tasks_.end() ||
        (!it->second.decided && it->second.wanted > static_cast<int>(it->second.active.size())))
      q.ready.insert(k);
    return read < batch_;
  });
  if (read < batch_) q.exhausted = true;
}

void Scheduler::MaybeReady(const std::string& task_id, TaskState& st) {
  if (st.decided || st.wanted <= static_cast<int>(st.active.size())) return;
  PlatformQueue& q = queues_[st.platform];
  if (st.needs_established) {
    q.ready.erase(st.queue_key);
    q.standing_only.insert(st.queue_key);
  } else if (q.exhausted || st.queue_key <= q.cursor) {
    q.standing_only.erase(st.queue_key);
    q.ready.insert(st.queue_key);
  }
}

std::vector<ActiveLease> Scheduler::Lease(const std::string& volunteer_id, const std::string& account,
                                          const std::vector<std::string>& platforms, int slots,
                                          int64_t now, int lease_seconds) {
  return Lease(Asker{volunteer_id, account, "", {}}, platforms, slots, now, lease_seconds);
}

std::vector<ActiveLease> Scheduler::Lease(const Asker& asker, const std::vector<std::string>& platforms,
                                          int slots, int64_t now, int lease_seconds) {
  int bucket = static_cast<int>(((now % kRateWindow) + kRateWindow) % kRateWindow);
  if (rate_second_[bucket] != now) {
    rate_second_[bucket] = now;
    rate_count_[bucket] = 0;
  }
  ++rate_count_[bucket];
  std::vector<ActiveLease> out;
  // Leases `key`'s task to the asker when its rules allow; true when it did.
  auto offer = [&](const std::string& key, TaskState* st, PlatformQueue& q) {
    // An account whose machine failed this task may retry it once its
    // delay passed (network prefixes are checked again by the verifier).
    auto retry = st->retries.find(asker.account);
    bool retry_due = retry != st->retries.end() && retry->second.waiting && now >= retry->second.at;
    if (!retry_due) {
      if (st->accounts.count(asker.account)) return false;
      if (!asker.prefix.empty() && st->prefixes.count(asker.prefix)) return false;
    }
    if (retry_due) retry->second.waiting = false;
    std::string task_id = TaskOfQueueKey(key);
    bool fresh = st->accounts.empty() && st->active.empty();
    ActiveLease lease{RandomHex(16), task_id,  asker.volunteer_id,     asker.account,
                      now,           now + lease_seconds, asker.prefix};
    if (fresh && asker.single && asker.single(st->platform)) {
      lease.single = true;
      st->wanted_before_single = st->wanted;
      st->wanted = 1;
    }
    st->active[lease.lease_id] = lease;
    st->accounts.insert(asker.account);
    if (!asker.prefix.empty()) st->prefixes.insert(asker.prefix);
    leases_[lease.lease_id] = task_id;
    by_volunteer_[asker.volunteer_id].push_back(lease.lease_id);
    if (st->wanted <= static_cast<int>(st->active.size())) {
      q.ready.erase(key);
      q.standing_only.erase(key);
    }
    out.push_back(std::move(lease));
    return true;
  };
  for (const auto& platform : platforms) {
    if (static_cast<int>(out.size()) >= slots) break;
    PlatformQueue& q = queues_[platform];
    // Tasks that wait for standing go first to those who have it: they are
    // few, and only these askers can finish them.
    if (asker.established) {
      for (auto it = q.standing_only.begin();
           it != q.standing_only.end() && static_cast<int>(out.size()) < slots;) {
        std::string key = *it++;
        TaskState* st = State(TaskOfQueueKey(key));
        if (!st || st->decided || st->wanted <= static_cast<int>(st->active.size()) || !st->needs_established) {
          q.standing_only.erase(key);  // parked until MaybeReady brings it back
          if (st) MaybeReady(TaskOfQueueKey(key), *st);
          continue;
        }
        offer(key, st, q);
      }
    }
    // Cursor into the ready set: skipped entries (this account's own tasks)
    // stay for other volunteers.
    std::string after;
    bool started = false;
    while (static_cast<int>(out.size()) < slots) {
      if (q.ready.size() < batch_ / 2) Refill(platform, q);
      auto it = started ? q.ready.upper_bound(after) : q.ready.begin();
      if (it == q.ready.end()) {
        if (q.exhausted) break;
        Refill(platform, q);
        it = started ? q.ready.upper_bound(after) : q.ready.begin();
        if (it == q.ready.end()) break;
      }
      std::string key = *it;
      after = key;
      started = true;
      TaskState* st = State(TaskOfQueueKey(key));
      if (!st || st->decided || st->wanted <= static_cast<int>(st->active.size())) {
        q.ready.erase(key);  // parked until MaybeReady brings it back
        continue;
      }
      if (st->needs_established) {
        // Out of the newcomers' way: a newcomer would only skip it.
        q.ready.erase(key);
        q.standing_only.insert(key);
        if (!asker.established) continue;
      }
      offer(key, st, q);
    }
  }
  return out;
}

const ActiveLease* Scheduler::FindLease(const std::string& lease_id) const {
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return nullptr;
  auto t = tasks_.find(it->second);
  if (t == tasks_.end()) return nullptr;
  auto l = t->second.active.find(lease_id);
  return l == t->second.active.end() ? nullptr : &l->second;
}

std::map<std::string, int64_t> Scheduler::Heartbeat(const std::string& volunteer_id,
                                                    const std::vector<std::string>& lease_ids,
                                                    int64_t now, int lease_seconds,
                                                    std::vector<std::string>* cancelled) {
  std::map<std::string, int64_t> extended;
  for (const auto& id : lease_ids) {
    auto it = leases_.find(id);
    ActiveLease* lease = nullptr;
    if (it != leases_.end()) {
      auto t = tasks_.find(it->second);
      if (t != tasks_.end()) {
        auto l = t->second.active.find(id);
        if (l != t->second.active.end()) lease = &l->second;
      }
    }
    if (!lease || lease->volunteer_id != volunteer_id || lease->deadline < now) {
      cancelled->push_back(id);
      continue;
    }
    lease->deadline = now + lease_seconds;
    extended[id] = lease->deadline;
  }
  return extended;
}

std::vector<ActiveLease> Scheduler::ExpireLeases(int64_t now) {
  std::vector<ActiveLease> expired;
  for (auto it = leases_.begin(); it != leases_.end();) {
    auto t = tasks_.find(it->second);
    if (t == tasks_.end()) {
      it = leases_.erase(it);
      continue;
    }
    auto l = t->second.active.find(it->first);
    if (l == t->second.active.end() || l->second.deadline >= now) {
      ++it;
      continue;
    }
    expired.push_back(l->second);
    // The account may try again later; someone else gets it first if ready.
    ReleaseHolder(t->second, l->second);
    t->second.active.erase(l);
    MaybeReady(t->first, t->second);
    it = leases_.erase(it);
  }
  return expired;
}

bool Scheduler::ReturnLease(const std::string& volunteer_id, const std::string& lease_id,
                            ActiveLease* out) {
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return false;
  auto t = tasks_.find(it->second);
  if (t == tasks_.end()) return false;
  auto l = t->second.active.find(lease_id);
  if (l == t->second.active.end() || l->second.volunteer_id != volunteer_id) return false;
  *out = l->second;
  ReleaseHolder(t->second, l->second);
  t->second.active.erase(l);
  MaybeReady(t->first, t->second);
  leases_.erase(it);
  return true;
}

int64_t MachineFaultRetryDelay(int failures, int64_t first_s) {
  int64_t delay = std::max<int64_t>(1, first_s);
  for (int i = 1; i < failures && delay < 86400; ++i) delay *= 2;
  return std::min<int64_t>(delay, 86400);
}

void Scheduler::OnResult(const std::string& task_id, const std::string& lease_id,
                         const std::string& account, int wanted, bool machine_fault, int64_t now,
                         bool needs_established) {
  leases_.erase(lease_id);
  TaskState* st = State(task_id);
  if (!st) return;
  st->active.erase(lease_id);
  st->accounts.insert(account);
  if (machine_fault) {
    TaskState::Retry& r = st->retries[account];
    ++r.failures;
    r.at = now + MachineFaultRetryDelay(r.failures, machine_fault_retry_s_);
    r.waiting = true;
  } else {
    st->retries.erase(account);
  }
  st->wanted = wanted;
  st->needs_established = needs_established;
  MaybeReady(task_id, *st);
}

std::vector<ActiveLease> Scheduler::OnDecided(const std::string& task_id) {
  std::vector<ActiveLease> cancelled;
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return cancelled;
  for (auto& [id, lease] : it->second.active) {
    cancelled.push_back(lease);
    leases_.erase(id);
  }
  queues_[it->second.platform].ready.erase(it->second.queue_key);
  queues_[it->second.platform].standing_only.erase(it->second.queue_key);
  // The queue entry is gone from the store too; should the task come up
  // again, the loader reads it as decided.
  tasks_.erase(it);
  return cancelled;
}

std::vector<ActiveLease> Scheduler::Cancel(const std::string& task_id, const std::string& platform,
                                           const std::string& queue_key) {
  std::vector<ActiveLease> cancelled;
  queues_[platform].ready.erase(queue_key);
  queues_[platform].standing_only.erase(queue_key);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return cancelled;
  for (auto& [id, lease] : it->second.active) {
    cancelled.push_back(lease);
    leases_.erase(id);
  }
  tasks_.erase(it);
  return cancelled;
}

void Scheduler::ReleaseHolder(TaskState& st, const ActiveLease& lease) {
  st.accounts.erase(lease.account);
  if (!lease.prefix.empty()) st.prefixes.erase(lease.prefix);
  if (lease.single && !st.decided) st.wanted = std::max(st.wanted, st.wanted_before_single);
}

bool Scheduler::LeaseKnownAnswer(const Asker& asker, const std::string& task_id, int64_t now,
                                 int lease_seconds, ActiveLease* out) {
  TaskState* st = State(task_id);
  if (!st || !st->decided) return false;
  if (st->accounts.count(asker.account)) return false;
  if (!asker.prefix.empty() && st->prefixes.count(asker.prefix)) return false;
  ActiveLease lease{RandomHex(16), task_id,  asker.volunteer_id,     asker.account,
                    now,           now + lease_seconds, asker.prefix};
  st->active[lease.lease_id] = lease;
  st->accounts.insert(asker.account);
  if (!asker.prefix.empty()) st->prefixes.insert(asker.prefix);
  leases_[lease.lease_id] = task_id;
  by_volunteer_[asker.volunteer_id].push_back(lease.lease_id);
  *out = std::move(lease);
  return true;
}

void Scheduler::OnKnownAnswerResult(const std::string& task_id, const std::string& lease_id) {
  leases_.erase(lease_id);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  it->second.active.erase(lease_id);
  if (it->second.decided && it->second.active.empty()) tasks_.erase(it);
}

int Scheduler::InFlight(const std::string& volunteer_id) {
  auto it = by_volunteer_.find(volunteer_id);
  if (it == by_volunteer_.end()) return 0;
  auto& ids = it->second;
  ids.erase(std::remove_if(ids.begin(), ids.end(), [&](const std::string& id) {
              const ActiveLease* l = FindLease(id);
              return !l || l->volunteer_id != volunteer_id;
            }),
            ids.end());
  if (ids.empty()) {
    by_volunteer_.erase(it);
    return 0;
  }
  return static_cast<int>(ids.size());
}

std::vector<std::string> Scheduler::LeasesOf(const std::string& volunteer_id) {
  if (InFlight(volunteer_id) == 0) return {};
  return by_volunteer_[volunteer_id];
}

std::vector<std::string> Scheduler::LeasesOfTask(const std::string& task_id) const {
  std::vector<std::string> ids;
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return ids;
  for (const auto& entry : it->second.active) ids.push_back(entry.first);
  return ids;
}

double Scheduler::LeaseRate(int64_t now) const {
  int64_t total = 0;
  for (int i = 0; i < kRateWindow; ++i)
    if (now - rate_second_[i] < kRateWindow && now >= rate_second_[i]) total += rate_count_[i];
  return static_cast<double>(total) / kRateWindow;
}

int Scheduler::NextPollSeconds(const std::vector<std::string>& platforms, int got, int64_t now) {
  bool ready = false;
  for (const auto& p : platforms) {
    auto it = queues_.find(p);
    if (it != queues_.end() && (!it->second.ready.empty() || !it->second.exhausted)) ready = true;
  }
  if (got > 0) return ready ? 1 : 10;
  // Nothing for this volunteer. Idle pollers wait longer when there is no
  // work at all, and longer still when the coordinator is busy, so that
  // they never crowd out the requests of volunteers with work to report.
  constexpr double kBusyRate = 1000;  // lease requests per second
  double wait = ready ? 15 : 60;
  double rate = LeaseRate(now);
  if (rate > kBusyRate) wait *= rate / kBusyRate;
  return static_cast<int>(std::min(wait, 600.0));
}

size_t Scheduler::cached(const std::string& platform) const {
  auto it = queues_.find(platform);
  return it == queues_.end() ? 0 : it->second.ready.size();
}

}  // namespace corral::coordinator
