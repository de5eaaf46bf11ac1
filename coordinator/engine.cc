#include "coordinator/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/names.h"
#include "common/pep440.h"
#include "common/platform.h"
#include "coordinator/credit.h"
#include "coordinator/task_factory.h"

namespace corral::coordinator {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Counters, projects, tasks, verdicts, results,
                                                volunteers, accounts, unsupported, inconclusive)

namespace {


bool IsHexKey(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Newer uploads first: the priority is the time left until a far epoch.
uint64_t PriorityOf(const std::string& upload_time) {
  std::tm tm{};
  int64_t t = 0;
  if (upload_time.size() >= 19 &&
      std::sscanf(upload_time.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
  }
  const uint64_t far = 1ull << 40;
  return t > 0 && static_cast<uint64_t>(t) < far ? far - static_cast<uint64_t>(t) : far;
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
    if (!store_.Open(options_.db_dir, err)) return false;
    nlohmann::json j;
    if (store_.GetJson(Cf::kMeta, "counters", &j)) FromJson(j, &counters_);
    if (store_.GetJson(Cf::kMeta, "platforms", &j) && j.is_array())
      for (const auto& t : j)
        if (t.is_string()) platforms_.push_back(t.get<std::string>());
    scheduler_ = std::make_unique<Scheduler>(
        store_, [this](const std::string& id, TaskState* st) { return LoadTaskState(id, st); });
    // Active leases come back into the scheduler with their deadlines.
    store_.Scan(Cf::kLeases, "", "", [&](std::string_view, std::string_view value) {
      LeaseRecord l;
      auto lj = nlohmann::json::parse(value, nullptr, false);
      if (FromJson(lj, &l) && l.state == "active")
        scheduler_->RestoreLease(
            {l.lease_id, l.task_id, l.volunteer_id, l.account, l.issued_at, l.deadline});
      return true;
    });
    for (const auto& t : options_.platforms)
      if (std::find(platforms_.begin(), platforms_.end(), t) == platforms_.end())
        fresh.push_back(t);
  }
  if (fresh.empty()) return true;
  return AddPlatforms(fresh, NowSeconds(), err);
}

void Engine::PutCounters(WriteSet& w) { w.PutJson(Cf::kMeta, "counters", nlohmann::json(counters_)); }

bool Engine::LoadProject(const std::string& name, ProjectRecord* out) {
  nlohmann::json j;
  return store_.GetJson(Cf::kProjects, name, &j) && FromJson(j, out);
}

void Engine::LoadVotes(const std::string& task_id, std::vector<Vote>* votes,
                       std::vector<ResultPayload>* payloads) {
  store_.Scan(Cf::kResults, Key({task_id, ""}), "", [&](std::string_view, std::string_view value) {
    ResultRecord r;
    if (!FromJson(nlohmann::json::parse(value, nullptr, false), &r)) return true;
    auto env = nlohmann::json::parse(r.envelope, nullptr, false);
    std::string body, err;
    ResultPayload p;
    nlohmann::json pj;
    if (!env.is_object() || !env.contains("payload") || !env["payload"].is_string() ||
        !Base64Decode(env["payload"].get<std::string>(), &body) || !ParseJson(body, &pj, &err) ||
        !ParseResultPayload(pj, &p, &err)) {
      spdlog::error("stored result {} of task {} no longer parses: {}", r.lease_id, task_id, err);
      return true;
    }
    Vote v;
    v.lease_id = r.lease_id;
    v.volunteer_id = r.volunteer_id;
    v.account = r.account;
    v.outcome = p.outcome;
    v.failing_tests = p.failing_tests;
    v.wheel_content_digest = p.wheel_content_digest;
    v.total_seconds = p.total_seconds;
    v.summary = p.summary;
    votes->push_back(std::move(v));
    if (payloads) payloads->push_back(std::move(p));
    return true;
  });
}

bool Engine::LoadTaskState(const std::string& task_id, TaskState* st) {
  nlohmann::json j;
  TaskRecord t;
  if (!store_.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t)) return false;
  st->platform = t.platform;
  st->queue_key = QueueKey(t.platform, t.priority, t.task_id);
  st->decided = t.decided;
  if (t.decided) return true;
  std::vector<Vote> votes;
  if (t.results > 0) LoadVotes(task_id, &votes, nullptr);
  for (const auto& v : votes) st->accounts.insert(v.account);
  QuorumDecision d = coordinator::Decide(votes, options_.policy);
  st->wanted = d.kind == QuorumDecision::Kind::kNeedMore ? d.wanted : 0;
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

bool Engine::IngestProject(const std::string& display_name, int64_t serial,
                           const std::vector<IndexFile>& files, int64_t now, std::string* err) {
  std::lock_guard<std::mutex> lock(mu_);
  Counters saved = counters_;
  std::string name = NormalizeProjectName(display_name);
  ProjectRecord project;
  if (!LoadProject(name, &project)) {
    project.name = name;
    ++counters_.projects;
  }
  project.display_name = display_name;
  project.last_serial = serial;

  WriteSet w;
  std::map<std::string, std::vector<FileRecord>> releases;
  std::map<std::string, uint64_t> priority;
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
    w.PutJson(Cf::kFiles, Key({name, r.version, r.filename}), nlohmann::json(r));
    AddUnique(&project.versions, r.version);
    uint64_t p = PriorityOf(r.upload_time);
    auto it = priority.find(r.version);
    if (it == priority.end() || p < it->second) priority[r.version] = p;
    releases[r.version].push_back(std::move(r));
  }
  if (options_.latest_only && !releases.empty()) {
    std::string newest = releases.begin()->first;
    for (const auto& [v, _] : releases)
      if (VersionLess(newest, v)) newest = v;
    for (auto it = releases.begin(); it != releases.end();)
      it = it->first == newest ? std::next(it) : releases.erase(it);
  }
  std::set<std::string> created;
  std::vector<std::pair<std::string, std::string>> queued;
  for (const auto& [version, rel] : releases)
    for (const auto& platform : platforms_)
      CreateTasks(w, rel, platform, priority[version], now, &created, &project, &queued);
  w.PutJson(Cf::kProjects, name, nlohmann::json(project));
  PutCounters(w);
  if (!store_.Write(w, false, err)) {
    counters_ = saved;
    *err = "recording project '" + name + "': " + *err;
    return false;
  }
  for (const auto& [platform, qk] : queued) scheduler_->AddTask(platform, qk);
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
    uint64_t priority = UINT64_MAX;
    for (const auto& f : release) priority = std::min(priority, PriorityOf(f.upload_time));
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
    if (!FromJson(nlohmann::json::parse(value, nullptr, false), &f)) return true;
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
  if (!req.platforms.empty() && !AddPlatforms(req.platforms, now, &err))
    spdlog::warn("enrolment of {}: adding its platforms: {}", req.machine_key.substr(0, 16), err);
  return true;
}

bool Engine::FindVolunteer(const std::string& volunteer_id, VolunteerRecord* out) {
  nlohmann::json j;
  VolunteerRecord v;
  if (!store_.GetJson(Cf::kVolunteers, volunteer_id, &j) || !FromJson(j, &v)) return false;
  if (out) *out = std::move(v);
  return true;
}

LeaseResponse Engine::Lease(const std::string& volunteer_id, const LeaseRequest& request,
                            int64_t now) {
  LeaseResponse resp;
  VolunteerRecord v;
  if (!FindVolunteer(volunteer_id, &v)) return resp;
  std::lock_guard<std::mutex> lock(mu_);
  auto leases = scheduler_->Lease(volunteer_id, v.account, request.platforms, request.slots, now,
                                  options_.lease_seconds);
  WriteSet w;
  for (const auto& l : leases) {
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
    resp.tasks.push_back(std::move(spec));
    LeaseRecord r{l.lease_id, l.task_id, l.volunteer_id, l.account, l.issued_at, l.deadline,
                  "active"};
    w.PutJson(Cf::kLeases, l.lease_id, nlohmann::json(r));
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err))
    spdlog::error("recording leases for {}: {}", volunteer_id.substr(0, 16), err);
  int got = static_cast<int>(resp.tasks.size());
  resp.next_poll_s = got > 0 && got >= request.slots ? 1 : got > 0 ? 2 : 30;
  return resp;
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
  nlohmann::json j;
  ResultRecord existing;
  if (store_.GetJson(Cf::kResults, Key({p.task_id, p.lease_id}), &j) && FromJson(j, &existing)) {
    if (existing.volunteer_id == volunteer_id) return Submit::kDuplicate;
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
  TaskRecord task;
  if (!store_.GetJson(Cf::kTasks, p.task_id, &j) || !FromJson(j, &task)) {
    *refusal = {"not_leased", "unknown task " + p.task_id};
    return Submit::kRefused;
  }
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

  Counters saved = counters_;
  ResultRecord r{p.task_id, p.lease_id, volunteer_id, lease.account, now, envelope_text};
  lease.state = "completed";
  ++task.results;
  ++counters_.results;
  WriteSet w;
  w.PutJson(Cf::kResults, Key({p.task_id, p.lease_id}), nlohmann::json(r));
  w.Put(Cf::kVolunteerResults, Key({volunteer_id, OrderedHex(static_cast<uint64_t>(now)), p.task_id}), "");
  w.PutJson(Cf::kLeases, lease.lease_id, nlohmann::json(lease));
  w.PutJson(Cf::kTasks, task.task_id, nlohmann::json(task));
  PutCounters(w);
  std::string err;
  if (!store_.Write(w, /*sync=*/true, &err)) {
    counters_ = saved;
    *refusal = {"internal", "storing the result: " + err};
    return Submit::kRefused;
  }

  std::vector<Vote> votes;
  std::vector<ResultPayload> payloads;
  LoadVotes(task.task_id, &votes, &payloads);
  QuorumDecision d = coordinator::Decide(votes, options_.policy);
  scheduler_->OnResult(task.task_id, lease.lease_id, lease.account,
                       d.kind == QuorumDecision::Kind::kNeedMore ? d.wanted : 0);
  if (d.kind == QuorumDecision::Kind::kNeedMore) return Submit::kAccepted;

  // A verdict (or the end of trying): record it and grant credit.
  saved = counters_;
  WriteSet v;
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
    for (size_t i : d.agreeing) {
      VolunteerRecord vol;
      if (!FindVolunteer(votes[i].volunteer_id, &vol)) continue;
      ++vol.verified_results;
      vol.credit += verdict.credit_each;
      vol.decayed_credit = DecayCredit(vol.decayed_credit, vol.decayed_at, now) + verdict.credit_each;
      vol.decayed_at = now;
      v.PutJson(Cf::kVolunteers, vol.volunteer_id, nlohmann::json(vol));
      CreditEntry c{vol.volunteer_id, vol.account, task.task_id, verdict.credit_each, now};
      v.PutJson(Cf::kCreditLog, Key({OrderedHex(static_cast<uint64_t>(now)), task.task_id, vol.volunteer_id}),
                nlohmann::json(c));
    }
  } else {
    verdict.status = "inconclusive";
    std::map<std::string, int> seen;
    for (const auto& vote : votes)
      if (vote.outcome != Outcome::kInfraError) ++seen[std::string(OutcomeName(vote.outcome))];
    for (const auto& [o, n] : seen)
      verdict.summary += (verdict.summary.empty() ? "replicas disagreed: " : ", ") + o + " x" + std::to_string(n);
    ++counters_.inconclusive;
  }
  task.decided = true;
  ++counters_.verdicts;
  ProjectRecord project;
  if (LoadProject(task.project, &project)) {
    ++project.verdicts;
    v.PutJson(Cf::kProjects, project.name, nlohmann::json(project));
  }
  v.PutJson(Cf::kVerdicts, task.task_id, nlohmann::json(verdict));
  v.PutJson(Cf::kTasks, task.task_id, nlohmann::json(task));
  v.Delete(Cf::kQueue, QueueKey(task.platform, task.priority, task.task_id));
  for (const auto& l : scheduler_->OnDecided(task.task_id)) {
    LeaseRecord lr;
    if (store_.GetJson(Cf::kLeases, l.lease_id, &j) && FromJson(j, &lr)) {
      lr.state = "cancelled";
      v.PutJson(Cf::kLeases, lr.lease_id, nlohmann::json(lr));
    }
  }
  PutCounters(v);
  if (!store_.Write(v, true, &err)) {
    // The result itself is stored; the verdict is recomputed on the next
    // result or restart.
    counters_ = saved;
    spdlog::error("recording the verdict of task {}: {}", task.task_id, err);
  }
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
    spdlog::info("lease {} of task {} ({}) expired; the task goes back to the queue", l.lease_id,
                 l.task_id.substr(0, 12), l.volunteer_id.substr(0, 16));
  }
  std::string err;
  if (!w.empty() && !store_.Write(w, false, &err)) spdlog::error("recording expired leases: {}", err);
  return static_cast<int>(expired.size());
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
