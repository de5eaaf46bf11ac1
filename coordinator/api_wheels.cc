// The Api's wheel index routes (DESIGN.md sections 4 and 7):
//   GET /simple/                      projects with published wheels
//   GET /simple/<project>/            PEP 503 HTML or PEP 691 JSON by Accept
//   GET /wheels/<sha256>/<filename>   a published wheel, immutable
//   GET /wheels/<sha256>/<filename>.metadata   its METADATA (PEP 658/714)
// Non-normalised project URLs redirect to the normalised one, as on PyPI.
#include <nlohmann/json.hpp>

#include "common/names.h"
#include "coordinator/api.h"
#include "coordinator/artifact_store.h"
#include "coordinator/engine.h"
#include "coordinator/records.h"
#include "coordinator/simple_pages.h"
#include "coordinator/wheel_index.h"

namespace corral::coordinator {

namespace {

HttpResponse Document(SimpleFormat format, const std::string& html, const nlohmann::json* json) {
  HttpResponse r;
  r.content_type = SimpleContentType(format);
  // Names and Requires-Python come from uploads: never let bad UTF-8 throw.
  r.body = json ? json->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : html;
  r.headers.push_back({"Vary", "Accept"});
  return r;
}

}  // namespace

HttpResponse Api::Simple(const HttpRequest& req) {
  const std::string& p = req.path;
  if (!wheels_) return HttpResponse::Error(404, "not_found", "this server publishes no wheel index");
  if (p == "/simple") return HttpResponse::Redirect(301, "/simple/");
  SimpleFormat format = ChooseSimpleFormat(req.Header("accept"), req.Param("format"));
  if (format == SimpleFormat::kNotAcceptable)
    return HttpResponse::Error(406, "not_acceptable",
                               "the index is offered as " + std::string(kSimpleJsonType) + ", " +
                                   kSimpleHtmlType + " and text/html; the Accept header allows none");
  std::string rest = p.substr(8);  // after "/simple/"
  if (rest.empty()) {
    std::vector<SimpleProject> projects;
    for (auto& name : wheels_->Projects()) {
      ProjectRecord pr;
      nlohmann::json j;
      std::string display = engine_.store().GetJson(Cf::kProjects, name, &j) && FromJson(j, &pr)
                                ? pr.display_name
                                : "";
      projects.push_back({std::move(name), std::move(display)});
    }
    if (format == SimpleFormat::kJson) {
      nlohmann::json j = SimpleRootJson(projects);
      return Document(format, "", &j);
    }
    return Document(format, SimpleRootHtml(projects), nullptr);
  }
  bool slash = rest.back() == '/';
  if (slash) rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos)
    return HttpResponse::Error(404, "not_found", "no index page " + p + "; projects are at /simple/<name>/");
  std::string name = NormalizeProjectName(rest);
  if (name != rest || !slash) return HttpResponse::Redirect(301, "/simple/" + UrlEncode(name) + "/");
  std::vector<WheelRecord> wheels = wheels_->Wheels(name);
  if (wheels.empty())
    return HttpResponse::Error(404, "unknown_project",
                               "Corral publishes no wheel of '" + name +
                                   "': only wheels whose content two volunteers of different "
                                   "accounts reproduced are listed");
  if (format == SimpleFormat::kJson) {
    nlohmann::json j = SimpleProjectJson(name, wheels);
    return Document(format, "", &j);
  }
  return Document(format, SimpleProjectHtml(name, wheels), nullptr);
}

HttpResponse Api::WheelFile(const HttpRequest& req, const std::string& rest) {
  auto not_found = [&] {
    return HttpResponse::Error(404, "unknown_wheel",
                               "no published wheel at /wheels/" + rest + "; see /simple/ for what is published");
  };
  if (!wheels_) return not_found();
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return not_found();
  std::string sha = rest.substr(0, slash), filename = rest.substr(slash + 1);
  const std::string suffix = ".metadata";
  bool metadata = filename.size() > suffix.size() &&
                  filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (metadata) filename.resize(filename.size() - suffix.size());
  WheelRecord w;
  if (!wheels_->FindWheel(filename, &w) || w.sha256 != sha) return not_found();
  const std::string& artifact = metadata ? w.metadata_sha256 : w.sha256;
  std::string etag = "\"" + artifact + "\"";
  HttpResponse r;
  r.headers.push_back({"Cache-Control", "public, max-age=31536000, immutable"});
  r.headers.push_back({"ETag", etag});
  if (req.Header("if-none-match") == etag) {
    r.status = 304;
    return r;
  }
  r.shared_body = artifacts_.GetShared(artifact);
  if (!r.shared_body)
    return HttpResponse::Error(500, "internal", "the published file " + filename + (metadata ? suffix : "") +
                                                    " (artifact " + artifact + ") is missing from the artifact store");
  r.content_type = metadata ? "text/plain; charset=utf-8" : "application/octet-stream";
  return r;
}

}  // namespace corral::coordinator
