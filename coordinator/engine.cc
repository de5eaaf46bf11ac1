#include "coordinator/engine.h"

#include "common/text.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <unordered_set>

#include "common/protocol.h"
#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/isolation.h"
#include "common/names.h"
#include "common/pep440.h"
#include "common/platform.h"
#include "coordinator/credit.h"
#include "coordinator/network_prefix.h"
#include "coordinator/priority.h"
#include "coordinator/snapshot_import.h"
#include "coordinator/task_factory.h"
#include "coordinator/wheel_index.h"

namespace corral::coordinator {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Counters, projects, tasks, verdicts, results,
                                                volunteers, accounts, unsupported, inconclusive)

namespace {


bool IsHexKey(const std::string& s) { return IsLowerHex(s, 64); }

// PEP 440's canonical spelling, or the text as given when it is not a version.
std::string CanonicalVersion(const std::string& v) {
  Version parsed;
  std::string err;
  return ParseVersion(v, &parsed, &err) ? NormalizeVersion(parsed) : v;
}

bool VersionLess(const std::string& a, const std::string& b) {
  Version va, vb;
  std::string err;
  bool pa = ParseVersion(a, &va, &err), pb = ParseVersion(b, &vb, &err);
  if (pa && pb) return CompareVersions(va, vb) < 0;
  if (pa != pb) return !pa;  // unparsable versions sort oldest
  return a < b;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}
Engine::~Engine() = default;

bool Engine::Open(std::string* err) {
  std::vector<std::string> fresh;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!(options_.read_only ? store_.OpenReadOnly(options_.db_dir, err, options_.memory)
                             : store_.Open(options_.db_dir, err, /*bulk_load=*/false, options_.memory)))
      return false;
    nlohmann::json j;
    if (store_.GetJson(Cf::kMeta, "counters", &j)) FromJson(j, &counters_);
    if (store_.GetJson(Cf::kMeta, "platforms", &j) && j.is_array())
      for (const auto& t : j)
        if (t.is_string()) platforms_.push_back(t.get<std::string>());
    std::string flag;
    first_sync_done_ = store_.Get(Cf::kMeta, "first_sync_done", &flag);
    scheduler_ = std::make_unique<Scheduler>(
        store_, [this](const std::string& id, TaskState* st) { return LoadTaskState(id, st); }, 512,
        options_.machine_fault_retry_s);
    // Active leases come back into the scheduler with their deadlines.
    store_.Scan(Cf::kLeases, "", "", [&](std::string_view, std::string_view value) {
      LeaseRecord l;
      auto lj = ParseJsonOrDiscarded(value);
      if (FromJson(lj, &l) && l.state == "active")
        scheduler_->RestoreLease({l.lease_id, l.task_id, l.volunteer_id, l.account, l.issued_at,
                                  l.deadline, l.prefix, l.single});
      return true;
    });
    LoadVerifierState();
    // The operator's trust and clearances, recorded on each account (pages
    // show them), then the flagged accounts in memory.
    trusted_accounts_.clear();
    trusted_accounts_.insert(options_.trusted_accounts.begin(), options_.trusted_accounts.end());
    const std::set<std::string> cleared(options_.cleared_accounts.begin(), options_.cleared_accounts.end());
    std::unordered_set<std::string> flagged;
    WriteSet w;
    const int64_t opened_at = NowSeconds();
    store_.Scan(Cf::kAccounts, "", "", [&](std::string_view key_view, std::string_view value) {
      AccountRecord a;
      if (!FromJson(ParseJsonOrDiscarded(value), &a)) return true;
      const std::string key(key_view);
      bool changed = false;
      if (bool trusted = trusted_accounts_.count(key) > 0; a.trusted != trusted) {
        a.trusted = trusted;
        changed = true;
      }
      if (a.suspended && cleared.count(key)) {
        spdlog::warn("account {} ({}) cleared by the operator; it had been flagged: {}", key.substr(0, 16),
                     a.name, a.suspended_reason);
        a.suspended = false;
        a.cleared_at = opened_at;
        changed = true;
      }
      if (a.suspended) flagged.insert(key);
      if (changed) w.PutJson(Cf::kAccounts, key, nlohmann::json(a));
      return true;
    });
    if (!options_.read_only && !w.empty() && !store_.Write(w, true, err)) return false;
    flagged_accounts_ = std::move(flagged);
    for (const auto& t : options_.platforms)
      if (std::find(platforms_.begin(), platforms_.end(), t) == platforms_.end())
        fresh.push_back(t);
  }
  if (fresh.empty()) return true;
  return AddPlatforms(fresh, NowSeconds(), err);
}

void Engine::PutCounters(WriteSet& w) { w.PutJson(Cf::kMeta, "counters", nlohmann::json(counters_)); }

bool Engine::LoadProject(const std::string& name, ProjectRecord* out, bool cached) {
  if (cached) return projects_cache_.Get(store_, name, out);
  nlohmann::json j;
  return store_.GetJson(Cf::kProjects, name, &j) && FromJson(j, out);
}

void Engine::LoadVotes(const std::string& task_id, std::vector<Vote>* votes,
                       std::vector<ResultPayload>* payloads, const KnownResult* known) {
  auto add = [&](const ResultRecord& r, const ResultPayload& p) {
    Vote v;
    v.lease_id = r.lease_id;
    v.volunteer_id = r.volunteer_id;
    v.account = r.account;
    v.outcome = p.outcome;
    v.failing_tests = p.failing_tests;
    v.wheel_content_digest = p.wheel_content_digest;
    v.total_seconds = p.total_seconds;
    v.summary = p.summary;
    v.prefix = r.prefix;
    v.excluded = r.known_answer || suspended_.count(r.volunteer_id) > 0;
    v.established = IsEstablished(r.volunteer_id, r.account);
    votes->push_back(std::move(v));
    if (payloads) payloads->push_back(p);
  };
  const std::string known_key =
      known ? Key({known->record.task_id, known->record.lease_id}) : std::string();
  bool known_added = !known;
  store_.Scan(Cf::kResults, Key({task_id, ""}), "", [&](std::string_view key, std::string_view value) {
    if (!known_added && key >= known_key) {
      add(known->record, known->payload);
      known_added = true;
      if (key == known_key) return true;  // already stored: the one in memory stands for it
    }
    ResultRecord parsed;
    ResultPayload parsed_payload;
    if (!FromJson(ParseJsonOrDiscarded(value), &parsed)) return true;
    std::string err;
    if (!ParseStoredResultEnvelope(parsed.envelope, &parsed_payload, &err)) {
      spdlog::error("stored result {} of task {} no longer parses: {}", parsed.lease_id, task_id, err);
      return true;
    }
    add(parsed, parsed_payload);
    return true;
  });
  if (!known_added) add(known->record, known->payload);
}

