#include "common/protocol.h"

#include "common/crypto.h"

#include <algorithm>

namespace corral {

namespace {

// Reads required and optional fields with type checks, remembering the first
// problem so that parsers read as a list of fields.
class Reader {
 public:
  Reader(const nlohmann::json& j, const char* what) : j_(j), what_(what) {
    if (!j.is_object()) Fail("", "must be a JSON object");
  }

  template <typename T>
  void Req(const char* key, T* out) { Get(key, out, true); }
  template <typename T>
  void Opt(const char* key, T* out) { Get(key, out, false); }

  bool Done(std::string* err) const {
    if (!error_.empty()) *err = error_;
    return error_.empty();
  }

 private:
  template <typename T>
  void Get(const char* key, T* out, bool required) {
    if (!error_.empty() || !j_.is_object()) return;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) Fail(key, "is required");
      return;
    }
    try {
      *out = it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      Fail(key, std::string("has the wrong type (") + it->type_name() + ")");
    }
  }

  void Fail(const std::string& key, const std::string& why) {
    if (!error_.empty()) return;
    error_ = std::string(what_) + (key.empty() ? "" : " field '" + key + "'") + " " + why;
  }

  const nlohmann::json& j_;
  const char* what_;
  std::string error_;
};

}  // namespace

std::string EnrolmentMessage(const std::string& machine_key, const std::string& account_name,
                             const std::string& machine_name) {
  return "corral-enrol-v1\n" + machine_key + "\n" + account_name + "\n" + machine_name;
}

void to_json(nlohmann::json& j, const EnrolRequest& v) {
  j = {{"account_key", v.account_key},   {"account_name", v.account_name},
       {"machine_key", v.machine_key},   {"machine_name", v.machine_name},
       {"account_signature", v.account_signature}, {"platforms", v.platforms}};
  if (!v.isolation.empty()) j["isolation"] = v.isolation;
}

void to_json(nlohmann::json& j, const TaskSpec& v) {
  j = {{"task_id", v.task_id},   {"lease_id", v.lease_id}, {"project", v.project},
       {"version", v.version},   {"filename", v.filename}, {"url", v.url},
       {"sha256", v.sha256},     {"size", v.size},         {"platform", v.platform},
       {"requires_python", v.requires_python}, {"lease_deadline", v.lease_deadline}};
  if (!v.min_isolation.empty()) j["min_isolation"] = v.min_isolation;
  if (!v.index_url.empty()) j["index_url"] = v.index_url;
}

void to_json(nlohmann::json& j, const LeaseRequest& v) {
  j = {{"platforms", v.platforms}, {"slots", v.slots}};
  if (!v.isolation.empty()) j["isolation"] = v.isolation;
}

void to_json(nlohmann::json& j, const LeaseResponse& v) {
  j = {{"tasks", v.tasks}, {"next_poll_s", v.next_poll_s}};
}

void to_json(nlohmann::json& j, const HeartbeatRequest& v) { j = {{"lease_ids", v.lease_ids}}; }

void to_json(nlohmann::json& j, const HeartbeatResponse& v) {
  j = {{"extended", v.extended}, {"cancelled", v.cancelled}};
}

void to_json(nlohmann::json& j, const LeaseReturnRequest& v) { j = {{"lease_ids", v.lease_ids}}; }

void to_json(nlohmann::json& j, const LeaseReturnResponse& v) {
  j = {{"returned", v.returned}, {"unknown", v.unknown}};
}

void to_json(nlohmann::json& j, const TestEvidence& v) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : v.first_failures) failures.push_back({{"id", f.id}, {"text", f.text}});
  j = {{"runner", v.runner},
       {"command", v.command},
       {"found_by", v.found_by},
       {"degraded", v.degraded},
       {"requirements", v.requirements},
       {"requirements_missing", v.requirements_missing},
       {"not_run", v.not_run},
       {"flaky", v.flaky},
       {"first_failures", std::move(failures)}};
}

