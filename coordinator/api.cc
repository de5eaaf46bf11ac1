#include "coordinator/api.h"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/names.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "common/text.h"
#include "coordinator/artifact_store.h"
#include "coordinator/compat.h"
#include "coordinator/engine.h"
#include "coordinator/matrix.h"
#include "coordinator/request_auth.h"
#include "coordinator/site_routes.h"
#include "coordinator/views.h"
#include "leaderboard/site.h"

namespace corral::coordinator {

namespace {

HttpResponse Refuse(const std::string& code, const std::string& detail) {
  return HttpResponse::Error(StatusForCode(code), code, detail);
}

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

int StatusForCode(const std::string& code) {
  if (code == "missing_signature" || code == "bad_signature" || code == "stale_date" ||
      code == "unknown_volunteer" || code == "replayed_nonce")
    return 401;
  if (code == "wrong_volunteer" || code == "key_mismatch" || code == "suspended" ||
      code == "account_flagged" || code == "insufficient_isolation")
    return 403;
  if (code == "not_leased" || code == "lease_cancelled" || code == "lease_returned" ||
      code == "task_decided" || code == "conflicting_result" ||
      code == "already_enrolled")
    return 409;
  if (code == "too_many_artifacts") return 409;
  if (code == "artifact_quota") return 429;
  if (code == "too_large") return 413;
  if (code == "bad_payload" || code == "wrong_input") return 422;
  if (code == "bad_request") return 400;
  if (code == "nonce_unrecorded") return 503;
  return 500;
}

Api::Api(Engine& engine, ArtifactStore& artifacts, NonceCache& nonces, ApiOptions options,
         std::function<int64_t()> clock, WheelIndex* wheels)
    : engine_(engine), artifacts_(artifacts), nonces_(nonces), options_(std::move(options)),
      clock_(std::move(clock)), wheels_(wheels),
      result_cpu_slots_(options_.result_cpu_slots > 0
                            ? options_.result_cpu_slots
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {}

std::string Api::PublicUrl(const HttpRequest& req) const {
  if (!options_.public_url.empty()) return options_.public_url;
  std::string host = req.Header("host");
  return "http://" + (host.empty() ? std::string("127.0.0.1") : host);
}

std::optional<HttpResponse> Api::CheckHeaders(const HttpRequest& req) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  const bool enrol = m == "POST" && p == "/api/v1/volunteers";
  const bool signed_route =
      enrol || (m == "POST" && (p == "/api/v1/lease" || p == "/api/v1/heartbeat" || p == "/api/v1/leases/return" ||
                                p == "/api/v1/results" || p == "/api/v1/results/batch")) ||
      (m == "PUT" && StartsWith(p, "/api/v1/artifacts/"));
  if (!signed_route) return std::nullopt;
  AuthResult auth = PrecheckRequest(
      req, clock_(), options_.max_skew_s, &nonces_,
      enrol ? std::function<bool(const std::string&)>()
            : [this](const std::string& key) { return engine_.FindVolunteer(key, nullptr); });
  if (auth.ok) return std::nullopt;
  return Refuse(auth.code, auth.detail);
}

HttpResponse Api::Handle(const HttpRequest& req) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (m == "POST" && p == "/api/v1/volunteers") return Enrol(req);
  if (m == "POST" && p == "/api/v1/lease") return Lease(req);
  if (m == "POST" && p == "/api/v1/heartbeat") return Heartbeat(req);
  if (m == "POST" && p == "/api/v1/leases/return") return ReturnLeases(req);
  if (m == "POST" && p == "/api/v1/results") return Durably(req, &Api::StoreResult);
  if (m == "POST" && p == "/api/v1/results/batch") return Durably(req, &Api::StoreResultBatch);
  const std::string artifacts = "/api/v1/artifacts/";
  if (StartsWith(p, artifacts)) {
    std::string sha = p.substr(artifacts.size());
    if (m == "PUT") return PutArtifact(req, sha);
    if (m == "GET") return GetArtifact(sha);
  }
  if (m != "GET" && m != "HEAD")
    return HttpResponse::Error(405, "method_not_allowed", m + " is not allowed on " + p);
  // Downloads first: they are most of the traffic.
  if (StartsWith(p, "/wheels/")) return WheelFile(req, p.substr(8));
  if (p == "/simple" || StartsWith(p, "/simple/")) return Simple(req);
  // Badges, feeds, account pages, statistics export (site_routes.h).
  if (auto r = HandleSiteRoute(engine_, req, PublicUrl(req), clock_())) return std::move(*r);
  if (p == "/api/v1/projects")
    return HttpResponse::Json(200, ProjectsListJson(engine_.store(), engine_.GetCounters()));
  if (StartsWith(p, "/api/v1/projects/")) return Project(p.substr(17), false);
  if (StartsWith(p, "/api/v1/tasks/")) return Task(req, p.substr(14), false);
  if (p == "/api/v1/compat") return Compat(req, false);
  if (p == "/api/v1/leaderboard") return Leaderboard(req, false);
  if (StartsWith(p, "/api/v1/volunteers/")) return Volunteer(p.substr(19), false);
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = MetricsText(engine_.GetCounters(), engine_.ActiveLeases());
    return r;
  }
  if (StartsWith(p, "/api/"))
    return HttpResponse::Error(404, "not_found", "no API route " + p + "; see docs/API_SHAPES.md");
  // The site: the same documents, rendered.
  if (p == "/" || p.empty()) return Home();
  if (StartsWith(p, "/projects/")) return Project(p.substr(10), true);
  if (StartsWith(p, "/tasks/")) return Task(req, p.substr(7), true);
  if (p == "/leaderboard") return Leaderboard(req, true);
  if (StartsWith(p, "/volunteers/")) return Volunteer(p.substr(12), true);
  if (p == "/lookup") return Compat(req, true);
  return HttpResponse::Html(404, site::RenderNotFound("page \"" + p + "\""));
}