bool Engine::LoadTaskState(const std::string& task_id, TaskState* st) {
  nlohmann::json j;
  TaskRecord t;
  if (!store_.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t)) return false;
  st->platform = t.platform;
  st->queue_key = QueueKey(t.platform, t.priority, t.task_id);
  st->decided = t.decided || t.cancelled;  // a cancelled task is never leased
  if (st->decided) return true;
  std::vector<Vote> votes;
  if (t.results > 0) LoadVotes(task_id, &votes, nullptr);
  std::set<std::string> voted;
  for (const auto& v : votes) {
    st->accounts.insert(v.account);
    if (!v.prefix.empty() && options_.policy.distinct_prefix) st->prefixes.insert(v.prefix);
    if (!IsSpurious(v.outcome)) voted.insert(v.account);
  }
  // After a restart an account whose machine only failed here may retry at
  // once (the delay is not stored).
  for (const auto& v : votes) {
    if (!IsSpurious(v.outcome) || voted.count(v.account)) continue;
    TaskState::Retry& r = st->retries[v.account];
    ++r.failures;
    r.waiting = true;
  }
  QuorumDecision d = coordinator::Decide(votes, options_.policy);
  st->wanted = d.kind == QuorumDecision::Kind::kNeedMore ? d.wanted : 0;
  st->needs_established = d.needs_established;
  return true;
}

void Engine::CreateTasks(WriteSet& w, const std::vector<FileRecord>& files,
                         const std::string& platform, uint64_t priority, int64_t now,
                         std::set<std::string>* created, ProjectRecord* project,
                         std::vector<std::pair<std::string, std::string>>* queued) {
  PlatformTag tag;
  std::string err;
  if (files.empty() || !ParsePlatformTag(platform, &tag, &err)) return;
  const FileRecord* input = ChooseInput(files, tag);
  std::string no_input;
  if (!input) {
    // A wheel-only release with no wheel for this platform: there is nothing
    // to build, so the answer is known without a volunteer.
    input = &files.front();
    no_input = "no sdist, and none of its wheels (";
    for (size_t i = 0; i < files.size(); ++i) no_input += (i ? ", " : "") + files[i].filename;
    no_input += ") is for " + platform;
  }
  std::string id = TaskId(input->project, input->version, input->sha256, platform);
  if (created->count(id) || store_.Has(Cf::kTasks, id)) return;
  created->insert(id);
  TaskRecord t;
  t.task_id = id;
  t.project = input->project;
  t.version = input->version;
  t.filename = input->filename;
  t.url = input->url;
  t.sha256 = input->sha256;
  t.size = input->size;
  t.platform = platform;
  t.requires_python = input->requires_python;
  t.priority = priority;
  t.created_at = now;
  bool excluded = false;
  std::string evidence;
  if (!RequiresPythonExcludes(input->requires_python, tag, &excluded, &evidence, &err))
    spdlog::warn("task {} ({} on {}): cannot read Requires-Python: {}; a volunteer will try it",
                 id.substr(0, 12), input->filename, platform, err);
  if (!excluded && !no_input.empty()) {
    excluded = true;
    evidence = no_input;
  }
  w.Put(Cf::kProjectTasks, Key({t.project, t.version, platform, id}), "");
  ++counters_.tasks;
  ++project->tasks;
  if (excluded) {
    // Decided without building: no lease will ever be handed out for it.
    t.decided = true;
    VerdictRecord v;
    v.task_id = id;
    v.status = "unsupported";
    v.summary = evidence;
    v.evidence = evidence + " (decided by the coordinator without building)";
    v.decided_at = now;
    w.PutJson(Cf::kVerdicts, id, nlohmann::json(v));
    ++counters_.verdicts;
    ++counters_.unsupported;
    ++project->verdicts;
  } else {
    std::string qk = QueueKey(platform, priority, id);
    w.Put(Cf::kQueue, qk, "");
    queued->emplace_back(platform, qk);
  }
  w.PutJson(Cf::kTasks, id, nlohmann::json(t));
}

int64_t Engine::ProjectSerial(const std::string& project) {
  ProjectRecord p;
  return LoadProject(project, &p) ? p.last_serial : -1;
}

bool Engine::ProjectSyncState(const std::string& project, int64_t* serial, std::string* etag) {
  ProjectRecord p;
  if (!LoadProject(project, &p)) return false;
  *serial = p.last_serial;
  *etag = p.etag;
  return true;
}

bool Engine::RecordProjectSerial(const std::string& project, int64_t serial, std::string* err) {
  std::lock_guard<std::mutex> lock(mu_);
  ProjectRecord p;
  if (!LoadProject(project, &p) || p.last_serial == serial) return true;
  p.last_serial = serial;
  WriteSet w;
  w.PutJson(Cf::kProjects, project, nlohmann::json(p));
  return store_.Write(w, false, err);
}

bool Engine::FirstSyncDone() {
  std::lock_guard<std::mutex> lock(mu_);
  return first_sync_done_;
}

bool Engine::MarkFirstSyncDone(std::string* err) {
  std::lock_guard<std::mutex> lock(mu_);
  if (first_sync_done_) return true;
  WriteSet w;
  w.Put(Cf::kMeta, "first_sync_done", "1");
  if (!store_.Write(w, true, err)) return false;
  first_sync_done_ = true;
  return true;
}