bool ParseTestEvidence(const nlohmann::json& j, TestEvidence* out, std::string* err) {
  *out = TestEvidence{};
  Reader r(j, "result field 'test_run':");
  nlohmann::json failures = nlohmann::json::array();
  r.Opt("runner", &out->runner);
  r.Opt("command", &out->command);
  r.Opt("found_by", &out->found_by);
  r.Opt("degraded", &out->degraded);
  r.Opt("requirements", &out->requirements);
  r.Opt("requirements_missing", &out->requirements_missing);
  r.Opt("not_run", &out->not_run);
  r.Opt("flaky", &out->flaky);
  r.Opt("first_failures", &failures);
  if (!r.Done(err)) return false;
  auto too_long = [](const std::string& s) { return s.size() > kMaxTestEvidenceText; };
  for (const auto* list : {&out->requirements, &out->requirements_missing, &out->not_run, &out->flaky}) {
    if (list->size() > kMaxTestEvidenceItems || std::any_of(list->begin(), list->end(), too_long)) {
      *err = "result field 'test_run' has a list longer than " + std::to_string(kMaxTestEvidenceItems) +
             " entries or an entry longer than " + std::to_string(kMaxTestEvidenceText) + " bytes";
      return false;
    }
  }
  if (too_long(out->runner) || too_long(out->command) || too_long(out->found_by) ||
      too_long(out->degraded)) {
    *err = "result field 'test_run' has a text longer than " + std::to_string(kMaxTestEvidenceText) +
           " bytes";
    return false;
  }
  if (!failures.is_array() || failures.size() > kMaxFirstFailures) {
    *err = "result field 'test_run.first_failures' must be an array of at most " +
           std::to_string(kMaxFirstFailures) + " {id, text} objects";
    return false;
  }
  for (const auto& f : failures) {
    TestFailure tf;
    Reader fr(f, "result field 'test_run.first_failures' entry");
    fr.Req("id", &tf.id);
    fr.Opt("text", &tf.text);
    if (!fr.Done(err)) return false;
    if (too_long(tf.id) || too_long(tf.text)) {
      *err = "result field 'test_run.first_failures' has an entry longer than " +
             std::to_string(kMaxTestEvidenceText) + " bytes";
      return false;
    }
    out->first_failures.push_back(std::move(tf));
  }
  return true;
}

void to_json(nlohmann::json& j, const ResultPayload& v) {
  j = {{"task_id", v.task_id},
       {"lease_id", v.lease_id},
       {"volunteer_id", v.volunteer_id},
       {"input_sha256", v.input_sha256},
       {"platform", v.platform},
       {"outcome", OutcomeName(v.outcome)},
       {"summary", v.summary},
       {"durations", {{"build_s", v.build_seconds}, {"test_s", v.test_seconds}, {"total_s", v.total_seconds}}},
       {"wheel", {{"filename", v.wheel_filename}, {"sha256", v.wheel_sha256}, {"content_digest", v.wheel_content_digest}}},
       {"tests", {{"passed", v.tests_passed}, {"failed", v.tests_failed}, {"errors", v.tests_errors}, {"skipped", v.tests_skipped}}},
       {"failing_tests", v.failing_tests},
       {"log_sha256", v.log_sha256},
       {"commands", v.commands},
       {"environment", v.environment},
       {"isolation", v.isolation},
       {"client_version", v.client_version},
       {"finished_at", v.finished_at}};
  const TestEvidence& t = v.test_run;
  if (!t.runner.empty() || !t.command.empty() || !t.found_by.empty() || !t.requirements.empty() ||
      !t.requirements_missing.empty() || !t.not_run.empty())
    j["test_run"] = t;  // absent when no suite was looked for (older clients send none either)
}

bool ParseEnrolRequest(const nlohmann::json& j, EnrolRequest* out, std::string* err) {
  Reader r(j, "enrolment");
  r.Req("account_key", &out->account_key);
  r.Req("account_name", &out->account_name);
  r.Req("machine_key", &out->machine_key);
  r.Req("machine_name", &out->machine_name);
  r.Req("account_signature", &out->account_signature);
  r.Opt("platforms", &out->platforms);
  r.Opt("isolation", &out->isolation);
  if (!r.Done(err)) return false;
  if (out->platforms.size() > kMaxPlatformsPerMachine) {
    *err = "enrolment field 'platforms' lists " + std::to_string(out->platforms.size()) +
           " tags; a machine offers at most " + std::to_string(kMaxPlatformsPerMachine);
    return false;
  }
  return true;
}

bool ParseTaskSpec(const nlohmann::json& j, TaskSpec* out, std::string* err) {
  Reader r(j, "task");
  r.Req("task_id", &out->task_id);
  r.Req("lease_id", &out->lease_id);
  r.Req("project", &out->project);
  r.Req("version", &out->version);
  r.Req("filename", &out->filename);
  r.Req("url", &out->url);
  r.Req("sha256", &out->sha256);
  r.Opt("size", &out->size);
  r.Req("platform", &out->platform);
  r.Opt("requires_python", &out->requires_python);
  r.Opt("lease_deadline", &out->lease_deadline);
  r.Opt("min_isolation", &out->min_isolation);
  r.Opt("index_url", &out->index_url);
  return r.Done(err);
}