HttpResponse Api::Enrol(const HttpRequest& req) {
  AuthResult auth = AuthenticateRequest(req, clock_(), options_.max_skew_s, &nonces_, {});
  if (!auth.ok) return Refuse(auth.code, auth.detail);
  nlohmann::json body;
  EnrolRequest er;
  std::string err;
  if (!ParseJson(req.body, &body, &err) || !ParseEnrolRequest(body, &er, &err))
    return Refuse("bad_payload", err);
  if (er.machine_key != auth.key)
    return Refuse("key_mismatch", "the request must be signed by the machine key being enrolled");
  Refusal refusal;
  if (!engine_.Enrol(er, req.remote_addr, clock_(), &refusal))
    return Refuse(refusal.code, refusal.detail);
  return HttpResponse::Json(200, {{"volunteer_id", er.machine_key}, {"account", er.account_key}});
}

#define CORRAL_AUTHENTICATE(req)                                                             \
  AuthResult auth = AuthenticateRequest(                                                     \
      req, clock_(), options_.max_skew_s, &nonces_,                                          \
      [this](const std::string& key) { return engine_.FindVolunteer(key, nullptr); });       \
  if (!auth.ok) return Refuse(auth.code, auth.detail)

HttpResponse Api::Lease(const HttpRequest& req) {
  CORRAL_AUTHENTICATE(req);
  nlohmann::json body;
  LeaseRequest lr;
  std::string err;
  if (!ParseJson(req.body, &body, &err) || !ParseLeaseRequest(body, &lr, &err))
    return Refuse("bad_payload", err);
  Refusal refusal;
  LeaseResponse resp = engine_.Lease(auth.key, lr, req.remote_addr, clock_(), &refusal);
  if (!refusal.code.empty()) return Refuse(refusal.code, refusal.detail);
  return HttpResponse::Json(200, resp);
}