bool Engine::IngestProject(const std::string& display_name, int64_t serial, const std::string& etag,
                           const std::vector<IndexFile>& files, int64_t now, IngestReport* report,
                           std::string* err) {
  // One project at a time. The engine's lock, which every lease and result
  // takes, is held only for the second half: a project with thousands of
  // files takes tens of milliseconds to compare with what is stored.
  std::lock_guard<std::mutex> ingesting(ingest_mu_);
  const std::string name = NormalizeProjectName(display_name);

  // First, without the engine's lock: how the page differs from the files
  // stored (only this function writes a project's files).
  std::map<std::string, FileRecord> before;  // by filename
  store_.Scan(Cf::kFiles, Key({name, ""}), "", [&](std::string_view, std::string_view value) {
    FileRecord f;
    if (FromJson(ParseJsonOrDiscarded(value), &f)) before[f.filename] = f;
    return true;
  });
  WriteSet w;
  std::vector<std::pair<FileRecord, std::string>> to_cancel;  // a stored file, and why
  std::vector<FileRecord> to_restore;                         // files un-yanked
  std::vector<std::string> versions;                          // of the page's files, in order
  std::map<std::string, std::vector<FileRecord>> releases;    // inputs: files not yanked
  std::map<std::string, int64_t> uploaded;                    // newest upload per release
  for (const auto& f : files) {
    FileRecord r;
    r.project = name;
    r.version = f.version;
    r.filename = f.filename;
    r.url = f.url;
    r.sha256 = f.sha256;
    r.size = f.size;
    r.requires_python = f.requires_python;
    r.yanked = f.yanked;
    r.yanked_reason = f.yanked_reason;
    r.upload_time = f.upload_time;
    r.kind = f.kind;
    r.core_metadata = f.core_metadata;
    r.core_metadata_sha256 = f.core_metadata_sha256;
    nlohmann::json rj = r;
    auto old = before.find(r.filename);
    if (old == before.end() || nlohmann::json(old->second) != rj)
      w.PutJson(Cf::kFiles, Key({name, r.version, r.filename}), rj);
    if (old != before.end()) {
      const FileRecord& o = old->second;
      if (o.sha256 != r.sha256)
        to_cancel.emplace_back(o, "the index now serves other bytes (sha256 " + r.sha256.substr(0, 12) +
                                      "...) under the name " + o.filename);
      else if (!o.yanked && r.yanked)
        to_cancel.emplace_back(o, "its input " + o.filename + " was yanked" +
                                      (r.yanked_reason.empty() ? "" : " (" + r.yanked_reason + ")"));
      else if (o.yanked && !r.yanked)
        to_restore.push_back(r);
    }
    versions.push_back(r.version);
    int64_t t = ParseUploadTime(r.upload_time);
    auto [u, _] = uploaded.emplace(r.version, t);
    u->second = std::max(u->second, t);
    if (!r.yanked) releases[r.version].push_back(std::move(r));
  }
  if (options_.latest_only && !releases.empty()) {
    std::string newest = releases.begin()->first;
    for (const auto& [v, _] : releases)
      if (VersionLess(newest, v)) newest = v;
    for (auto it = releases.begin(); it != releases.end();)
      it = it->first == newest ? std::next(it) : releases.erase(it);
  }

  // Then, under the engine's lock, what leases and results also touch: the
  // project's record, its tasks, the scheduler and the counters.
  std::lock_guard<std::mutex> lock(mu_);
  IngestReport rep;
  Counters saved = counters_;
  ProjectRecord project;
  bool existed = LoadProject(name, &project);
  if (!existed) {
    project.name = name;
    ++counters_.projects;
  }
  const bool never_synced = project.last_serial < 0;
  project.display_name = display_name;
  project.last_serial = serial;
  project.etag = etag;

  // What was known before this page: the versions with files, and the
  // snapshot's placeholder tasks (only a project never synced has them).
  std::set<std::string> known;
  for (const auto& v : project.versions) known.insert(CanonicalVersion(v));
  struct Placeholder {
    std::string version, platform, id;
  };
  std::vector<Placeholder> placeholders;
  if (existed && never_synced) {
    store_.Scan(Cf::kProjectTasks, Key({name, ""}), "", [&](std::string_view key, std::string_view) {
      auto parts = SplitKey(key);
      if (parts.size() == 4 && parts[3] == SnapshotTaskId(name, parts[1], parts[2])) {
        placeholders.push_back({parts[1], parts[2], parts[3]});
        known.insert(CanonicalVersion(parts[1]));
      }
      return true;
    });
  }
  std::string newest_known;
  for (const auto& v : known)
    if (newest_known.empty() || VersionLess(newest_known, v)) newest_known = v;

  std::vector<std::pair<std::string, std::string>> queued;
  // The pending tasks of a file that must not be built any more.
  auto cancel_file = [&](const FileRecord& f, const std::string& reason) {
    for (const auto& platform : platforms_) {
      std::string id = TaskId(name, f.version, f.sha256, platform);
      nlohmann::json j;
      TaskRecord t;
      if (!store_.GetJson(Cf::kTasks, id, &j) || !FromJson(j, &t) || t.decided || t.cancelled)
        continue;
      t.cancelled = true;
      t.cancelled_reason = reason;
      std::string qk = QueueKey(t.platform, t.priority, id);
      w.Delete(Cf::kQueue, qk);
      w.PutJson(Cf::kTasks, id, nlohmann::json(t));
      for (const auto& l : scheduler_->Cancel(id, t.platform, qk)) {
        LeaseRecord lr;
        if (store_.GetJson(Cf::kLeases, l.lease_id, &j) && FromJson(j, &lr)) {
          lr.state = "cancelled";
          w.PutJson(Cf::kLeases, lr.lease_id, nlohmann::json(lr));
        }
      }
      ++rep.cancelled;
    }
  };
  // The cancelled tasks of a file un-yanked go back to the queue.
  auto restore_file = [&](const FileRecord& f) {
    for (const auto& platform : platforms_) {
      std::string id = TaskId(name, f.version, f.sha256, platform);
      nlohmann::json j;
      TaskRecord t;
      if (!store_.GetJson(Cf::kTasks, id, &j) || !FromJson(j, &t) || t.decided || !t.cancelled)
        continue;
      t.cancelled = false;
      t.cancelled_reason.clear();
      std::string qk = QueueKey(t.platform, t.priority, id);
      w.Put(Cf::kQueue, qk, "");
      w.PutJson(Cf::kTasks, id, nlohmann::json(t));
      queued.emplace_back(t.platform, qk);
      ++rep.restored;
    }
  };

  for (const auto& [file, reason] : to_cancel) cancel_file(file, reason);
  for (const auto& file : to_restore) restore_file(file);
  std::unordered_set<std::string> listed(project.versions.begin(), project.versions.end());
  for (auto& v : versions)
    if (listed.insert(v).second) project.versions.push_back(std::move(v));

  // Placeholders give way to the tasks created below, or go when the index
  // does not offer their release (any more, or with a file Corral can build).
  for (const auto& ph : placeholders) {
    w.Delete(Cf::kTasks, ph.id);
    w.Delete(Cf::kProjectTasks, Key({name, ph.version, ph.platform, ph.id}));
    --counters_.tasks;
    --project.tasks;
    if (releases.count(CanonicalVersion(ph.version))) {
      ++rep.resolved;
    } else {
      ++rep.dropped;
      if (rep.dropped == 1)
        spdlog::info("index sync: project '{}': the snapshot's release {} is not among the "
                     "releases the index offers for building; its placeholder tasks are dropped",
                     name, ph.version);
    }
  }

  std::set<std::string> created;
  for (const auto& [version, rel] : releases) {
    bool fresh = first_sync_done_ && !known.count(version) &&
                 (newest_known.empty() || VersionLess(newest_known, version));
    uint64_t priority = TaskPriority(fresh, project.download_rank, uploaded[version]);
    int64_t before_count = counters_.tasks;
    for (const auto& platform : platforms_)
      CreateTasks(w, rel, platform, priority, now, &created, &project, &queued);
    if (fresh) rep.new_release_tasks += static_cast<int>(counters_.tasks - before_count);
  }
  rep.tasks_created = static_cast<int>(created.size());
  w.PutJson(Cf::kProjects, name, nlohmann::json(project));
  PutCounters(w);
  if (!store_.Write(w, false, err)) {
    counters_ = saved;
    *err = "recording project '" + name + "': " + *err;
    return false;
  }
  for (const auto& [platform, qk] : queued) scheduler_->AddTask(platform, qk);
  if (report) *report = rep;
  return true;
}

