#include "coordinator/views.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/protocol.h"
#include "coordinator/credit.h"
#include "coordinator/records.h"
#include "coordinator/reputation.h"

namespace corral::coordinator {

namespace {

std::string ResultSummary(const ResultPayload& p) {
  if (!p.summary.empty()) return p.summary;
  return std::string(OutcomeName(p.outcome));
}

}  // namespace

nlohmann::json ProjectsListJson(const Store& store, const Counters& c) {
  nlohmann::json projects = nlohmann::json::array();
  store.Scan(Cf::kProjects, "", "", [&](std::string_view, std::string_view value) {
    ProjectRecord p;
    if (FromJson(ParseJsonOrDiscarded(value), &p))
      projects.push_back({{"project", p.name},
                          {"versions", p.versions.size()},
                          {"verdicts", p.verdicts},
                          {"pending", p.tasks - p.verdicts}});
    return true;
  });
  return {{"projects", projects},
          {"stats",
           {{"projects", c.projects},
            {"tasks", c.tasks},
            {"verdicts", c.verdicts},
            {"volunteers", c.volunteers},
            {"results", c.results}}}};
}

nlohmann::json ProjectJson(const Matrix& m) {
  nlohmann::json versions = nlohmann::json::array();
  for (const auto& r : m.rows) {
    nlohmann::json cells = nlohmann::json::object();
    for (const auto& [platform, c] : r.cells)
      cells[platform] = {{"status", c.status},   {"task_id", c.task_id},   {"results", c.results},
                         {"agreeing", c.agreeing}, {"summary", c.summary}};
    versions.push_back({{"version", r.version},
                        {"yanked", r.yanked},
                        {"requires_python", r.requires_python},
                        {"filename", r.filename},
                        {"cells", cells}});
  }
  return {{"project", m.project}, {"display_name", m.display_name}, {"summary", m.summary},
          {"platforms", m.platforms}, {"versions", versions}};
}

bool TaskJson(const Store& store, const std::string& task_id, const std::string& public_url,
              nlohmann::json* out) {
  nlohmann::json j;
  TaskRecord t;
  if (!store.GetJson(Cf::kTasks, task_id, &j) || !FromJson(j, &t)) return false;
  VerdictRecord v;
  bool has_verdict = store.GetJson(Cf::kVerdicts, task_id, &j) && FromJson(j, &v);
  std::set<std::string> agreeing(v.agreeing_leases.begin(), v.agreeing_leases.end());
  nlohmann::json results = nlohmann::json::array();
  store.Scan(Cf::kResults, Key({task_id, ""}), "", [&](std::string_view, std::string_view value) {
    ResultRecord r;
    ResultPayload p;
    std::string err;
    if (!FromJson(ParseJsonOrDiscarded(value), &r) || !ParseStoredResultEnvelope(r.envelope, &p, &err)) {
      // A record this version cannot read (written before results were
      // bounded) is left out of the page, not fatal to it.
      spdlog::warn("task {}: skipping a stored result that cannot be read back: {}", task_id,
                   err.empty() ? "not a result record" : err);
      return true;
    }
    VolunteerRecord vol;
    nlohmann::json vj;
    if (store.GetJson(Cf::kVolunteers, r.volunteer_id, &vj)) FromJson(vj, &vol);
    AccountRecord account;
    nlohmann::json aj;
    if (store.GetJson(Cf::kAccounts, r.account, &aj)) FromJson(aj, &account);
    if (!has_verdict) {
      // Sealed until the verdict: a volunteer holding a replica of this task
      // must not be able to copy another's answer (DESIGN.md section 6).
      results.push_back({{"volunteer_id", r.volunteer_id},
                         {"volunteer_name", vol.name},
                         {"account", r.account},
                         {"account_name", account.name},
                         {"outcome", "pending"},
                         {"summary", "sealed until the task has a verdict, so that no volunteer can "
                                     "copy another's result"},
                         {"sealed", true},
                         {"received_at", r.received_at}});
      return true;
    }
    results.push_back(
        {{"volunteer_id", r.volunteer_id},
         {"volunteer_name", vol.name},
         {"account", r.account},
         {"account_name", account.name},
         {"lease_id", r.lease_id},
         {"outcome", OutcomeName(p.outcome)},
         {"summary", ResultSummary(p)},
         {"tests", {{"passed", p.tests_passed}, {"failed", p.tests_failed}, {"errors", p.tests_errors},
                    {"skipped", p.tests_skipped}}},
         {"failing_tests", p.failing_tests},
         {"test_run", p.test_run},
         {"durations", {{"build_s", p.build_seconds}, {"test_s", p.test_seconds}, {"total_s", p.total_seconds}}},
         {"wheel", {{"filename", p.wheel_filename}, {"sha256", p.wheel_sha256},
                    {"content_digest", p.wheel_content_digest}}},
         {"log_sha256", p.log_sha256},
         {"log_url", p.log_sha256.empty() ? "" : "/api/v1/artifacts/" + p.log_sha256},
         {"commands", p.commands},
         {"environment", p.environment},
         {"platform", p.platform},
         {"isolation", p.isolation},
         {"agrees", agreeing.count(r.lease_id) > 0 || (r.known_answer && r.matches_known_answer)},
         {"known_answer_check", r.known_answer},
         {"volunteer_suspended", vol.suspended},  // its result no longer votes
         {"received_at", r.received_at},
         {"envelope", ParseJsonOrDiscarded(r.envelope)}});
    return true;
  });
  std::string status = has_verdict ? v.status : "pending";
  std::string summary = has_verdict ? v.summary
                                    : (t.results ? std::to_string(t.results) + " result(s), waiting for agreement"
                                                 : "waiting for a volunteer");
  *out = {{"task_id", t.task_id},   {"project", t.project},   {"version", t.version},
          {"filename", t.filename}, {"sha256", t.sha256},     {"url", t.url},
          {"platform", t.platform}, {"requires_python", t.requires_python},
          {"status", status},       {"summary", summary},
          {"evidence", has_verdict ? v.evidence : ""},
          {"credit_each", has_verdict ? v.credit_each : 0.0},
          {"reproduce", "corral reproduce " + t.task_id + " --coordinator " + public_url},
          {"results", results}};
  return true;
}

nlohmann::json CompatJson(const Matrix& m, const CompatQuestion& q, const std::string& python,
                          const CompatAnswer& a) {
  auto list = [](const std::vector<CompatEvidence>& cells) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : cells)
      out.push_back({{"version", e.version}, {"platform", e.platform}, {"status", e.status},
                     {"task_id", e.task_id}, {"agreeing", e.agreeing}});
    return out;
  };
  return {{"project", m.project},
          {"os", q.os},
          {"python", python},
          {"implementation", q.implementation == "pp" ? "pypy" : "cpython"},
          {"version", q.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(q.version)},
          {"answered_version", a.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.version)},
          {"answer", a.answer},
          {"answer_text", AnswerWords(a.answer)},
          {"sentence", a.sentence},
          {"newest_working_version", a.newest_working_version.empty()
                                         ? nlohmann::json(nullptr)
                                         : nlohmann::json(a.newest_working_version)},
          {"evidence", list(a.evidence)},
          {"newest_working_evidence", list(a.newest_working_evidence)}};
}