HttpResponse Api::Heartbeat(const HttpRequest& req) {
  CORRAL_AUTHENTICATE(req);
  nlohmann::json body;
  HeartbeatRequest hr;
  std::string err;
  if (!ParseJson(req.body, &body, &err) || !ParseHeartbeatRequest(body, &hr, &err))
    return Refuse("bad_payload", err);
  return HttpResponse::Json(200, engine_.Heartbeat(auth.key, hr, clock_()));
}

HttpResponse Api::ReturnLeases(const HttpRequest& req) {
  CORRAL_AUTHENTICATE(req);
  nlohmann::json body;
  LeaseReturnRequest lr;
  std::string err;
  if (!ParseJson(req.body, &body, &err) || !ParseLeaseReturnRequest(body, &lr, &err))
    return Refuse("bad_payload", err);
  return HttpResponse::Json(200, engine_.ReturnLeases(auth.key, lr, clock_()));
}

// Group commit: a result is answered only once on disk, but concurrent
// results share one fsync, waited for outside the engine's lock and outside
// the CPU slot. A duplicate's first copy may still be on its way to disk.
// On a failed sync nothing is acknowledged; the volunteer sends it again.
HttpResponse Api::Durably(const HttpRequest& req,
                          HttpResponse (Api::*store)(const HttpRequest&, bool* duplicate)) {
  DeferredSync durable(engine_.store());
  bool duplicate = false;
  HttpResponse resp;
  {
    std::lock_guard<SleepingSlots> slot(result_cpu_slots_);
    resp = (this->*store)(req, &duplicate);
  }
  std::string err;
  if ((duplicate && !engine_.store().SyncWal(&err)) || !durable.Commit(&err))
    return Refuse("internal", err);
  return resp;
}

HttpResponse Api::StoreResult(const HttpRequest& req, bool* duplicate) {
  CORRAL_AUTHENTICATE(req);
  nlohmann::json envelope;
  std::string err;
  if (!ParseJson(req.body, &envelope, &err))
    return Refuse("bad_payload", "the body must be a DSSE envelope: " + err);
  std::string keyid = DsseKeyId(envelope);
  if (keyid.empty()) return Refuse("bad_payload", "the body must be a DSSE envelope with a signature");
  if (keyid != auth.key)
    return Refuse("key_mismatch", "the envelope is signed by " + keyid.substr(0, 16) +
                                      "... but the request by " + auth.key.substr(0, 16) + "...");
  std::string payload_text;
  nlohmann::json verified;
  if (!DsseVerify(envelope, kResultPayloadType, auth.key, &payload_text, &err, &verified))
    return Refuse(err.find("does not verify") != std::string::npos ? "bad_signature" : "bad_payload", err);
  nlohmann::json payload_json;
  ResultPayload payload;
  if (!ParseJson(payload_text, &payload_json, &err) || !ParseResultPayload(payload_json, &payload, &err))
    return Refuse("bad_payload", err);
  Refusal refusal;
  // What is stored is what was checked, re-serialised: never the request's
  // bytes, whose unchecked extra fields could be anything.
  switch (engine_.SubmitResult(auth.key, payload, verified.dump(), clock_(), &refusal)) {
    case Engine::Submit::kAccepted:
      return HttpResponse::Json(200, {{"accepted", true}, {"duplicate", false}});
    case Engine::Submit::kDuplicate:
      *duplicate = true;
      return HttpResponse::Json(200, {{"accepted", true}, {"duplicate", true}});
    case Engine::Submit::kRefused:
      break;
  }
  return Refuse(refusal.code, refusal.detail);
}

