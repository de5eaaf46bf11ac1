// Helpers shared by the coordinator tests: a temporary data directory, a
// real PEP 691 index served over HTTP from JSON the test writes, volunteers
// with real Ed25519 keys, and signed requests and result envelopes.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/coordinator.h"

namespace corral::testing {

// A fresh directory removed at the end of the test.
struct TempDir {
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("corral-coord-" + RandomHex(8));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path path;
};

// A package index on loopback answering the PEP 691 JSON simple API from
// pages the test sets. A project page may be set to any raw text (to serve a
// malformed page).
class TestIndex {
 public:
  TestIndex() : server_([this](const HttpRequest& r) { return Serve(r); }) {
    std::string err;
    if (!server_.Start("127.0.0.1", 0, &err)) throw std::runtime_error(err);
  }
  ~TestIndex() { server_.Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/simple/"; }

  struct File {
    std::string filename, content, requires_python;
    std::string upload_time = "2024-01-01T00:00:00Z";
  };
  // Sets a project's files; bumps its serial.
  void SetProject(const std::string& name, const std::vector<File>& files) {
    std::lock_guard<std::mutex> lock(mu_);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& f : files) {
      nlohmann::json j = {{"filename", f.filename},
                          {"url", "../../files/" + f.filename},
                          {"hashes", {{"sha256", Sha256Hex(f.content)}}},
                          {"size", f.content.size()},
                          {"upload-time", f.upload_time},
                          {"yanked", false}};
      if (!f.requires_python.empty()) j["requires-python"] = f.requires_python;
      list.push_back(j);
      files_[f.filename] = f.content;
    }
    pages_[name] = nlohmann::json({{"meta", {{"api-version", "1.1"}}}, {"name", name}, {"files", list}}).dump();
    serials_[name] = ++serial_;
  }
  void SetRawPage(const std::string& name, const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    pages_[name] = text;
    serials_[name] = ++serial_;
  }
  int project_page_hits() const { return hits_; }

 private:
  HttpResponse Serve(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.path == "/simple/") {
      nlohmann::json projects = nlohmann::json::array();
      for (const auto& [name, serial] : serials_)
        projects.push_back({{"name", name}, {"_last-serial", serial}});
      HttpResponse resp = HttpResponse::Json(200, {{"meta", {{"api-version", "1.1"}, {"_last-serial", serial_}}},
                                                   {"projects", projects}});
      resp.content_type = "application/vnd.pypi.simple.v1+json";
      return resp;
    }
    if (r.path.rfind("/simple/", 0) == 0) {
      std::string name = r.path.substr(8);
      if (!name.empty() && name.back() == '/') name.pop_back();
      auto it = pages_.find(name);
      if (it == pages_.end()) return HttpResponse::Error(404, "not_found", name);
      ++hits_;
      HttpResponse resp;
      resp.content_type = "application/vnd.pypi.simple.v1+json";
      resp.body = it->second;
      return resp;
    }
    if (r.path.rfind("/files/", 0) == 0) {
      auto it = files_.find(r.path.substr(7));
      if (it == files_.end()) return HttpResponse::Error(404, "not_found", r.path);
      HttpResponse resp;
      resp.content_type = "application/octet-stream";
      resp.body = it->second;
      return resp;
    }
    return HttpResponse::Error(404, "not_found", r.path);
  }

  std::mutex mu_;
  std::map<std::string, std::string> pages_, files_;
  std::map<std::string, int64_t> serials_;
  int64_t serial_ = 100;
  std::atomic<int> hits_{0};
  HttpServer server_;
};

// A volunteer machine enrolled under an account.
struct TestVolunteer {
  std::shared_ptr<SigningKey> account;
  std::unique_ptr<SigningKey> machine;
  std::string account_name, machine_name;
  std::vector<std::string> platforms;
  std::string id() const { return machine->public_hex(); }
};

inline TestVolunteer MakeVolunteer(std::shared_ptr<SigningKey> account, const std::string& account_name,
                                   const std::string& machine_name, std::vector<std::string> platforms) {
  TestVolunteer v;
  v.account = std::move(account);
  v.machine = SigningKey::Generate();
  v.account_name = account_name;
  v.machine_name = machine_name;
  v.platforms = std::move(platforms);
  return v;
}