bool Engine::AddPlatforms(const std::vector<std::string>& tags, int64_t now, std::string* err) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> fresh;
  for (const auto& t : tags) {
    PlatformTag tag;
    if (!ParsePlatformTag(t, &tag, err)) return false;
    if (tag.ToString() != t) {
      *err = "platform tag '" + t + "' is not in canonical form; use '" + tag.ToString() + "'";
      return false;
    }
    if (std::find(platforms_.begin(), platforms_.end(), t) == platforms_.end() &&
        std::find(fresh.begin(), fresh.end(), t) == fresh.end())
      fresh.push_back(t);
  }
  if (fresh.empty()) return true;
  std::vector<std::string> all = platforms_;
  all.insert(all.end(), fresh.begin(), fresh.end());
  WriteSet w;
  w.PutJson(Cf::kMeta, "platforms", nlohmann::json(all));
  if (!store_.Write(w, true, err)) return false;
  platforms_ = all;
  spdlog::info("platforms: added {}", nlohmann::json(fresh).dump());
  return CreateTasksForAllFiles(fresh, now, err);
}

std::vector<std::string> Engine::PlatformsOfferedWidely(const std::vector<std::string>& tags) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::set<std::string>> accounts;  // new tag -> accounts offering it
  // An operator's list of platforms is the whole list: volunteers' offers
  // outside it never become columns.
  const auto& only = options_.platforms;
  for (const auto& t : tags)
    if (std::find(platforms_.begin(), platforms_.end(), t) == platforms_.end() &&
        (only.empty() || std::find(only.begin(), only.end(), t) != only.end()))
      accounts[t];
  if (accounts.empty()) return {};
  store_.Scan(Cf::kVolunteers, "", "", [&](std::string_view, std::string_view value) {
    VolunteerRecord v;
    if (!FromJson(ParseJsonOrDiscarded(value), &v)) return true;
    for (const auto& t : v.platforms) {
      auto it = accounts.find(t);
      if (it != accounts.end()) it->second.insert(v.account);
    }
    return true;
  });
  std::vector<std::string> out;
  for (const auto& [tag, who] : accounts) {
    if (static_cast<int>(who.size()) >= options_.platform_min_accounts) out.push_back(tag);
    else spdlog::info("platform {}: offered by {} account(s); a column once {} offer it", tag, who.size(),
                      options_.platform_min_accounts);
  }
  return out;
}

bool Engine::CreateTasksForAllFiles(const std::vector<std::string>& platforms, int64_t now,
                                    std::string* err) {
  // One pass over every known file, grouped by release; written in chunks so
  // a large store never builds one huge batch.
  Counters saved = counters_;
  std::map<std::string, ProjectRecord> projects;
  std::set<std::string> created;
  std::vector<std::pair<std::string, std::string>> queued;
  auto w = std::make_unique<WriteSet>();
  int releases_in_batch = 0;
  bool ok = true;
  auto flush = [&]() {
    for (auto& [name, p] : projects) w->PutJson(Cf::kProjects, name, nlohmann::json(p));
    PutCounters(*w);
    if (!store_.Write(*w, false, err)) {
      counters_ = saved;
      ok = false;
      return;
    }
    saved = counters_;
    for (const auto& [platform, qk] : queued) scheduler_->AddTask(platform, qk);
    queued.clear();
    projects.clear();
    w = std::make_unique<WriteSet>();
    releases_in_batch = 0;
  };
  std::vector<FileRecord> release;
  auto finish_release = [&]() {
    if (release.empty()) return;
    const std::string& name = release[0].project;
    auto it = projects.find(name);
    if (it == projects.end()) {
      ProjectRecord p;
      if (!LoadProject(name, &p)) p.name = name;
      it = projects.emplace(name, std::move(p)).first;
    }
    int64_t uploaded = 0;
    for (const auto& f : release) uploaded = std::max(uploaded, ParseUploadTime(f.upload_time));
    uint64_t priority = TaskPriority(false, it->second.download_rank, uploaded);
    bool wanted = true;
    if (options_.latest_only) {
      for (const auto& v : it->second.versions)
        if (VersionLess(release[0].version, v)) wanted = false;
    }
    if (wanted)
      for (const auto& platform : platforms)
        CreateTasks(*w, release, platform, priority, now, &created, &it->second, &queued);
    release.clear();
    if (++releases_in_batch >= 1000) flush();
  };
  store_.Scan(Cf::kFiles, "", "", [&](std::string_view, std::string_view value) {
    FileRecord f;
    if (!FromJson(ParseJsonOrDiscarded(value), &f) || f.yanked) return true;
    if (!release.empty() && (release[0].project != f.project || release[0].version != f.version))
      finish_release();
    release.push_back(std::move(f));
    return ok;
  });
  finish_release();
  if (ok) flush();
  return ok;
}

std::vector<std::string> Engine::Platforms() {
  std::lock_guard<std::mutex> lock(mu_);
  return platforms_;
}