// Several envelopes in one signed request, each checked and stored as
// StoreResult does it (one fsync for the whole batch); the answer says what
// became of each.
HttpResponse Api::StoreResultBatch(const HttpRequest& req, bool* duplicates) {
  CORRAL_AUTHENTICATE(req);
  nlohmann::json body;
  ResultBatchRequest batch;
  std::string err;
  if (!ParseJson(req.body, &body, &err) || !ParseResultBatchRequest(body, &batch, &err))
    return Refuse("bad_payload", err);
  ResultBatchResponse resp;
  for (const auto& envelope : batch.envelopes) {
    ResultBatchItem item;
    auto refuse = [&](const std::string& code, const std::string& detail) {
      item.status = "refused";
      item.error = code;
      item.detail = detail;
    };
    std::string keyid = DsseKeyId(envelope), payload_text;
    nlohmann::json payload_json, verified;
    ResultPayload payload;
    if (keyid.empty()) {
      refuse("bad_payload", "not a DSSE envelope with a signature");
    } else if (keyid != auth.key) {
      refuse("key_mismatch", "the envelope is signed by " + keyid.substr(0, 16) +
                                 "... but the request by " + auth.key.substr(0, 16) + "...");
    } else if (!DsseVerify(envelope, kResultPayloadType, auth.key, &payload_text, &err, &verified)) {
      refuse(err.find("does not verify") != std::string::npos ? "bad_signature" : "bad_payload", err);
    } else if (!ParseJson(payload_text, &payload_json, &err) ||
               !ParseResultPayload(payload_json, &payload, &err)) {
      refuse("bad_payload", err);
    } else {
      item.task_id = payload.task_id;
      item.lease_id = payload.lease_id;
      Refusal refusal;
      switch (engine_.SubmitResult(auth.key, payload, verified.dump(), clock_(), &refusal)) {
        case Engine::Submit::kAccepted: item.status = "accepted"; break;
        case Engine::Submit::kDuplicate:
          item.status = "duplicate";
          *duplicates = true;
          break;
        case Engine::Submit::kRefused: refuse(refusal.code, refusal.detail); break;
      }
    }
    resp.results.push_back(std::move(item));
  }
  return HttpResponse::Json(200, resp);
}

HttpResponse Api::PutArtifact(const HttpRequest& req, const std::string& sha) {
  CORRAL_AUTHENTICATE(req);
  std::string code, detail;
  const std::string& lease = req.Param("lease");
  if (lease.empty())
    return Refuse("bad_payload", "PUT /api/v1/artifacts/{sha256} names the lease the artifact belongs to: "
                                 "add ?lease=LEASE_ID");
  if (!artifacts_.Check(sha, req.body, &code, &detail)) return Refuse(code, detail);
  Refusal refusal;
  int64_t retry_after = 0;
  if (!engine_.AdmitArtifact(auth.key, lease, static_cast<int64_t>(req.body.size()), artifacts_.Has(sha),
                             clock_(), &refusal, &retry_after)) {
    HttpResponse r = Refuse(refusal.code, refusal.detail);
    if (retry_after > 0) r.headers.push_back({"Retry-After", std::to_string(retry_after)});
    return r;
  }
  if (!artifacts_.Write(sha, req.body, &code, &detail)) return Refuse(code, detail);
  return HttpResponse::Json(200, {{"stored", true}, {"sha256", sha}, {"size", req.body.size()}});
}

HttpResponse Api::GetArtifact(const std::string& sha) {
  auto data = artifacts_.GetShared(sha);
  if (!data) return HttpResponse::Error(404, "unknown_artifact", "no artifact with sha256 " + sha);
  HttpResponse r;
  r.content_type = IsValidUtf8(*data) ? "text/plain; charset=utf-8" : "application/octet-stream";
  r.shared_body = std::move(data);
  r.headers.push_back({"Cache-Control", "public, max-age=31536000, immutable"});
  return r;
}

