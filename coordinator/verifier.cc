// The verifier's side of the Engine (DESIGN.md section 6): what follows from
// a verdict for the volunteers who answered (reputation.h), known-answer
// checks (known_answer.h), and what happens to a volunteer caught lying:
//
//   1. it is suspended: it leases nothing more and its results are refused;
//      its active leases end at once;
//   2. every verdict it helped decide (its result among the agreeing ones,
//      or a vote in an inconclusive one) is reopened: withdrawn with the
//      credit it granted, its task queued again, where its results no longer
//      vote, so that other volunteers verify it afresh;
//   3. the rest of its credit is clawed back;
//   4. its account is flagged, and the account's other machines lose their
//      trust (every task replicated again, a few known-answer checks owed)
//      and the verdicts they decided alone are reopened too;
//   5. the volunteers whose agreeing results contradicted it share a bounty:
//      part of the clawed-back credit, never minted afresh, so that
//      exposing one's own sock puppet never pays.
//
// Every method here runs under the Engine's lock.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "coordinator/credit.h"
#include "common/protocol.h"
#include "coordinator/engine.h"
#include "coordinator/verdict_feed.h"

namespace corral::coordinator {

namespace {

// Scanning this many verdicts at start-up fills the known-answer pool well
// enough; new verdicts keep adding to it.
constexpr size_t kKnownAnswerScan = 50000;

std::string UtcDate(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

// The writes of one suspension, with the records it changes more than once
// (a project losing several verdicts, a volunteer losing the credit of
// several), kept here so that each is written once with every change.
struct Engine::ReopenBatch {
  explicit ReopenBatch(Engine& e) : engine(e) {}
  VolunteerRecord* Vol(const std::string& id) {
    auto it = volunteers.find(id);
    if (it != volunteers.end()) return &it->second;
    VolunteerRecord v;
    if (!engine.FindVolunteer(id, &v)) return nullptr;
    return &volunteers.emplace(id, std::move(v)).first->second;
  }
  ProjectRecord* Project(const std::string& name) {
    auto it = projects.find(name);
    if (it != projects.end()) return &it->second;
    ProjectRecord p;
    if (!engine.LoadProject(name, &p)) return nullptr;
    return &projects.emplace(name, std::move(p)).first->second;
  }

  Engine& engine;
  WriteSet w;
  std::map<std::string, VolunteerRecord> volunteers;
  std::map<std::string, ProjectRecord> projects;
  std::vector<std::pair<std::string, std::string>> requeue;  // platform, queue key
  std::set<std::string> tasks;  // reopened in this batch (the store still says decided): those of `withdrawn`
  struct Withdrawn {
    std::string task_id, status;
    int64_t decided_at = 0;
  };
  std::vector<Withdrawn> withdrawn;  // the verdicts reopened, for the observer and the feeds
  int reopened = 0;
};

void Engine::LoadVerifierState() {
  rng_.seed(options_.seed ? options_.seed : std::random_device{}());
  store_.Scan(Cf::kVolunteers, "", "", [&](std::string_view, std::string_view value) {
    VolunteerRecord v;
    if (FromJson(ParseJsonOrDiscarded(value), &v) && v.suspended)
      suspended_.insert(v.volunteer_id);
    return true;
  });
  size_t scanned = 0;
  store_.Scan(Cf::kVerdicts, "", "", [&](std::string_view key, std::string_view value) {
    VerdictRecord v;
    nlohmann::json j;
    TaskRecord t;
    if (FromJson(ParseJsonOrDiscarded(value), &v) && IsSettledVerdict(v) &&
        store_.GetJson(Cf::kTasks, key, &j) && FromJson(j, &t))
      known_answers_.Add(t.platform, t.task_id);
    return ++scanned < kKnownAnswerScan;
  });
}

double Engine::Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

ReputationRecord& Engine::Reputation(const std::string& volunteer_id) {
  auto it = reputation_.find(volunteer_id);
  if (it != reputation_.end()) return it->second;
  ReputationRecord r;
  nlohmann::json j;
  if (!(store_.GetJson(Cf::kReputation, volunteer_id, &j) && FromJson(j, &r))) r = ReputationRecord{};
  r.volunteer_id = volunteer_id;
  return reputation_.emplace(volunteer_id, std::move(r)).first->second;
}

void Engine::PutReputation(WriteSet& w, const std::string& volunteer_id) {
  w.PutJson(Cf::kReputation, volunteer_id, nlohmann::json(Reputation(volunteer_id)));
}

bool Engine::IsEstablished(const std::string& volunteer_id, const std::string& account) {
  if (suspended_.count(volunteer_id)) return false;
  if (trusted_accounts_.count(account)) return true;
  return EarnedStanding(Reputation(volunteer_id), options_.reputation);
}

bool Engine::FindReputation(const std::string& volunteer_id, ReputationRecord* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reputation_.find(volunteer_id);
  if (it != reputation_.end()) {
    *out = it->second;
    return true;
  }
  nlohmann::json j;
  return store_.GetJson(Cf::kReputation, volunteer_id, &j) && FromJson(j, out);
}

void Engine::SetReopenObserver(ReopenObserver observer) { reopen_observer_ = std::move(observer); }

// --- known-answer checks ---

int Engine::KnownAnswerSlots(const ReputationRecord& r, int room) {
  double rate = r.review_checks > 0 ? options_.reputation.review_check_rate : options_.known_answer_rate;
  if (!(rate > 0)) return 0;
  int n = 0;
  for (int i = 0; i < room; ++i)
    if (Uniform() < rate) ++n;
  return n;
}

std::vector<ActiveLease> Engine::LeaseKnownAnswers(const Asker& asker,
                                                   const std::vector<std::string>& platforms, int n,
                                                   int64_t now) {
  std::vector<ActiveLease> out;
  if (n <= 0) return out;
  for (const auto& id : known_answers_.Candidates(platforms, static_cast<size_t>(n) * 4)) {
    if (static_cast<int>(out.size()) >= n) break;
    // Never a task the asker's account or network answered: it would know
    // the answer, and its own result is no independent check.
    std::vector<Vote> votes;
    LoadVotes(id, &votes, nullptr);
    bool known = std::any_of(votes.begin(), votes.end(), [&](const Vote& v) {
      return v.account == asker.account || (!asker.prefix.empty() && v.prefix == asker.prefix);
    });
    if (known) continue;
    ActiveLease l;
    if (scheduler_->LeaseKnownAnswer(asker, id, now, options_.lease_seconds, &l)) out.push_back(l);
  }
  return out;
}

Engine::Submit Engine::SubmitKnownAnswer(const ResultPayload& p, const std::string& envelope_text,
                                         LeaseRecord lease, TaskRecord task, int64_t now,
                                         Refusal* refusal) {
  if (p.input_sha256 != task.sha256) {
    *refusal = {"wrong_input", "the result is for input sha256 " + p.input_sha256 + " but task " +
                                   p.task_id + " is " + task.filename + " with sha256 " + task.sha256 +
                                   "; the download was not the task's file"};
    return Submit::kRefused;
  }
  nlohmann::json j;
  VerdictRecord verdict;
  if (!task.decided || !store_.GetJson(Cf::kVerdicts, task.task_id, &j) || !FromJson(j, &verdict)) {
    *refusal = {"lease_cancelled", "lease " + p.lease_id + " was cancelled: task " + p.task_id +
                                       " is being verified again; drop it"};
    return Submit::kRefused;
  }
  const std::string& me = lease.volunteer_id;
  Vote mine;
  mine.outcome = p.outcome;
  mine.failing_tests = p.failing_tests;
  mine.wheel_content_digest = p.wheel_content_digest;
  Judgement judgement = Judgement::kValid;
  std::vector<std::string> exposers;
  if (IsSpurious(p.outcome)) {
    judgement = Judgement::kError;
  } else {
    std::vector<Vote> votes;
    LoadVotes(task.task_id, &votes, nullptr);
    Difference worst = Difference::kNone;
    int compared = 0;
    for (const auto& v : votes) {
      if (std::find(verdict.agreeing_leases.begin(), verdict.agreeing_leases.end(), v.lease_id) ==
          verdict.agreeing_leases.end())
        continue;
      ++compared;
      exposers.push_back(v.volunteer_id);
      worst = std::max(worst, Compare(mine, v));
    }
    judgement = compared == 0                       ? Judgement::kUnchecked
                : worst == Difference::kResult     ? Judgement::kInvalid
                : worst == Difference::kDigestOnly ? Judgement::kDigestOnly
                                                   : Judgement::kValid;
  }
  ReputationRecord& rep = Reputation(me);
  ++rep.results;
  ++rep.checks;
  if (judgement == Judgement::kInvalid) {
    ++rep.checks_failed;
    to_judge_.insert(me);
  }
  RecordJudgement(&rep, task.platform, judgement, options_.reputation, TestedSomething(p.outcome),
                  judgement == Judgement::kInvalid ? exposers : std::vector<std::string>{},
                  task.task_id);

  Counters saved = counters_;
  ResultRecord r{p.task_id, p.lease_id, me, lease.account, now, envelope_text};
  r.prefix = lease.prefix;
  r.known_answer = true;
  r.matches_known_answer = judgement == Judgement::kValid;
  lease.state = "completed";
  ++task.results;
  ++counters_.results;
  WriteSet w;
  w.PutJson(Cf::kResults, Key({p.task_id, p.lease_id}), nlohmann::json(r));
  w.Put(Cf::kVolunteerResults, Key({me, OrderedHex(static_cast<uint64_t>(now)), p.task_id}), "");
  w.PutJson(Cf::kLeases, lease.lease_id, nlohmann::json(lease));
  w.PutJson(Cf::kTasks, task.task_id, nlohmann::json(task));
  PutReputation(w, me);
  PutCounters(w);
  std::string err;
  if (!store_.Write(w, /*sync=*/true, &err)) {
    counters_ = saved;
    *refusal = {"internal", "storing the result: " + err};
    return Submit::kRefused;
  }
  scheduler_->OnKnownAnswerResult(task.task_id, lease.lease_id);
  if (judgement == Judgement::kInvalid)
    spdlog::warn("volunteer {} contradicted the settled verdict of task {} ({} {} on {}: {} vs {})",
                 me.substr(0, 16), task.task_id.substr(0, 12), task.project, task.version,
                 task.platform, OutcomeName(p.outcome), verdict.status);
  EnforceSuspensions(now);
  return Submit::kAccepted;
}

// --- adaptive replication and judgements ---

bool Engine::SingleReplicaVote(const TaskRecord& task, const std::vector<Vote>& votes, size_t* index,
                               double* held_seconds, const ResultRecord* just_stored,
                               const LeaseRecord* its_lease) {
  if (!options_.reputation.adaptive_replication) return false;
  int voting = 0;
  size_t at = 0;
  for (size_t i = 0; i < votes.size(); ++i)
    if (!votes[i].excluded && !IsSpurious(votes[i].outcome)) {
      ++voting;
      at = i;
    }
  if (voting != 1) return false;
  const Vote& v = votes[at];
  nlohmann::json j;
  LeaseRecord stored_lease;
  ResultRecord stored_result;
  const bool in_memory = just_stored && its_lease && just_stored->lease_id == v.lease_id &&
                         its_lease->lease_id == v.lease_id && just_stored->task_id == task.task_id;
  const LeaseRecord* lease = its_lease;
  const ResultRecord* result = just_stored;
  if (!in_memory) {
    if (!store_.GetJson(Cf::kLeases, v.lease_id, &j) || !FromJson(j, &stored_lease)) return false;
    lease = &stored_lease;
  }
  if (!lease->single) return false;
  // Trust may have been lost since the lease was issued: then a peer decides.
  if (suspended_.count(v.volunteer_id) ||
      SingleReplicaProbability(Reputation(v.volunteer_id), task.platform, options_.reputation) <= 0)
    return false;
  if (!in_memory) {
    if (!store_.GetJson(Cf::kResults, Key({task.task_id, v.lease_id}), &j) || !FromJson(j, &stored_result))
      return false;
    result = &stored_result;
  }
  *index = at;
  *held_seconds = static_cast<double>(result->received_at - lease->issued_at);
  return true;
}

void Engine::JudgeVerdict(const TaskRecord& task, const std::vector<Vote>& votes,
                          const QuorumDecision& d, bool single, WriteSet& w) {
  // An inconclusive task proves nobody wrong; infra_error was judged when it came.
  if (d.kind != QuorumDecision::Kind::kVerdict || d.agreeing.empty()) return;
  const ReputationPolicy& policy = options_.reputation;
  if (single) {
    const std::string& id = votes[d.agreeing[0]].volunteer_id;
    RecordJudgement(&Reputation(id), task.platform, Judgement::kUnchecked, policy, false);
    PutReputation(w, id);
    return;
  }
  const Vote& reference = votes[d.agreeing[0]];
  std::vector<std::string> exposers;
  for (size_t i : d.agreeing) exposers.push_back(votes[i].volunteer_id);
  for (size_t i = 0; i < votes.size(); ++i) {
    const Vote& v = votes[i];
    if (v.excluded || IsSpurious(v.outcome)) continue;
    Judgement j = Judgement::kValid;
    if (std::find(d.agreeing.begin(), d.agreeing.end(), i) == d.agreeing.end()) {
      Difference diff = Compare(v, reference);
      j = diff == Difference::kResult       ? Judgement::kInvalid
          : diff == Difference::kDigestOnly ? Judgement::kDigestOnly
                                            : Judgement::kValid;
    }
    RecordJudgement(&Reputation(v.volunteer_id), task.platform, j, policy, TestedSomething(v.outcome),
                    j == Judgement::kInvalid ? exposers : std::vector<std::string>{}, task.task_id);
    // Standing grows only from agreement with an established volunteer of
    // another account: a group of newcomers cannot vouch for one another.
    if (j == Judgement::kValid && TestedSomething(v.outcome))
      for (size_t k : d.agreeing)
        if (k != i && votes[k].established && votes[k].account != v.account) {
          RecordIndependentValidation(&Reputation(v.volunteer_id), votes[k].account);
          break;
        }
    if (j == Judgement::kInvalid) to_judge_.insert(v.volunteer_id);
    PutReputation(w, v.volunteer_id);
  }
}

// --- cheaters ---

void Engine::EnforceSuspensions(int64_t now) {
  std::set<std::string> ids;
  ids.swap(to_judge_);
  for (const auto& id : ids)
    if (!suspended_.count(id) && ShouldSuspend(Reputation(id), options_.reputation)) Suspend(id, now);
}

bool Engine::ReopenVerdict(ReopenBatch& batch, const std::string& task_id, int64_t now) {
  nlohmann::json j;
  TaskRecord t;
  VerdictRecord v;
  if (!store_.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t) || !t.decided ||
      !store_.GetJson(Cf::kVerdicts, task_id, &j) || !FromJson(j, &v))
    return false;
  if (v.status == "unsupported" && v.agreeing_leases.empty()) return false;  // no volunteer decided it
  if (!batch.tasks.insert(task_id).second) return false;
  // The credit the verdict granted goes back; whoever agrees when it is
  // decided again earns it then.
  for (const auto& lease_id : v.agreeing_leases) {
    ResultRecord r;
    if (!store_.GetJson(Cf::kResults, Key({task_id, lease_id}), &j) || !FromJson(j, &r)) continue;
    VolunteerRecord* vol = batch.Vol(r.volunteer_id);
    if (!vol) continue;
    vol->credit = std::max(0.0, vol->credit - v.credit_each);
    vol->decayed_credit = std::max(0.0, DecayCredit(vol->decayed_credit, vol->decayed_at, now) -
                                            DecayCredit(v.credit_each, v.decided_at, now));
    vol->decayed_at = now;
    vol->verified_results = std::max<int64_t>(0, vol->verified_results - 1);
    batch.w.Delete(Cf::kCreditLog,
                   Key({OrderedHex(static_cast<uint64_t>(v.decided_at)), task_id, r.volunteer_id}));
  }
  --counters_.verdicts;
  if (v.status == "inconclusive") --counters_.inconclusive;
  if (ProjectRecord* project = batch.Project(t.project))
    project->verdicts = std::max<int64_t>(0, project->verdicts - 1);
  t.decided = false;
  batch.w.PutJson(Cf::kTasks, task_id, nlohmann::json(t));
  batch.w.Delete(Cf::kVerdicts, task_id);
  batch.w.Delete(Cf::kVerdictTimes, VerdictTimeKey(v.decided_at, task_id));
  std::string qk = QueueKey(t.platform, t.priority, task_id);
  // Known-answer checks of it in flight end: it is no known answer now.
  for (const auto& l : scheduler_->Cancel(task_id, t.platform, qk)) {
    LeaseRecord lr;
    if (store_.GetJson(Cf::kLeases, l.lease_id, &j) && FromJson(j, &lr)) {
      lr.state = "cancelled";
      batch.w.PutJson(Cf::kLeases, lr.lease_id, nlohmann::json(lr));
    }
  }
  known_answers_.Remove(task_id);
  if (!t.cancelled) {  // a yanked input stays out of the queue
    batch.w.Put(Cf::kQueue, qk, "");
    batch.requeue.emplace_back(t.platform, qk);
  }
  batch.withdrawn.push_back({task_id, v.status, v.decided_at});
  ++batch.reopened;
  spdlog::info("verdict of task {} ({} {} on {}: {}) reopened; the task is verified again",
               task_id.substr(0, 12), t.project, t.version, t.platform, v.status);
  return true;
}

void Engine::Suspend(const std::string& id, int64_t now) {
  ReopenBatch batch(*this);
  VolunteerRecord* vol = batch.Vol(id);
  if (!vol || vol->suspended) return;
  ReputationRecord& rep = Reputation(id);
  Counters saved = counters_;
  double clawed = vol->credit;
  std::string account = vol->account;
  std::string latest = rep.contradicted_tasks.empty() ? "" : rep.contradicted_tasks.back();
  std::string reason = std::to_string(rep.invalid) + " of its results contradicted by other " +
                       "volunteers' agreeing results or by settled verdicts (" +
                       std::to_string(rep.validated) + " confirmed)" +
                       (latest.empty() ? "" : "; latest: task " + latest);
  suspended_.insert(id);  // from now on its results do not vote

  // 1. Its leases end now, and their tasks go to someone else.
  for (const auto& lease_id : scheduler_->LeasesOf(id)) {
    ActiveLease l;
    nlohmann::json j;
    LeaseRecord lr;
    if (scheduler_->ReturnLease(id, lease_id, &l) && store_.GetJson(Cf::kLeases, lease_id, &j) &&
        FromJson(j, &lr)) {
      lr.state = "cancelled";
      batch.w.PutJson(Cf::kLeases, lease_id, nlohmann::json(lr));
    }
  }

  // Each task a volunteer answered, with its (non-check) leases on it.
  auto answered = [&](const std::string& volunteer_id) {
    std::map<std::string, std::vector<std::string>> out;
    std::set<std::string> tasks;
    store_.Scan(Cf::kVolunteerResults, Key({volunteer_id, ""}), "",
                [&](std::string_view key, std::string_view) {
                  auto parts = SplitKey(key);
                  if (parts.size() == 3) tasks.insert(parts[2]);
                  return true;
                });
    for (const auto& t : tasks)
      store_.Scan(Cf::kResults, Key({t, ""}), "", [&](std::string_view, std::string_view value) {
        ResultRecord r;
        if (FromJson(ParseJsonOrDiscarded(value), &r) &&
            r.volunteer_id == volunteer_id && !r.known_answer)
          out[t].push_back(r.lease_id);
        return true;
      });
    return out;
  };

  // 2. Every verdict it helped decide is verified again.
  int64_t reopened = 0;
  for (const auto& [task_id, leases] : answered(id)) {
    nlohmann::json j;
    VerdictRecord v;
    if (!store_.GetJson(Cf::kVerdicts, task_id, &j) || !FromJson(j, &v)) continue;
    bool helped = v.status == "inconclusive";
    for (const auto& l : leases)
      helped = helped || std::count(v.agreeing_leases.begin(), v.agreeing_leases.end(), l) > 0;
    if (helped && ReopenVerdict(batch, task_id, now)) ++reopened;
  }

  // 3. The rest of its credit is clawed back.
  vol = batch.Vol(id);
  vol->suspended = true;
  vol->suspended_reason = reason;
  vol->suspended_at = now;
  vol->clawed_back += clawed;
  vol->credit = 0;
  vol->decayed_credit = 0;
  vol->decayed_at = now;
  vol->verdicts_reopened += reopened;
  rep.results_at_suspension = rep.results;
  PutReputation(batch.w, id);

  // 4. Its account is flagged; its other machines are re-checked.
  nlohmann::json j;
  AccountRecord acct;
  int rechecked = 0;
  if (store_.GetJson(Cf::kAccounts, account, &j) && FromJson(j, &acct)) {
    acct.suspended = true;
    acct.suspended_reason = "machine " + (vol->name.empty() ? id.substr(0, 16) : vol->name) +
                            " was caught lying on " + UtcDate(now) +
                            "; the account's machines get no work until the operator clears it, "
                            "and are re-checked after";
    batch.w.PutJson(Cf::kAccounts, account, nlohmann::json(acct));
    for (const auto& m : acct.machines) {
      if (m == id || suspended_.count(m)) continue;
      ResetTrust(&Reputation(m), options_.reputation);
      PutReputation(batch.w, m);
      ++rechecked;
      // What it decided alone rested on trust in this account.
      for (const auto& [task_id, leases] : answered(m)) {
        VerdictRecord v;
        if (!store_.GetJson(Cf::kVerdicts, task_id, &j) || !FromJson(j, &v) || v.agreeing != 1)
          continue;
        if (std::find(leases.begin(), leases.end(), v.agreeing_leases[0]) != leases.end())
          ReopenVerdict(batch, task_id, now);
      }
    }
  }

  // 5. A bounty for those whose results exposed it: a share of what was
  // clawed back, split evenly.
  std::vector<std::string> exposers;
  for (const auto& [e, _] : rep.exposed_by) {
    if (e == id || suspended_.count(e)) continue;
    VolunteerRecord* ev = batch.Vol(e);
    if (ev && ev->account != account) exposers.push_back(e);
  }
  double each = exposers.empty() ? 0 : clawed * options_.reputation.bounty_share /
                                           static_cast<double>(exposers.size());
  for (const auto& e : exposers) {
    VolunteerRecord* ev = batch.Vol(e);
    ++ev->cheaters_exposed;
    ev->bounty += each;
    ev->credit += each;
    ev->decayed_credit = DecayCredit(ev->decayed_credit, ev->decayed_at, now) + each;
    ev->decayed_at = now;
  }

  // 6. What followed from the withdrawn verdicts (their wheels on /simple/)
  // is withdrawn too, and each withdrawal is news in the feeds
  // (verdict_feed.h): an entry at its time, beside the verdicts.
  std::map<std::string, int> wheels_withdrawn;
  if (reopen_observer_ && !batch.tasks.empty()) wheels_withdrawn = reopen_observer_(batch.tasks, &batch.w);
  for (const auto& wd : batch.withdrawn) {
    auto it = wheels_withdrawn.find(wd.task_id);
    batch.w.Put(Cf::kVerdictTimes, VerdictTimeKey(now, wd.task_id),
                WithdrawalFeedValue(wd.status, wd.decided_at, it == wheels_withdrawn.end() ? 0 : it->second));
  }

  for (const auto& [vid, v] : batch.volunteers) batch.w.PutJson(Cf::kVolunteers, vid, nlohmann::json(v));
  for (const auto& [name, p] : batch.projects) batch.w.PutJson(Cf::kProjects, name, nlohmann::json(p));
  PutCounters(batch.w);
  std::string err;
  if (!store_.Write(batch.w, /*sync=*/true, &err)) {
    counters_ = saved;
    suspended_.erase(id);
    spdlog::error("suspending volunteer {}: {}", id.substr(0, 16), err);
    return;
  }
  for (const auto& [platform, qk] : batch.requeue) scheduler_->AddTask(platform, qk);
  if (!account.empty()) flagged_accounts_.insert(account);
  spdlog::warn("volunteer {} suspended after {} result(s): {}; {} verdict(s) reopened, {:.0f} credit "
               "clawed back, {:.0f} bounty to each of {} volunteer(s), {} other machine(s) of its "
               "account re-checked",
               id.substr(0, 16), rep.results, reason, batch.reopened, clawed, each, exposers.size(),
               rechecked);
}

}  // namespace corral::coordinator