bool Engine::Enrol(const EnrolRequest& req, const std::string& remote_addr, int64_t now,
                   Refusal* refusal) {
  if (!IsHexKey(req.account_key) || !IsHexKey(req.machine_key)) {
    *refusal = {"bad_payload", "account_key and machine_key must be 64 lower-case hex characters "
                               "(Ed25519 public keys)"};
    return false;
  }
  std::string raw;
  if (!Base64Decode(req.account_signature, &raw) ||
      !VerifySignature(req.account_key,
                       EnrolmentMessage(req.machine_key, req.account_name, req.machine_name), raw)) {
    *refusal = {"bad_signature",
                "account_signature is not the account key's signature of the enrolment message; "
                "sign it with the account's key (corral account create)"};
    return false;
  }
  for (const auto& t : req.platforms) {
    PlatformTag tag;
    std::string err;
    if (!ParsePlatformTag(t, &tag, &err)) {
      *refusal = {"bad_payload", err};
      return false;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Counters saved = counters_;
    VolunteerRecord v;
    nlohmann::json j;
    bool known = store_.GetJson(Cf::kVolunteers, req.machine_key, &j) && FromJson(j, &v);
    if (known && v.account != req.account_key) {
      *refusal = {"already_enrolled", "this machine key is enrolled under another account; "
                                      "create a new machine key to join this one"};
      return false;
    }
    {
      // A suspended account (one of its machines was caught lying) enrols
      // no new machine: a fresh machine key would start a clean record.
      AccountRecord held;
      if (!known && store_.GetJson(Cf::kAccounts, req.account_key, &j) && FromJson(j, &held) && held.suspended) {
        *refusal = {"suspended", "this account was suspended (" + held.suspended_reason +
                                     "); it cannot enrol new machines (its public page shows the evidence)"};
        return false;
      }
    }
    if (!known) {
      v.volunteer_id = req.machine_key;
      v.account = req.account_key;
      v.enrolled_at = now;
      ++counters_.volunteers;
    }
    v.name = req.machine_name;
    v.platforms = req.platforms;
    v.remote_addr = remote_addr;
    AccountRecord a;
    if (!(store_.GetJson(Cf::kAccounts, req.account_key, &j) && FromJson(j, &a))) {
      a.account_key = req.account_key;
      a.created_at = now;
      ++counters_.accounts;
    }
    a.name = req.account_name;
    a.trusted = trusted_accounts_.count(req.account_key) > 0;
    AddUnique(&a.machines, req.machine_key);
    WriteSet w;
    w.PutJson(Cf::kVolunteers, v.volunteer_id, nlohmann::json(v));
    w.PutJson(Cf::kAccounts, a.account_key, nlohmann::json(a));
    PutCounters(w);
    std::string err;
    if (!store_.Write(w, true, &err)) {
      counters_ = saved;
      *refusal = {"internal", err};
      return false;
    }
  }
  std::string err;
  std::vector<std::string> adopted = PlatformsOfferedWidely(req.platforms);
  if (!adopted.empty() && !AddPlatforms(adopted, now, &err))
    spdlog::warn("enrolment of {}: adding its platforms: {}", req.machine_key.substr(0, 16), err);
  return true;
}

bool Engine::FindVolunteer(const std::string& volunteer_id, VolunteerRecord* out) {
  // Every signed request asks whether its key is enrolled: answer that
  // without parsing the record.
  if (!out) return store_.Has(Cf::kVolunteers, volunteer_id);
  return volunteers_cache_.Get(store_, volunteer_id, out);
}

LeaseResponse Engine::Lease(const std::string& volunteer_id, const LeaseRequest& request,
                            int64_t now) {
  Refusal refusal;
  return Lease(volunteer_id, request, "", now, &refusal);
}

LeaseResponse Engine::Lease(const std::string& volunteer_id, const LeaseRequest& request,
                            const std::string& remote_addr, int64_t now, Refusal* refusal) {
  LeaseResponse resp;
  VolunteerRecord v;
  if (!FindVolunteer(volunteer_id, &v)) return resp;
  if (v.suspended) {
    *refusal = {"suspended", "this machine was suspended: " + v.suspended_reason +
                                 "; it gets no more work (its public page shows the evidence)"};
    return resp;
  }
  std::string lacking;
  if (!IsolationSatisfies(request.isolation, options_.min_isolation, &lacking)) {
    *refusal = {"insufficient_isolation",
                "this machine's sandbox lacks " + lacking + ", which this coordinator requires (" +
                    options_.min_isolation + "); it gets no work until its isolation level has them"};
    return resp;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (flagged_accounts_.count(v.account)) {
    *refusal = {"account_flagged",
                "this machine's account was flagged because another of its machines was caught lying (its "
                "public page shows the evidence); its machines get no work until the coordinator's operator "
                "clears the account"};
    return resp;
  }
  // The volunteer's limits (quota.h): tasks in flight, tasks per day.
  ReputationRecord& rep = Reputation(volunteer_id);
  const QuotaPolicy& qp = options_.reputation.quota;
  // The daily limit bounds what an unknown machine can waste; the operator's
  // trusted builders are not unknown, and throttling them only slows the
  // network (a daily limit run out stops their work until midnight).
  int64_t quota_left = trusted_accounts_.count(v.account) ? qp.max_per_day : QuotaRemaining(rep.quota, now, qp);
  int64_t room = std::min<int64_t>({request.slots, quota_left,
                                    qp.max_in_flight - scheduler_->InFlight(volunteer_id)});
  if (room <= 0) {
    resp.next_poll_s = quota_left <= 0 ? static_cast<int>(std::min<int64_t>(SecondsToNextDay(now), 900)) : 60;
    return resp;
  }
  std::string prefix = NetworkPrefix(remote_addr.empty() ? v.remote_addr : remote_addr);
  Asker asker{volunteer_id, v.account, options_.policy.distinct_prefix ? prefix : "", nullptr};
  asker.established = IsEstablished(volunteer_id, v.account);
  asker.single = [&](const std::string& platform) {
    // A lone replica decides only when its volunteer has standing.
    if (options_.policy.require_established && !asker.established) return false;
    double p = SingleReplicaProbability(rep, platform, options_.reputation, options_.known_answer_rate);
    return p > 0 && Uniform() < p;
  };
  auto fresh = scheduler_->Lease(asker, request.platforms, static_cast<int>(room), now,
                                 options_.lease_seconds);
  // Known-answer checks take the place of fresh tasks (given back to the
  // queue) at random positions: nothing tells them apart. They ride along
  // with fresh work only, so an idle network re-checks nothing.
  std::vector<std::pair<ActiveLease, bool>> leases;  // lease, is a known-answer check
  int checks = fresh.empty() ? 0 : KnownAnswerSlots(rep, static_cast<int>(fresh.size()));
  std::vector<ActiveLease> known;
  if (checks > 0) known = LeaseKnownAnswers(asker, request.platforms, checks, now);
  for (size_t i = 0; i < known.size(); ++i) {
    ActiveLease back;
    scheduler_->ReturnLease(volunteer_id, fresh.back().lease_id, &back);
    fresh.pop_back();
  }
  if (rep.review_checks > 0) rep.review_checks = std::max<int64_t>(0, rep.review_checks - known.size());
  for (auto& l : fresh) leases.emplace_back(std::move(l), false);
  for (auto& l : known) {
    size_t at = static_cast<size_t>(Uniform() * static_cast<double>(leases.size() + 1));
    leases.insert(leases.begin() + static_cast<std::ptrdiff_t>(std::min(at, leases.size())),
                  {std::move(l), true});
  }
  UseQuota(&rep.quota, now, static_cast<int64_t>(leases.size()), qp);
  WriteSet w;
  if (!leases.empty()) PutReputation(w, volunteer_id);
  for (const auto& [l, is_check] : leases) {
    nlohmann::json j;
    TaskRecord t;
    if (!store_.GetJson(Cf::kTasks, l.task_id, &j) || !FromJson(j, &t)) continue;
    TaskSpec spec;
    spec.task_id = t.task_id;
    spec.lease_id = l.lease_id;
    spec.project = t.project;
    spec.version = t.version;
    spec.filename = t.filename;
    spec.url = t.url;
    spec.sha256 = t.sha256;
    spec.size = t.size;
    spec.platform = t.platform;
    spec.requires_python = t.requires_python;
    spec.lease_deadline = l.deadline;
    spec.min_isolation = options_.min_isolation;
    spec.index_url = options_.index_url;
    resp.tasks.push_back(std::move(spec));
    LeaseRecord r{l.lease_id, l.task_id, l.volunteer_id, l.account, l.issued_at, l.deadline,
                  "active"};
    r.prefix = prefix;
    r.single = l.single;
    r.known_answer = is_check;
    w.PutJson(Cf::kLeases, l.lease_id, nlohmann::json(r));
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err))
    spdlog::error("recording leases for {}: {}", volunteer_id.substr(0, 16), err);
  int got = static_cast<int>(resp.tasks.size());
  resp.next_poll_s = scheduler_->NextPollSeconds(request.platforms, got, now);
  return resp;
}

bool Engine::AdmitArtifact(const std::string& volunteer_id, const std::string& lease_id, int64_t size,
                           bool already_stored, int64_t now, Refusal* refusal, int64_t* retry_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json j;
  LeaseRecord lease;
  if (!store_.GetJson(Cf::kLeases, lease_id, &j) || !FromJson(j, &lease) || lease.volunteer_id != volunteer_id) {
    *refusal = {"not_leased", "there is no lease " + lease_id + " of this volunteer; an artifact is stored only "
                              "for a lease of the volunteer that uploads it (?lease=LEASE_ID)"};
    return false;
  }
  const QuotaPolicy& qp = options_.reputation.quota;
  if (lease.state == "cancelled" || lease.state == "returned") {
    *refusal = {lease.state == "cancelled" ? "lease_cancelled" : "lease_returned",
                "lease " + lease_id + " was " + lease.state + "; its result will not be taken, nor its artifacts"};
    return false;
  }
  if (now - lease.issued_at > qp.artifact_lease_age_s) {
    *refusal = {"not_leased", "lease " + lease_id + " was issued more than " +
                                  std::to_string(qp.artifact_lease_age_s / 86400) +
                                  " days ago; artifacts are taken only for recent leases"};
    return false;
  }
  if (already_stored) return true;
  if (lease.artifacts >= qp.artifacts_per_lease) {
    *refusal = {"too_many_artifacts", "lease " + lease_id + " has its " + std::to_string(qp.artifacts_per_lease) +
                                          " artifacts (a log and a wheel) already"};
    return false;
  }
  ReputationRecord rep = Reputation(volunteer_id);
  int64_t left = ArtifactBytesRemaining(rep.artifact_bytes, now, qp);
  if (size > left) {
    *retry_after_s = SecondsToNextDay(now);
    *refusal = {"artifact_quota", "this volunteer stored its " + std::to_string(qp.artifact_bytes_per_day >> 20) +
                                      " MiB of new artifacts for today (" + std::to_string(left) +
                                      " bytes left, this one is " + std::to_string(size) +
                                      "); retry after the next UTC midnight"};
    return false;
  }
  // Compute, write, then change memory.
  ++lease.artifacts;
  UseArtifactBytes(&rep.artifact_bytes, now, size);
  WriteSet w;
  w.PutJson(Cf::kLeases, lease_id, nlohmann::json(lease));
  w.PutJson(Cf::kReputation, volunteer_id, nlohmann::json(rep));
  std::string err;
  if (!store_.Write(w, false, &err)) {
    *refusal = {"internal", "could not record the artifact's quota: " + err};
    return false;
  }
  Reputation(volunteer_id) = std::move(rep);
  return true;
}

HeartbeatResponse Engine::Heartbeat(const std::string& volunteer_id,
                                    const HeartbeatRequest& request, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  HeartbeatResponse resp;
  resp.extended = scheduler_->Heartbeat(volunteer_id, request.lease_ids, now,
                                        options_.lease_seconds, &resp.cancelled);
  WriteSet w;
  for (const auto& [id, deadline] : resp.extended) {
    nlohmann::json j;
    LeaseRecord r;
    if (store_.GetJson(Cf::kLeases, id, &j) && FromJson(j, &r)) {
      r.deadline = deadline;
      w.PutJson(Cf::kLeases, id, nlohmann::json(r));
    }
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err))
    spdlog::error("recording heartbeat of {}: {}", volunteer_id.substr(0, 16), err);
  return resp;
}