HttpResponse Api::Project(const std::string& raw_name, bool html) {
  std::string name = NormalizeProjectName(UrlDecode(raw_name));
  if (!name.empty() && name.back() == '/') name.pop_back();
  Matrix m;
  if (name.empty() || !LoadMatrix(engine_.store(), name, engine_.Platforms(), &m)) {
    if (html) return HttpResponse::Html(404, site::RenderNotFound("project \"" + name + "\""));
    return HttpResponse::Error(404, "unknown_project", "Corral knows no project named '" + name + "'");
  }
  nlohmann::json j = ProjectJson(m);
  return html ? HttpResponse::Html(200, site::RenderProject(j, options_.public_url))
              : HttpResponse::Json(200, j);
}

HttpResponse Api::Task(const HttpRequest& req, const std::string& id, bool html) {
  nlohmann::json j;
  if (!TaskJson(engine_.store(), id, PublicUrl(req), &j)) {
    if (html) return HttpResponse::Html(404, site::RenderNotFound("task \"" + id + "\""));
    return HttpResponse::Error(404, "unknown_task", "no task with id " + id);
  }
  // Where `corral reproduce` fetches the task's requirements from.
  if (!engine_.options().index_url.empty()) j["index_url"] = engine_.options().index_url;
  return html ? HttpResponse::Html(200, site::RenderTask(j)) : HttpResponse::Json(200, j);
}

HttpResponse Api::Compat(const HttpRequest& req, bool html) {
  std::string project = NormalizeProjectName(req.Param("project"));
  std::string os = req.Param("os"), python = req.Param("python");
  CompatQuestion q;
  std::string err;
  nlohmann::json answer;
  int status = 200;
  std::string code;
  Matrix m;
  if (project.empty()) {
    status = 400, code = "bad_request", err = "project is required: ?project=NAME&os=linux&python=3.11";
  } else if (!ParseCompatQuestion(os, python, req.Param("implementation"), req.Param("version"), &q, &err)) {
    status = 400, code = "bad_request";
  } else if (!LoadCompatMatrix(engine_.store(), project, engine_.Platforms(), q, &m)) {
    status = 404, code = "unknown_project", err = "Corral knows no project named '" + project + "'";
  } else {
    CompatAnswer a;
    if (!AnswerCompat(m, q, &a, &err)) {
      status = 404, code = "unknown_version";
    } else {
      answer = CompatJson(m, q, python, a);
    }
  }
  if (!html) return status == 200 ? HttpResponse::Json(200, answer) : HttpResponse::Error(status, code, err);
  if (status != 200)
    answer = {{"project", project}, {"os", os}, {"python", python}, {"version", nullptr},
              {"answer", "unknown"}, {"sentence", err}, {"newest_working_version", nullptr},
              {"evidence", nlohmann::json::array()}};
  nlohmann::json list = ProjectsListJson(engine_.store(), engine_.GetCounters());
  return HttpResponse::Html(status, site::RenderHome(list, &answer));
}

HttpResponse Api::Leaderboard(const HttpRequest& req, bool html) {
  std::string window = req.Param("window");
  if (window.empty()) window = "all";
  if (window != "day" && window != "week" && window != "all")
    return HttpResponse::Error(400, "bad_request", "window must be day, week or all (got '" + window + "')");
  nlohmann::json j = LeaderboardJson(engine_.store(), window, clock_());
  return html ? HttpResponse::Html(200, site::RenderLeaderboard(j)) : HttpResponse::Json(200, j);
}

HttpResponse Api::Volunteer(const std::string& id, bool html) {
  nlohmann::json j;
  if (!VolunteerJson(engine_.store(), id, &j)) {
    if (html) return HttpResponse::Html(404, site::RenderNotFound("volunteer \"" + id + "\""));
    return HttpResponse::Error(404, "unknown_volunteer", "no volunteer with id " + id);
  }
  return html ? HttpResponse::Html(200, site::RenderVolunteer(j)) : HttpResponse::Json(200, j);
}

HttpResponse Api::Home() {
  nlohmann::json list = ProjectsListJson(engine_.store(), engine_.GetCounters());
  return HttpResponse::Html(200, site::RenderHome(list, nullptr));
}

}  // namespace corral::coordinator
