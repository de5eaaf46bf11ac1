// Helpers shared by the coordinator tests: a temporary data directory, a
// real PEP 691 index served over HTTP from JSON the test writes, volunteers
// with real Ed25519 keys, and signed requests and result envelopes.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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

// A package index on loopback answering the simple API from pages the test
// sets, the way PyPI does: PEP 691 JSON (or, with set_html_only, only PEP 503
// HTML, whatever the Accept header), `_last-serial` per project on the root,
// X-PyPI-Last-Serial and an ETag on every page (If-None-Match gives 304). A
// project page may be set to any raw text and content type (a malformed
// page), or held stale: served as it was before its last change while the
// root already lists the new serial, as an outdated CDN copy would be.
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
    std::optional<std::string> yanked = std::nullopt;  // the reason ("" = yanked without one)
    bool core_metadata = false;
    int64_t size = -2;  // -2: the content's size
  };
  // Sets a project's files; bumps its serial.
  void SetProject(const std::string& name, const std::vector<File>& files) {
    std::lock_guard<std::mutex> lock(mu_);
    Page page;
    page.files = files;
    for (const auto& f : files) files_[f.filename] = f.content;
    Publish(name, std::move(page));
  }
  // Serves `text` with `content_type` as the project's page; bumps its serial.
  void SetRawPage(const std::string& name, const std::string& text,
                  const std::string& content_type = "application/vnd.pypi.simple.v1+json") {
    std::lock_guard<std::mutex> lock(mu_);
    Page page;
    page.raw = text;
    page.content_type = content_type;
    Publish(name, std::move(page));
  }
  // Marks a file yanked (with a reason) or not; bumps its project's serial.
  void Yank(const std::string& name, const std::string& filename, std::optional<std::string> reason) {
    std::lock_guard<std::mutex> lock(mu_);
    Page page = pages_.at(name);
    for (auto& f : page.files)
      if (f.filename == filename) f.yanked = reason;
    Publish(name, std::move(page));
  }
  // While set, the project's page is served as it was before its last change.
  void SetStale(const std::string& name, bool stale) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stale) stale_.insert(name);
    else stale_.erase(name);
  }
  // Lists `name` on the root page with `serial` without a page of its own
  // (names that normalise to another project, invalid names).
  void AddRootEntry(const std::string& name, int64_t serial) {
    std::lock_guard<std::mutex> lock(mu_);
    extra_root_.emplace_back(name, serial);
  }
  // Serve PEP 503 HTML only, with no serials on the root (as plain static
  // indexes do); pages still carry X-PyPI-Last-Serial unless `serial_headers` is false.
  void set_html_only(bool html, bool serial_headers = true) {
    html_only_ = html;
    serial_headers_ = serial_headers;
  }
  int64_t serial(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return pages_.at(name).serial;
  }
  int project_page_hits() const { return hits_; }
  int not_modified_answers() const { return not_modified_; }

 private:
  struct Page {
    std::vector<File> files;
    std::string raw, content_type;  // raw pages only
    int64_t serial = 0;
  };

  void Publish(const std::string& name, Page page) {
    auto it = pages_.find(name);
    if (it != pages_.end()) previous_[name] = it->second;
    page.serial = ++serial_;
    pages_[name] = std::move(page);
  }

  std::string JsonPage(const std::string& name, const Page& p) const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& f : p.files) {
      nlohmann::json j = {{"filename", f.filename},
                          {"url", "../../files/" + f.filename},
                          {"hashes", {{"sha256", Sha256Hex(f.content)}}},
                          {"size", f.size == -2 ? static_cast<int64_t>(f.content.size()) : f.size},
                          {"upload-time", f.upload_time},
                          {"yanked", false}};
      if (f.yanked) j["yanked"] = f.yanked->empty() ? nlohmann::json(true) : nlohmann::json(*f.yanked);
      if (!f.requires_python.empty()) j["requires-python"] = f.requires_python;
      if (f.core_metadata) j["core-metadata"] = {{"sha256", Sha256Hex("metadata of " + f.filename)}};
      list.push_back(j);
    }
    return nlohmann::json({{"meta", {{"api-version", "1.1"}, {"_last-serial", p.serial}}},
                           {"name", name},
                           {"files", list}})
        .dump();
  }

  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '&') out += "&amp;";
      else if (c == '<') out += "&lt;";
      else if (c == '>') out += "&gt;";
      else if (c == '"') out += "&quot;";
      else out += c;
    }
    return out;
  }

  std::string HtmlPage(const std::string& name, const Page& p) const {
    std::string s = "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
                    "<title>Links for " + name + "</title></head><body><h1>Links for " + name + "</h1>\n";
    for (const auto& f : p.files) {
      s += "<a href=\"../../files/" + f.filename + "#sha256=" + Sha256Hex(f.content) + "\"";
      if (!f.requires_python.empty()) s += " data-requires-python=\"" + Escape(f.requires_python) + "\"";
      if (f.yanked) s += " data-yanked=\"" + Escape(*f.yanked) + "\"";
      if (f.core_metadata) s += " data-core-metadata=\"sha256=" + Sha256Hex("metadata of " + f.filename) + "\"";
      s += ">" + f.filename + "</a><br>\n";
    }
    return s + "</body></html>\n";
  }

  HttpResponse Answer(const HttpRequest& r, std::string body, std::string content_type, int64_t serial) {
    HttpResponse resp;
    resp.content_type = std::move(content_type);
    resp.body = std::move(body);
    std::string etag = "\"" + Sha256Hex(resp.content_type + resp.body).substr(0, 16) + "\"";
    if (serial >= 0 && serial_headers_) resp.headers.emplace_back("X-PyPI-Last-Serial", std::to_string(serial));
    resp.headers.emplace_back("ETag", etag);
    if (r.Header("if-none-match") == etag) {
      ++not_modified_;
      resp.status = 304;
      resp.body.clear();
    }
    return resp;
  }

  bool WantsJson(const HttpRequest& r) const {
    return !html_only_ && r.Header("accept").find("application/vnd.pypi.simple.v1+json") != std::string::npos;
  }

  HttpResponse Serve(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    if (r.path == "/simple/") {
      if (!WantsJson(r)) {
        std::string s = "<!DOCTYPE html><html><body>\n";
        for (const auto& [name, _] : pages_) s += "<a href=\"" + name + "/\">" + name + "</a>\n";
        for (const auto& [name, _] : extra_root_) s += "<a href=\"" + name + "/\">" + Escape(name) + "</a>\n";
        return Answer(r, s + "</body></html>", "text/html", serial_);
      }
      nlohmann::json projects = nlohmann::json::array();
      for (const auto& [name, p] : pages_) projects.push_back({{"name", name}, {"_last-serial", p.serial}});
      for (const auto& [name, serial] : extra_root_) projects.push_back({{"name", name}, {"_last-serial", serial}});
      return Answer(r,
                    nlohmann::json({{"meta", {{"api-version", "1.1"}, {"_last-serial", serial_}}},
                                    {"projects", projects}})
                        .dump(),
                    "application/vnd.pypi.simple.v1+json", serial_);
    }
    if (r.path.rfind("/simple/", 0) == 0) {
      std::string name = r.path.substr(8);
      if (!name.empty() && name.back() == '/') name.pop_back();
      auto it = pages_.find(name);
      if (it == pages_.end()) return HttpResponse::Error(404, "not_found", name);
      ++hits_;
      const Page* p = &it->second;
      if (stale_.count(name) && previous_.count(name)) p = &previous_.at(name);
      if (!p->content_type.empty()) return Answer(r, p->raw, p->content_type, p->serial);
      if (WantsJson(r)) return Answer(r, JsonPage(name, *p), "application/vnd.pypi.simple.v1+json", p->serial);
      return Answer(r, HtmlPage(name, *p), "text/html; charset=utf-8", p->serial);
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
  std::map<std::string, Page> pages_, previous_;
  std::map<std::string, std::string> files_;
  std::set<std::string> stale_;
  std::vector<std::pair<std::string, int64_t>> extra_root_;
  std::atomic<bool> html_only_{false}, serial_headers_{true};
  int64_t serial_ = 100;
  std::atomic<int> hits_{0}, not_modified_{0};
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
  TestCoordinator(TestIndex& index, std::vector<std::string> platforms, int lease_seconds = 900,
                  const std::function<void(coordinator::Options&)>& configure = {}) {
    coordinator::Options o;
    o.data_dir = dir.path;
    o.index_url = index.url();
    o.platforms = std::move(platforms);
    o.lease_seconds = lease_seconds;
    o.clock = [this] { return now.load(); };
    // The plain quorum: every test volunteer speaks from 127.0.0.1, and no
    // random single replicas or known-answer checks unless a test asks.
    o.distinct_prefix = false;
    o.adaptive_replication = false;
    o.known_answer_rate = 0;
    if (configure) configure(o);
    options = o;
    c = std::make_unique<coordinator::Coordinator>(o);
    std::string err;
    if (!c->Open(&err)) throw std::runtime_error(err);
  }
  // Stops the coordinator and starts it again on the same store, with its
  // options changed by `change` (an operator's restart with new flags).
  void Restart(const std::function<void(coordinator::Options&)>& change = {}) {
    c.reset();
    if (change) change(options);
    c = std::make_unique<coordinator::Coordinator>(options);
    std::string err;
    if (!c->Open(&err)) throw std::runtime_error(err);
  }
  bool Sync(coordinator::SyncStats* stats = nullptr) {
    std::string err;
    return c->SyncOnce(&err, stats);
  }
  TempDir dir;
  std::atomic<int64_t> now{1'700'000'000};
  coordinator::Options options;
  std::unique_ptr<coordinator::Coordinator> c;
};

}  // namespace corral::testing