namespace {

// The account records of `keys`, by key (absent ones left out).
std::map<std::string, AccountRecord> LoadAccounts(const Store& store, const std::set<std::string>& keys) {
  std::map<std::string, AccountRecord> out;
  for (const auto& key : keys) {
    nlohmann::json j;
    AccountRecord rec;
    if (store.GetJson(Cf::kAccounts, key, &j) && FromJson(j, &rec)) out.emplace(key, std::move(rec));
  }
  return out;
}

nlohmann::json OrNull(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

nlohmann::json LeaderboardJson(const Store& store, const std::string& window, int64_t now) {
  struct Row {
    VolunteerRecord v;
    int64_t results = 0;
    double credit = 0;
  };
  std::map<std::string, Row> vols;
  store.Scan(Cf::kVolunteers, "", "", [&](std::string_view, std::string_view value) {
    VolunteerRecord v;
    if (FromJson(ParseJsonOrDiscarded(value), &v)) {
      Row& r = vols[v.volunteer_id];
      r.v = v;
      if (window == "all") {
        r.results = v.verified_results;
        r.credit = v.credit;
      }
    }
    return true;
  });
  if (window != "all") {
    int64_t since = now - (window == "day" ? 86400 : 7 * 86400);
    store.Scan(Cf::kCreditLog, "", OrderedHex(static_cast<uint64_t>(std::max<int64_t>(since, 0))),
               [&](std::string_view, std::string_view value) {
                 CreditEntry c;
                 if (!FromJson(ParseJsonOrDiscarded(value), &c)) return true;
                 auto it = vols.find(c.volunteer_id);
                 if (it == vols.end()) return true;
                 // A suspended volunteer's grants up to its suspension were clawed back.
                 if (it->second.v.suspended && c.granted_at <= it->second.v.suspended_at) return true;
                 ++it->second.results;
                 it->second.credit += c.credit;
                 return true;
               });
  }
  // Credit, then verified results; the suspended after everyone else.
  auto before = [](bool sa, double ca, int64_t ra, bool sb, double cb, int64_t rb) {
    if (sa != sb) return !sa;
    return ca != cb ? ca > cb : ra > rb;
  };
  std::vector<const Row*> order;
  for (const auto& [_, r] : vols) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [&](const Row* a, const Row* b) {
    return before(a->v.suspended, a->credit, a->results, b->v.suspended, b->credit, b->results);
  });
  std::set<std::string> account_keys;
  for (const Row* r : order) account_keys.insert(r->v.account);
  std::map<std::string, AccountRecord> account_recs = LoadAccounts(store, account_keys);
  auto account_name = [&](const std::string& key) {
    auto it = account_recs.find(key);
    return it == account_recs.end() ? std::string() : it->second.name;
  };
  struct Acc {
    int64_t machines = 0, results = 0, cheaters_exposed = 0;
    double credit = 0, rac = 0, bounty = 0, clawed_back = 0;
    bool suspended = false;
  };
  std::map<std::string, Acc> accounts;
  nlohmann::json volunteers = nlohmann::json::array(), cheaters = nlohmann::json::array();
  int rank = 0;
  for (const Row* r : order) {
    const VolunteerRecord& v = r->v;
    double rac = RecentAverageCredit(v.decayed_credit, v.decayed_at, now);
    volunteers.push_back({{"rank", v.suspended ? nlohmann::json(nullptr) : nlohmann::json(++rank)},
                          {"volunteer_id", v.volunteer_id},
                          {"name", v.name},
                          {"account", v.account},
                          {"account_name", account_name(v.account)},
                          {"verified_results", r->results},
                          {"credit", r->credit},
                          {"recent_average_credit", rac},
                          {"platforms", v.platforms},
                          {"cheaters_exposed", v.cheaters_exposed},
                          {"bounty", v.bounty},
                          {"suspended", v.suspended},
                          {"suspended_reason", OrNull(v.suspended_reason)},
                          {"clawed_back", v.clawed_back}});
    if (v.suspended)
      cheaters.push_back({{"volunteer_id", v.volunteer_id},
                          {"name", v.name},
                          {"account", v.account},
                          {"account_name", account_name(v.account)},
                          {"suspended_at", v.suspended_at},
                          {"suspended_reason", v.suspended_reason},
                          {"clawed_back", v.clawed_back}});
    Acc& a = accounts[v.account];
    ++a.machines;
    a.results += r->results;
    a.credit += r->credit;
    a.rac += rac;
    a.cheaters_exposed += v.cheaters_exposed;
    a.bounty += v.bounty;
    a.clawed_back += v.clawed_back;
    a.suspended = a.suspended || v.suspended;
  }
  for (auto& [key, a] : accounts) {
    auto it = account_recs.find(key);
    if (it != account_recs.end()) a.suspended = a.suspended || it->second.suspended;
  }
  std::vector<std::pair<std::string, Acc>> acc(accounts.begin(), accounts.end());
  std::stable_sort(acc.begin(), acc.end(), [&](const auto& a, const auto& b) {
    return before(a.second.suspended, a.second.credit, a.second.results, b.second.suspended,
                  b.second.credit, b.second.results);
  });
  nlohmann::json accounts_json = nlohmann::json::array();
  rank = 0;
  int64_t exposed = 0;
  for (const auto& [key, a] : acc) {
    exposed += a.cheaters_exposed;
    accounts_json.push_back({{"rank", a.suspended ? nlohmann::json(nullptr) : nlohmann::json(++rank)},
                             {"account", key},
                             {"name", account_name(key)},
                             {"machines", a.machines},
                             {"verified_results", a.results},
                             {"credit", a.credit},
                             {"recent_average_credit", a.rac},
                             {"cheaters_exposed", a.cheaters_exposed},
                             {"bounty", a.bounty},
                             {"suspended", a.suspended},
                             {"clawed_back", a.clawed_back}});
  }
  return {{"window", window},
          {"volunteers", volunteers},
          {"accounts", accounts_json},
          {"cheaters", cheaters},
          {"totals", {{"volunteers", volunteers.size()}, {"accounts", accounts_json.size()},
                      {"suspended", cheaters.size()}, {"cheaters_exposed", exposed}}}};
}

namespace {

// The newest results of one volunteer (at most 100), with whether each
// agrees with its task's verdict.
nlohmann::json RecentResults(const Store& store, const std::string& volunteer_id) {
  nlohmann::json j;
  std::vector<std::string> task_ids;
  store.Scan(Cf::kVolunteerResults, Key({volunteer_id, ""}), "",
             [&](std::string_view key, std::string_view) {
               auto parts = SplitKey(key);
               if (parts.size() == 3) task_ids.push_back(parts[2]);
               return true;
             });
  std::reverse(task_ids.begin(), task_ids.end());  // newest first
  if (task_ids.size() > 100) task_ids.resize(100);
  nlohmann::json recent = nlohmann::json::array();
  for (const auto& id : task_ids) {
    TaskRecord t;
    if (!store.GetJson(Cf::kTasks, id, &j) || !FromJson(j, &t)) continue;
    VerdictRecord verdict;
    bool decided = store.GetJson(Cf::kVerdicts, id, &j) && FromJson(j, &verdict);
    std::string outcome;
    bool agrees = false;
    store.Scan(Cf::kResults, Key({id, ""}), "", [&](std::string_view, std::string_view value) {
      ResultRecord r;
      ResultPayload p;
      std::string err;
      if (FromJson(ParseJsonOrDiscarded(value), &r) && r.volunteer_id == volunteer_id &&
          ParseStoredResultEnvelope(r.envelope, &p, &err)) {
        // Sealed until the verdict, as on the task page.
        outcome = decided ? std::string(OutcomeName(p.outcome)) : "pending";
        agrees = decided && (std::count(verdict.agreeing_leases.begin(), verdict.agreeing_leases.end(),
                                        r.lease_id) > 0 ||
                             (r.known_answer && r.matches_known_answer));
      }
      return true;
    });
    recent.push_back({{"task_id", id}, {"project", t.project}, {"version", t.version},
                      {"platform", t.platform}, {"outcome", outcome}, {"agrees", agrees}});
  }
  return recent;
}

}  // namespace

std::string StandingOf(const Store& store, const VolunteerRecord& v, bool account_trusted) {
  if (v.suspended) return "suspended";
  if (account_trusted) return "trusted";
  nlohmann::json j;
  ReputationRecord rep;
  if (store.GetJson(Cf::kReputation, v.volunteer_id, &j) && FromJson(j, &rep) &&
      EarnedStanding(rep, ReputationPolicy{}))
    return "established";
  return "newcomer";
}

bool VolunteerJson(const Store& store, const std::string& volunteer_id, nlohmann::json* out) {
  return VolunteerJson(store, volunteer_id, NowSeconds(), out);
}

bool VolunteerJson(const Store& store, const std::string& volunteer_id, int64_t now, nlohmann::json* out) {
  nlohmann::json j;
  VolunteerRecord v;
  if (!store.GetJson(Cf::kVolunteers, volunteer_id, &j) || !FromJson(j, &v)) return false;
  AccountRecord account;
  bool has_account = store.GetJson(Cf::kAccounts, v.account, &j) && FromJson(j, &account);
  *out = {{"volunteer_id", v.volunteer_id},
          {"name", v.name},
          {"account", v.account},
          {"account_name", has_account ? account.name : ""},
          {"platforms", v.platforms},
          {"enrolled_at", v.enrolled_at},
          {"verified_results", v.verified_results},
          {"credit", v.credit},
          {"recent_average_credit", RecentAverageCredit(v.decayed_credit, v.decayed_at, now)},
          {"cheaters_exposed", v.cheaters_exposed},
          {"bounty", v.bounty},
          {"suspended", v.suspended},
          {"suspended_reason", OrNull(v.suspended_reason)},
          {"suspended_at", v.suspended ? nlohmann::json(v.suspended_at) : nlohmann::json(nullptr)},
          {"clawed_back", v.clawed_back},
          {"verdicts_reopened", v.verdicts_reopened},
          {"standing", StandingOf(store, v, has_account && account.trusted)},
          {"recent_results", RecentResults(store, volunteer_id)}};
  return true;
}

bool AccountJson(const Store& store, const std::string& account_key, int64_t now, nlohmann::json* out) {
  nlohmann::json j;
  AccountRecord a;
  if (!store.GetJson(Cf::kAccounts, account_key, &j) || !FromJson(j, &a)) return false;
  std::vector<VolunteerRecord> machines;
  for (const auto& id : a.machines) {
    VolunteerRecord v;
    if (store.GetJson(Cf::kVolunteers, id, &j) && FromJson(j, &v)) machines.push_back(std::move(v));
  }
  std::stable_sort(machines.begin(), machines.end(), [](const VolunteerRecord& x, const VolunteerRecord& y) {
    return x.credit > y.credit;
  });
  nlohmann::json list = nlohmann::json::array();
  int64_t results = 0, exposed = 0;
  double credit = 0, rac = 0, bounty = 0, clawed = 0;
  bool suspended = a.suspended;
  for (const auto& v : machines) {
    double r = RecentAverageCredit(v.decayed_credit, v.decayed_at, now);
    list.push_back({{"volunteer_id", v.volunteer_id},
                    {"name", v.name},
                    {"platforms", v.platforms},
                    {"enrolled_at", v.enrolled_at},
                    {"verified_results", v.verified_results},
                    {"credit", v.credit},
                    {"recent_average_credit", r},
                    {"cheaters_exposed", v.cheaters_exposed},
                    {"bounty", v.bounty},
                    {"suspended", v.suspended},
                    {"suspended_reason", OrNull(v.suspended_reason)},
                    {"clawed_back", v.clawed_back}});
    results += v.verified_results;
    exposed += v.cheaters_exposed;
    credit += v.credit;
    rac += r;
    bounty += v.bounty;
    clawed += v.clawed_back;
    suspended = suspended || v.suspended;
  }
  *out = {{"account", a.account_key},
          {"name", a.name},
          {"created_at", a.created_at},
          {"suspended", suspended},
          {"suspended_reason", OrNull(a.suspended_reason)},
          // Flagged: its machines get no work until the operator clears it.
          {"flagged", a.suspended},
          {"cleared_at", a.cleared_at > 0 ? nlohmann::json(a.cleared_at) : nlohmann::json(nullptr)},
          {"verified_results", results},
          {"credit", credit},
          {"recent_average_credit", rac},
          {"cheaters_exposed", exposed},
          {"bounty", bounty},
          {"clawed_back", clawed},
          {"trusted", a.trusted},
          {"machines", list}};
  return true;
}

nlohmann::json VerdictFeedJson(const std::vector<FeedEntry>& entries, const std::string& project,
                               int64_t now) {
  nlohmann::json list = nlohmann::json::array();
  int64_t updated = 0;
  for (const auto& e : entries) {
    updated = std::max(updated, e.decided_at);
    list.push_back({{"task_id", e.task_id},
                    {"project", e.project},
                    {"version", e.version},
                    {"platform", e.platform},
                    {"status", e.status},
                    {"summary", e.summary},
                    {"agreeing", e.agreeing},
                    {"decided_at", e.decided_at},
                    {"regression", e.regression},
                    {"previous_version", OrNull(e.previous_version)},
                    {"previous_status", OrNull(e.previous_status)}});
    if (e.status == "withdrawn")
      list.back().update({{"withdrawn_status", e.withdrawn_status},
                          {"withdrawn_decided_at", e.withdrawn_decided_at},
                          {"wheels_withdrawn", e.wheels_withdrawn}});
  }
  return {{"project", OrNull(project)}, {"updated", updated ? updated : now}, {"verdicts", list}};
}

std::string MetricsText(const Counters& c, int64_t active_leases) {
  std::string out;
  auto metric = [&](const char* name, const char* help, const char* type, const std::string& labels,
                    double value) {
    if (!help[0]) {
      out += std::string(name) + labels + " " + std::to_string(value) + "\n";
      return;
    }
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    out += std::string(name) + labels + " " + std::to_string(value) + "\n";
  };
  metric("corral_projects", "Projects known from the index.", "gauge", "", c.projects);
  metric("corral_tasks", "Tasks by state.", "gauge", "{state=\"pending\"}", c.tasks - c.verdicts);
  metric("corral_tasks", "", "", "{state=\"decided\"}", c.verdicts);
  metric("corral_results_total", "Results accepted.", "counter", "", c.results);
  metric("corral_verdicts_total", "Verdicts by kind.", "counter", "{kind=\"agreed\"}",
         c.verdicts - c.unsupported - c.inconclusive);
  metric("corral_verdicts_total", "", "", "{kind=\"unsupported\"}", c.unsupported);
  metric("corral_verdicts_total", "", "", "{kind=\"inconclusive\"}", c.inconclusive);
  metric("corral_leases_outstanding", "Active leases.", "gauge", "", active_leases);
  metric("corral_volunteers", "Enrolled volunteers.", "gauge", "", c.volunteers);
  metric("corral_accounts", "Accounts.", "gauge", "", c.accounts);
  return out;
}

}  // namespace corral::coordinator