bool ParseLeaseRequest(const nlohmann::json& j, LeaseRequest* out, std::string* err) {
  Reader r(j, "lease request");
  r.Req("platforms", &out->platforms);
  r.Opt("slots", &out->slots);
  r.Opt("isolation", &out->isolation);
  if (!r.Done(err)) return false;
  if (out->platforms.size() > kMaxPlatformsPerMachine) {
    *err = "lease request field 'platforms' lists " + std::to_string(out->platforms.size()) +
           " tags; a machine offers at most " + std::to_string(kMaxPlatformsPerMachine);
    return false;
  }
  if (out->slots < 0 || out->slots > 256) {
    *err = "lease request field 'slots' must be between 0 and 256, got " + std::to_string(out->slots);
    return false;
  }
  return true;
}

bool ParseLeaseResponse(const nlohmann::json& j, LeaseResponse* out, std::string* err) {
  Reader r(j, "lease response");
  nlohmann::json tasks = nlohmann::json::array();
  r.Req("tasks", &tasks);
  r.Opt("next_poll_s", &out->next_poll_s);
  if (!r.Done(err)) return false;
  if (!tasks.is_array()) {
    *err = "lease response field 'tasks' must be an array";
    return false;
  }
  for (const auto& t : tasks) {
    TaskSpec spec;
    if (!ParseTaskSpec(t, &spec, err)) return false;
    out->tasks.push_back(std::move(spec));
  }
  return true;
}

bool ParseHeartbeatRequest(const nlohmann::json& j, HeartbeatRequest* out, std::string* err) {
  Reader r(j, "heartbeat");
  r.Req("lease_ids", &out->lease_ids);
  return r.Done(err);
}

bool ParseHeartbeatResponse(const nlohmann::json& j, HeartbeatResponse* out, std::string* err) {
  Reader r(j, "heartbeat response");
  r.Opt("extended", &out->extended);
  r.Opt("cancelled", &out->cancelled);
  return r.Done(err);
}

bool ParseLeaseReturnRequest(const nlohmann::json& j, LeaseReturnRequest* out, std::string* err) {
  Reader r(j, "lease return");
  r.Req("lease_ids", &out->lease_ids);
  if (!r.Done(err)) return false;
  if (out->lease_ids.size() > 256) {
    *err = "lease return field 'lease_ids' lists " + std::to_string(out->lease_ids.size()) +
           " leases; at most 256 at once";
    return false;
  }
  return true;
}

bool ParseLeaseReturnResponse(const nlohmann::json& j, LeaseReturnResponse* out, std::string* err) {
  Reader r(j, "lease return response");
  r.Opt("returned", &out->returned);
  r.Opt("unknown", &out->unknown);
  return r.Done(err);
}

bool ParseStoredResultEnvelope(const std::string& envelope_text, ResultPayload* out, std::string* err) {
  nlohmann::json env = ParseJsonOrDiscarded(envelope_text);
  std::string body;
  nlohmann::json pj;
  if (!env.is_object() || !env.contains("payload") || !env["payload"].is_string() ||
      !Base64Decode(env["payload"].get<std::string>(), &body)) {
    *err = "not a DSSE envelope with a base64 payload";
    return false;
  }
  return ParseJson(body, &pj, err) && ParseResultPayload(pj, out, err);
}

bool ParseResultPayload(const nlohmann::json& j, ResultPayload* out, std::string* err) {
  *out = ResultPayload{};
  Reader r(j, "result");
  std::string outcome;
  nlohmann::json platform = nlohmann::json::object(), durations = nlohmann::json::object(),
                 wheel = nlohmann::json::object(), tests = nlohmann::json::object(),
                 test_run = nlohmann::json::object();
  r.Req("task_id", &out->task_id);
  r.Req("lease_id", &out->lease_id);
  r.Req("volunteer_id", &out->volunteer_id);
  r.Req("input_sha256", &out->input_sha256);
  r.Req("platform", &platform);
  r.Req("outcome", &outcome);
  r.Opt("summary", &out->summary);
  r.Opt("durations", &durations);
  r.Opt("wheel", &wheel);
  r.Opt("tests", &tests);
  r.Opt("failing_tests", &out->failing_tests);
  r.Opt("test_run", &test_run);
  r.Opt("log_sha256", &out->log_sha256);
  r.Opt("commands", &out->commands);
  r.Opt("environment", &out->environment);
  r.Opt("isolation", &out->isolation);
  r.Opt("client_version", &out->client_version);
  r.Opt("finished_at", &out->finished_at);
  if (!r.Done(err)) return false;
  auto parsed = ParseOutcome(outcome);
  if (!parsed) {
    *err = "result field 'outcome' has the unknown value '" + outcome + "'";
    return false;
  }
  if (!ParseTestEvidence(test_run, &out->test_run, err)) return false;
  out->outcome = *parsed;
  try {
    if (!platform.is_object()) throw std::runtime_error("platform");
    out->platform = platform.get<Platform>();
    out->build_seconds = durations.value("build_s", 0.0);
    out->test_seconds = durations.value("test_s", 0.0);
    out->total_seconds = durations.value("total_s", 0.0);
    out->wheel_filename = wheel.value("filename", "");
    out->wheel_sha256 = wheel.value("sha256", "");
    out->wheel_content_digest = wheel.value("content_digest", "");
    out->tests_passed = tests.value("passed", 0);
    out->tests_failed = tests.value("failed", 0);
    out->tests_errors = tests.value("errors", 0);
    out->tests_skipped = tests.value("skipped", 0);
  } catch (const std::exception&) {
    *err = "result fields 'platform', 'durations', 'wheel' or 'tests' have the wrong shape";
    return false;
  }
  return true;
}