inline HttpRequest Request(const std::string& method, const std::string& target, const std::string& body = "") {
  HttpRequest r;
  r.method = method;
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string qs = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= qs.size()) {
      size_t amp = qs.find('&', pos);
      if (amp == std::string::npos) amp = qs.size();
      std::string part = qs.substr(pos, amp - pos);
      size_t eq = part.find('=');
      if (!part.empty()) r.query[UrlDecode(part.substr(0, eq))] = eq == std::string::npos ? "" : UrlDecode(part.substr(eq + 1));
      pos = amp + 1;
    }
  }
  r.body = body;
  r.remote_addr = "127.0.0.1";
  r.headers["host"] = "127.0.0.1:9999";
  return r;
}

inline HttpRequest Signed(const SigningKey& key, const std::string& method, const std::string& path,
                          const std::string& body, int64_t now) {
  HttpRequest r = Request(method, path, body);
  for (auto& [k, v] : SignRequest(key, method, path, body, now)) {
    std::string lower = k;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[lower] = v;
  }
  return r;
}

inline nlohmann::json Body(const HttpResponse& r) {
  return nlohmann::json::parse(r.body, nullptr, false);
}

inline HttpResponse Enrol(coordinator::Coordinator& c, const TestVolunteer& v, int64_t now) {
  EnrolRequest e;
  e.account_key = v.account->public_hex();
  e.account_name = v.account_name;
  e.machine_key = v.id();
  e.machine_name = v.machine_name;
  e.account_signature = Base64Encode(v.account->Sign(EnrolmentMessage(e.machine_key, e.account_name, e.machine_name)));
  e.platforms = v.platforms;
  return c.Handle(Signed(*v.machine, "POST", "/api/v1/volunteers", nlohmann::json(e).dump(), now));
}

inline std::vector<TaskSpec> Lease(coordinator::Coordinator& c, const TestVolunteer& v, int64_t now,
                                   int slots = 1, std::vector<std::string> platforms = {}) {
  LeaseRequest lr;
  lr.platforms = platforms.empty() ? v.platforms : platforms;
  lr.slots = slots;
  HttpResponse r = c.Handle(Signed(*v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), now));
  LeaseResponse resp;
  std::string err;
  if (r.status != 200 || !ParseLeaseResponse(Body(r), &resp, &err)) return {};
  return resp.tasks;
}

inline ResultPayload PayloadFor(const TaskSpec& t, const TestVolunteer& v, Outcome outcome,
                                double total_s = 10, std::vector<std::string> failing = {},
                                std::string digest = "") {
  ResultPayload p;
  p.task_id = t.task_id;
  p.lease_id = t.lease_id;
  p.volunteer_id = v.id();
  p.input_sha256 = t.sha256;
  p.platform.implementation = "cpython";
  p.platform.python_version = "3.11.7";
  p.platform.os = "linux";
  p.platform.arch = "x86_64";
  p.outcome = outcome;
  p.summary = std::string(OutcomeName(outcome));
  p.total_seconds = total_s;
  p.failing_tests = std::move(failing);
  p.wheel_content_digest = std::move(digest);
  p.finished_at = 1;
  return p;
}

inline std::string Envelope(const ResultPayload& p, const SigningKey& key) {
  return DsseSign(kResultPayloadType, nlohmann::json(p).dump(), key).dump();
}

inline HttpResponse Submit(coordinator::Coordinator& c, const TestVolunteer& v, const std::string& envelope,
                           int64_t now) {
  return c.Handle(Signed(*v.machine, "POST", "/api/v1/results", envelope, now));
}

inline nlohmann::json Get(coordinator::Coordinator& c, const std::string& target) {
  return Body(c.Handle(Request("GET", target)));
}

// A coordinator over a fresh store, syncing from `index`, with a clock the
// test moves.
struct TestCoordinator {
  TestCoordinator(TestIndex& index, std::vector<std::string> platforms, int lease_seconds = 900) {
    coordinator::Options o;
    o.data_dir = dir.path;
    o.index_url = index.url();
    o.platforms = std::move(platforms);
    o.lease_seconds = lease_seconds;
    o.clock = [this] { return now.load(); };
    c = std::make_unique<coordinator::Coordinator>(o);
    std::string err;
    if (!c->Open(&err)) throw std::runtime_error(err);
  }
  bool Sync() {
    std::string err;
    return c->SyncOnce(&err);
  }
  TempDir dir;
  std::atomic<int64_t> now{1'700'000'000};
  std::unique_ptr<coordinator::Coordinator> c;
};

}  // namespace corral::testing