Engine::Submit Engine::SubmitResult(const std::string& volunteer_id, const ResultPayload& p,
                                    const std::string& envelope_text, int64_t now,
                                    Refusal* refusal) {
  if (p.volunteer_id != volunteer_id) {
    *refusal = {"wrong_volunteer", "the result names volunteer " + p.volunteer_id.substr(0, 16) +
                                       "... but was sent by " + volunteer_id.substr(0, 16) + "..."};
    return Submit::kRefused;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (suspended_.count(volunteer_id)) {
    *refusal = {"suspended", "this machine was suspended for results contradicted by other "
                             "volunteers; its results are no longer accepted"};
    return Submit::kRefused;
  }
  nlohmann::json j;
  ResultRecord existing;
  if (store_.GetJson(Cf::kResults, Key({p.task_id, p.lease_id}), &j) && FromJson(j, &existing)) {
    if (existing.volunteer_id == volunteer_id) {
      // The same signed payload again is a retry; a different one for the
      // same lease would be silently lost, so it is refused by name.
      auto payload_of = [](const std::string& text) {
        nlohmann::json e = ParseJsonOrDiscarded(text);
        return e.is_object() && e.contains("payload") && e["payload"].is_string()
                   ? e["payload"].get<std::string>()
                   : std::string();
      };
      std::string before = payload_of(existing.envelope);
      if (!before.empty() && before == payload_of(envelope_text)) return Submit::kDuplicate;
      *refusal = {"conflicting_result", "lease " + p.lease_id + " already has a different result from "
                                        "this volunteer; one lease takes one result"};
      return Submit::kRefused;
    }
    *refusal = {"not_leased", "lease " + p.lease_id + " is not this volunteer's"};
    return Submit::kRefused;
  }
  LeaseRecord lease;
  if (!store_.GetJson(Cf::kLeases, p.lease_id, &j) || !FromJson(j, &lease)) {
    *refusal = {"not_leased", "there is no lease " + p.lease_id + "; ask for work with POST /api/v1/lease"};
    return Submit::kRefused;
  }
  if (lease.volunteer_id != volunteer_id || lease.task_id != p.task_id) {
    *refusal = {"not_leased", "task " + p.task_id + " was not leased to this volunteer under lease " +
                                  p.lease_id};
    return Submit::kRefused;
  }
  if (lease.state == "cancelled") {
    *refusal = {"lease_cancelled", "lease " + p.lease_id + " was cancelled: task " + p.task_id +
                                       " is already decided; drop it"};
    return Submit::kRefused;
  }
  if (lease.state == "returned") {
    *refusal = {"lease_returned", "lease " + p.lease_id + " was returned by this volunteer; task " +
                                      p.task_id + " went to the queue again"};
    return Submit::kRefused;
  }
  TaskRecord task;
  if (!store_.GetJson(Cf::kTasks, p.task_id, &j) || !FromJson(j, &task)) {
    *refusal = {"not_leased", "unknown task " + p.task_id};
    return Submit::kRefused;
  }
  if (lease.known_answer) return SubmitKnownAnswer(p, envelope_text, lease, task, now, refusal);
  if (task.decided) {
    *refusal = {"task_decided", "task " + p.task_id + " already has a verdict"};
    return Submit::kRefused;
  }
  if (p.input_sha256 != task.sha256) {
    *refusal = {"wrong_input", "the result is for input sha256 " + p.input_sha256 + " but task " +
                                   p.task_id + " is " + task.filename + " with sha256 " + task.sha256 +
                                   "; the download was not the task's file"};
    return Submit::kRefused;
  }

  // The result, and the verdict when it brings one, go to the store in one
  // write; memory (the scheduler, caches) follows once that write is done.
  Counters saved = counters_;
  ResultRecord r{p.task_id, p.lease_id, volunteer_id, lease.account, now, envelope_text};
  r.prefix = lease.prefix;
  lease.state = "completed";
  ++task.results;
  ++counters_.results;
  WriteSet w;
  ++Reputation(volunteer_id).results;
  if (IsSpurious(p.outcome))
    RecordJudgement(&Reputation(volunteer_id), task.platform, Judgement::kError, options_.reputation, false);
  w.PutJson(Cf::kResults, Key({p.task_id, p.lease_id}), nlohmann::json(r));
  w.Put(Cf::kVolunteerResults, Key({volunteer_id, OrderedHex(static_cast<uint64_t>(now)), p.task_id}), "");
  w.PutJson(Cf::kLeases, lease.lease_id, nlohmann::json(lease));

  std::vector<Vote> votes;
  std::vector<ResultPayload> payloads;
  KnownResult this_result{r, p};  // written below: taken from memory
  LoadVotes(task.task_id, &votes, &payloads, &this_result);
  // A fresh task sent to one trusted volunteer alone (adaptive replication)
  // is decided by its one result, while the volunteer is still trusted.
  QuorumPolicy policy = options_.policy;
  size_t single_index = 0;
  double single_held = 0;
  bool single = SingleReplicaVote(task, votes, &single_index, &single_held, &r, &lease);
  if (single) policy.quorum = 1;
  QuorumDecision d = coordinator::Decide(votes, policy);
  std::string err;
  if (d.kind == QuorumDecision::Kind::kNeedMore) {
    PutReputation(w, volunteer_id);
    w.PutJson(Cf::kTasks, task.task_id, nlohmann::json(task));
    PutCounters(w);
    if (!store_.Write(w, /*sync=*/true, &err)) {
      counters_ = saved;
      *refusal = {"internal", "storing the result: " + err};
      return Submit::kRefused;
    }
    scheduler_->OnResult(task.task_id, lease.lease_id, lease.account, d.wanted, IsSpurious(p.outcome), now,
                         d.needs_established);
    return Submit::kAccepted;
  }

  // A verdict (or the end of trying): record it and grant credit.
  std::vector<std::pair<std::string, VolunteerRecord>> credited;  // as written
  VerdictRecord verdict;
  verdict.task_id = task.task_id;
  verdict.results = static_cast<int>(votes.size());
  verdict.decided_at = now;
  verdict.evidence = d.reason;
  if (d.kind == QuorumDecision::Kind::kVerdict) {
    verdict.status = std::string(OutcomeName(d.outcome));
    verdict.summary = votes[d.agreeing[0]].summary;
    verdict.agreeing = static_cast<int>(d.agreeing.size());
    std::vector<double> seconds;
    for (size_t i : d.agreeing) {
      verdict.agreeing_leases.push_back(votes[i].lease_id);
      seconds.push_back(votes[i].total_seconds);
    }
    verdict.credit_each = CreditForVerdict(seconds);
    if (single) {
      verdict.credit_each = CreditForSingle(votes[single_index].total_seconds, single_held);
      // The rule SingleReplicaProbability applies, said in full.
      verdict.evidence = "one result from a volunteer trusted on this platform: " +
                         std::to_string(options_.reputation.trust_after) +
                         "+ consecutive results there confirmed by others, at least " +
                         std::to_string(options_.reputation.trust_min_validated) +
                         " validated results in all and no unresolved contradictions (adaptive "
                         "replication; such tasks are re-checked at random)";
    }
    verdict.wheel_content_digest = AgreedWheelDigest(votes, d.agreeing, options_.policy.require_established);
    for (size_t i : d.agreeing) {
      VolunteerRecord vol;
      if (!FindVolunteer(votes[i].volunteer_id, &vol)) continue;
      ++vol.verified_results;
      vol.credit += verdict.credit_each;
      vol.decayed_credit = DecayCredit(vol.decayed_credit, vol.decayed_at, now) + verdict.credit_each;
      vol.decayed_at = now;
      std::string bytes = nlohmann::json(vol).dump();
      w.Put(Cf::kVolunteers, vol.volunteer_id, bytes);
      credited.emplace_back(std::move(bytes), vol);
      CreditEntry c{vol.volunteer_id, vol.account, task.task_id, verdict.credit_each, now};
      w.PutJson(Cf::kCreditLog, Key({OrderedHex(static_cast<uint64_t>(now)), task.task_id, vol.volunteer_id}),
                nlohmann::json(c));
    }
  } else {
    verdict.status = "inconclusive";
    std::map<std::string, int> seen;
    for (const auto& vote : votes)
      if (vote.outcome != Outcome::kInfraError && !vote.excluded)
        ++seen[std::string(OutcomeName(vote.outcome))];
    for (const auto& [o, n] : seen)
      verdict.summary += (verdict.summary.empty() ? "replicas disagreed: " : ", ") + o + " x" + std::to_string(n);
    ++counters_.inconclusive;
  }
  task.decided = true;
  ++counters_.verdicts;
  ProjectRecord project;
  std::string project_bytes;
  if (LoadProject(task.project, &project, /*cached=*/true)) {
    ++project.verdicts;
    project_bytes = nlohmann::json(project).dump();
    w.Put(Cf::kProjects, project.name, project_bytes);
  }
  w.PutJson(Cf::kVerdicts, task.task_id, nlohmann::json(verdict));
  w.Put(Cf::kVerdictTimes, VerdictTimeKey(verdict.decided_at, task.task_id), "");  // feeds
  w.PutJson(Cf::kTasks, task.task_id, nlohmann::json(task));
  w.Delete(Cf::kQueue, QueueKey(task.platform, task.priority, task.task_id));
  // The task's other leases are cancelled (their volunteers learn it at
  // their next heartbeat).
  for (const auto& other : scheduler_->LeasesOfTask(task.task_id)) {
    if (other == lease.lease_id) continue;
    LeaseRecord lr;
    if (store_.GetJson(Cf::kLeases, other, &j) && FromJson(j, &lr)) {
      lr.state = "cancelled";
      w.PutJson(Cf::kLeases, lr.lease_id, nlohmann::json(lr));
    }
  }
  if (verdict_observer_) verdict_observer_(VerdictEvent{task, verdict, votes, payloads}, &w);
  JudgeVerdict(task, votes, d, single, w);
  PutReputation(w, volunteer_id);
  PutCounters(w);
  if (!store_.Write(w, /*sync=*/true, &err)) {
    counters_ = saved;
    *refusal = {"internal", "storing the result and its verdict: " + err};
    return Submit::kRefused;
  }
  scheduler_->OnResult(task.task_id, lease.lease_id, lease.account, 0, IsSpurious(p.outcome), now);
  scheduler_->OnDecided(task.task_id);
  if (!project_bytes.empty()) projects_cache_.Remember(project.name, std::move(project_bytes), project);
  for (auto& [bytes, vol] : credited) volunteers_cache_.Remember(vol.volunteer_id, std::move(bytes), vol);
  if (IsSettledVerdict(verdict)) known_answers_.Add(task.platform, task.task_id);
  EnforceSuspensions(now);
  return Submit::kAccepted;
}

int Engine::ExpireLeases(int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto expired = scheduler_->ExpireLeases(now);
  WriteSet w;
  for (const auto& l : expired) {
    nlohmann::json j;
    LeaseRecord r;
    if (store_.GetJson(Cf::kLeases, l.lease_id, &j) && FromJson(j, &r)) {
      r.state = "expired";
      w.PutJson(Cf::kLeases, r.lease_id, nlohmann::json(r));
    }
    // An expired lease counts against the volunteer (reputation.h).
    TaskRecord t;
    if (store_.GetJson(Cf::kTasks, l.task_id, &j) && FromJson(j, &t)) {
      RecordJudgement(&Reputation(l.volunteer_id), t.platform, Judgement::kExpired, options_.reputation, false);
      PutReputation(w, l.volunteer_id);
    }
    spdlog::info("lease {} of task {} ({}) expired; the task goes back to the queue", l.lease_id,
                 l.task_id.substr(0, 12), l.volunteer_id.substr(0, 16));
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err)) spdlog::error("recording expired leases: {}", err);
  return static_cast<int>(expired.size());
}