void to_json(nlohmann::json& j, const ResultBatchRequest& v) { j = {{"results", v.envelopes}}; }

void to_json(nlohmann::json& j, const ResultBatchResponse& v) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : v.results) {
    nlohmann::json item = {{"task_id", r.task_id}, {"lease_id", r.lease_id}, {"status", r.status}};
    if (r.status == "refused") {
      item["error"] = r.error;
      item["detail"] = r.detail;
    }
    items.push_back(std::move(item));
  }
  j = {{"results", std::move(items)}};
}

bool ParseResultBatchRequest(const nlohmann::json& j, ResultBatchRequest* out, std::string* err) {
  Reader r(j, "result batch");
  nlohmann::json results;
  r.Req("results", &results);
  if (!r.Done(err)) return false;
  if (!results.is_array() || results.empty()) {
    *err = "result batch field 'results' must be a non-empty array of DSSE envelopes";
    return false;
  }
  if (results.size() > kMaxResultBatch) {
    *err = "result batch field 'results' holds " + std::to_string(results.size()) +
           " envelopes; at most " + std::to_string(kMaxResultBatch) + " at once";
    return false;
  }
  for (auto& e : results) out->envelopes.push_back(std::move(e));
  return true;
}

bool ParseResultBatchResponse(const nlohmann::json& j, ResultBatchResponse* out, std::string* err) {
  Reader r(j, "result batch response");
  nlohmann::json results;
  r.Req("results", &results);
  if (!r.Done(err)) return false;
  if (!results.is_array()) {
    *err = "result batch response field 'results' must be an array";
    return false;
  }
  for (const auto& item : results) {
    ResultBatchItem it;
    Reader ir(item, "result batch item");
    ir.Req("status", &it.status);
    ir.Opt("task_id", &it.task_id);
    ir.Opt("lease_id", &it.lease_id);
    ir.Opt("error", &it.error);
    ir.Opt("detail", &it.detail);
    if (!ir.Done(err)) return false;
    if (it.status != "accepted" && it.status != "duplicate" && it.status != "refused") {
      *err = "result batch item field 'status' has the unknown value '" + it.status + "'";
      return false;
    }
    out->results.push_back(std::move(it));
  }
  return true;
}

bool JsonWithinBounds(std::string_view text, int max_depth, size_t max_values, std::string* err) {
  int depth = 0;
  size_t values = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          *err = "the JSON nests deeper than " + std::to_string(max_depth) + " levels (at byte " +
                 std::to_string(i) + ")";
          return false;
        }
        [[fallthrough]];
      case ',':
        if (++values > max_values) {
          *err = "the JSON holds more than " + std::to_string(max_values) + " values";
          return false;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return true;
}

bool ParseJson(std::string_view text, nlohmann::json* out, std::string* err, size_t max_bytes,
               size_t max_values) {
  *out = nlohmann::json(nlohmann::json::value_t::discarded);
  if (text.size() > max_bytes) {
    *err = "the JSON is " + std::to_string(text.size()) + " bytes; at most " + std::to_string(max_bytes);
    return false;
  }
  if (!JsonWithinBounds(text, kMaxJsonDepth, max_values, err)) return false;
  *out = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *err = "the body is not valid JSON";
    return false;
  }
  return true;
}

nlohmann::json ParseJsonOrDiscarded(std::string_view text) {
  nlohmann::json j;
  std::string err;
  ParseJson(text, &j, &err);
  return j;
}

}  // namespace corral
