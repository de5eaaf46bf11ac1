#include "coordinator/views.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/crypto.h"
#include "common/protocol.h"
#include "coordinator/credit.h"
#include "coordinator/records.h"

namespace corral::coordinator {

namespace {

bool DecodePayload(const std::string& envelope_text, ResultPayload* p) {
  auto env = nlohmann::json::parse(envelope_text, nullptr, false);
  std::string body, err;
  nlohmann::json pj;
  return env.is_object() && env.contains("payload") && env["payload"].is_string() &&
         Base64Decode(env["payload"].get<std::string>(), &body) && ParseJson(body, &pj, &err) &&
         ParseResultPayload(pj, p, &err);
}

std::string ResultSummary(const ResultPayload& p) {
  if (!p.summary.empty()) return p.summary;
  return std::string(OutcomeName(p.outcome));
}

}  // namespace

nlohmann::json ProjectsListJson(const Store& store, const Counters& c) {
  nlohmann::json projects = nlohmann::json::array();
  store.Scan(Cf::kProjects, "", "", [&](std::string_view, std::string_view value) {
    ProjectRecord p;
    if (FromJson(nlohmann::json::parse(value, nullptr, false), &p))
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
    if (!FromJson(nlohmann::json::parse(value, nullptr, false), &r) || !DecodePayload(r.envelope, &p))
      return true;
    VolunteerRecord vol;
    nlohmann::json vj;
    if (store.GetJson(Cf::kVolunteers, r.volunteer_id, &vj)) FromJson(vj, &vol);
    AccountRecord account;
    nlohmann::json aj;
    if (store.GetJson(Cf::kAccounts, r.account, &aj)) FromJson(aj, &account);
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
         {"durations", {{"build_s", p.build_seconds}, {"test_s", p.test_seconds}, {"total_s", p.total_seconds}}},
         {"wheel", {{"filename", p.wheel_filename}, {"sha256", p.wheel_sha256},
                    {"content_digest", p.wheel_content_digest}}},
         {"log_sha256", p.log_sha256},
         {"log_url", p.log_sha256.empty() ? "" : "/api/v1/artifacts/" + p.log_sha256},
         {"commands", p.commands},
         {"environment", p.environment},
         {"platform", p.platform},
         {"isolation", p.isolation},
         {"agrees", agreeing.count(r.lease_id) > 0},
         {"received_at", r.received_at},
         {"envelope", nlohmann::json::parse(r.envelope, nullptr, false)}});
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
  nlohmann::json evidence = nlohmann::json::array();
  for (const auto& e : a.evidence)
    evidence.push_back({{"version", e.version}, {"platform", e.platform}, {"status", e.status},
                        {"task_id", e.task_id}, {"agreeing", e.agreeing}});
  return {{"project", m.project},
          {"os", q.os},
          {"python", python},
          {"implementation", q.implementation == "pp" ? "pypy" : "cpython"},
          {"version", q.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(q.version)},
          {"answered_version", a.version.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.version)},
          {"answer", a.answer},
          {"sentence", a.sentence},
          {"newest_working_version", a.newest_working_version.empty()
                                         ? nlohmann::json(nullptr)
                                         : nlohmann::json(a.newest_working_version)},
          {"evidence", evidence}};
}

nlohmann::json LeaderboardJson(const Store& store, const std::string& window, int64_t now) {
  struct Row {
    VolunteerRecord v;
    int64_t results = 0;
    double credit = 0;
  };
  std::map<std::string, Row> vols;
  store.Scan(Cf::kVolunteers, "", "", [&](std::string_view, std::string_view value) {
    VolunteerRecord v;
    if (FromJson(nlohmann::json::parse(value, nullptr, false), &v)) {
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
                 if (FromJson(nlohmann::json::parse(value, nullptr, false), &c) && vols.count(c.volunteer_id)) {
                   ++vols[c.volunteer_id].results;
                   vols[c.volunteer_id].credit += c.credit;
                 }
                 return true;
               });
  }
  std::vector<const Row*> order;
  for (const auto& [_, r] : vols) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const Row* a, const Row* b) {
    return a->credit != b->credit ? a->credit > b->credit : a->results > b->results;
  });
  struct Acc {
    std::string name;
    int64_t machines = 0, results = 0;
    double credit = 0, rac = 0;
  };
  std::map<std::string, Acc> accounts;
  std::map<std::string, std::string> account_names;
  for (const Row* r : order) {
    if (account_names.count(r->v.account)) continue;
    nlohmann::json j;
    AccountRecord rec;
    account_names[r->v.account] =
        store.GetJson(Cf::kAccounts, r->v.account, &j) && FromJson(j, &rec) ? rec.name : "";
  }
  nlohmann::json volunteers = nlohmann::json::array();
  int rank = 0;
  for (const Row* r : order) {
    double rac = RecentAverageCredit(r->v.decayed_credit, r->v.decayed_at, now);
    volunteers.push_back({{"rank", ++rank},
                          {"volunteer_id", r->v.volunteer_id},
                          {"name", r->v.name},
                          {"account", r->v.account},
                          {"account_name", account_names[r->v.account]},
                          {"verified_results", r->results},
                          {"credit", r->credit},
                          {"recent_average_credit", rac},
                          {"platforms", r->v.platforms}});
    Acc& a = accounts[r->v.account];
    ++a.machines;
    a.results += r->results;
    a.credit += r->credit;
    a.rac += rac;
  }
  for (auto& [key, a] : accounts) a.name = account_names[key];
  std::vector<std::pair<std::string, Acc>> acc(accounts.begin(), accounts.end());
  std::stable_sort(acc.begin(), acc.end(), [](const auto& a, const auto& b) {
    return a.second.credit != b.second.credit ? a.second.credit > b.second.credit
                                              : a.second.results > b.second.results;
  });
  nlohmann::json accounts_json = nlohmann::json::array();
  rank = 0;
  for (const auto& [key, a] : acc)
    accounts_json.push_back({{"rank", ++rank},        {"account", key},
                             {"name", a.name},         {"machines", a.machines},
                             {"verified_results", a.results}, {"credit", a.credit},
                             {"recent_average_credit", a.rac}});
  return {{"window", window}, {"volunteers", volunteers}, {"accounts", accounts_json}};
}

bool VolunteerJson(const Store& store, const std::string& volunteer_id, nlohmann::json* out) {
  nlohmann::json j;
  VolunteerRecord v;
  if (!store.GetJson(Cf::kVolunteers, volunteer_id, &j) || !FromJson(j, &v)) return false;
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
      if (FromJson(nlohmann::json::parse(value, nullptr, false), &r) && r.volunteer_id == volunteer_id &&
          DecodePayload(r.envelope, &p)) {
        outcome = std::string(OutcomeName(p.outcome));
        agrees = decided && std::count(verdict.agreeing_leases.begin(), verdict.agreeing_leases.end(),
                                       r.lease_id) > 0;
      }
      return true;
    });
    recent.push_back({{"task_id", id}, {"project", t.project}, {"version", t.version},
                      {"platform", t.platform}, {"outcome", outcome}, {"agrees", agrees}});
  }
  *out = {{"volunteer_id", v.volunteer_id}, {"name", v.name}, {"account", v.account},
          {"platforms", v.platforms}, {"verified_results", v.verified_results},
          {"credit", v.credit}, {"recent_results", recent}};
  return true;
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