LeaseReturnResponse Engine::ReturnLeases(const std::string& volunteer_id,
                                         const LeaseReturnRequest& request, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  LeaseReturnResponse resp;
  WriteSet w;
  for (const auto& id : request.lease_ids) {
    ActiveLease l;
    if (!scheduler_->ReturnLease(volunteer_id, id, &l)) {
      resp.unknown.push_back(id);
      continue;
    }
    resp.returned.push_back(id);
    nlohmann::json j;
    LeaseRecord r;
    if (store_.GetJson(Cf::kLeases, id, &j) && FromJson(j, &r)) {
      r.state = "returned";
      r.deadline = now;
      w.PutJson(Cf::kLeases, id, nlohmann::json(r));
    }
    spdlog::info("lease {} of task {} returned by {}; the task goes back to the queue", id,
                 l.task_id.substr(0, 12), volunteer_id.substr(0, 16));
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err))
    spdlog::error("recording returned leases of {}: {}", volunteer_id.substr(0, 16), err);
  return resp;
}

void Engine::SetVerdictObserver(std::function<void(const VerdictEvent&, WriteSet*)> observer) {
  verdict_observer_ = std::move(observer);
}

Counters Engine::GetCounters() {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

int64_t Engine::ActiveLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  return scheduler_->active_leases();
}

}  // namespace corral::coordinator
