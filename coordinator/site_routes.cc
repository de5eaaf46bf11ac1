#include "coordinator/site_routes.h"

#include <nlohmann/json.hpp>

#include "common/names.h"
#include "coordinator/engine.h"
#include "coordinator/matrix.h"
#include "coordinator/stats_export.h"
#include "coordinator/verdict_feed.h"
#include "coordinator/views.h"
#include "leaderboard/atom_feed.h"
#include "leaderboard/badge.h"
#include "leaderboard/site.h"

namespace corral::coordinator {
namespace {

constexpr size_t kFeedEntries = 50;

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

HttpResponse WithCache(HttpResponse r, int max_age_s) {
  r.headers.push_back({"Cache-Control", "public, max-age=" + std::to_string(max_age_s)});
  return r;
}

HttpResponse Badge(Engine& engine, const std::string& raw, bool svg) {
  std::string name = NormalizeProjectName(raw);
  Matrix m;
  site::Badge badge;
  int status = 200;
  if (name.empty() || !LoadMatrix(engine.store(), name, engine.Platforms(), &m)) {
    status = 404;
    badge.message = "not found";
    badge.color = "#9f9f9f";
  } else {
    badge = site::BadgeForProject(ProjectJson(m));
  }
  HttpResponse r;
  if (svg) {
    r.status = status;
    r.content_type = "image/svg+xml; charset=utf-8";
    r.body = site::RenderBadgeSvg(badge);
  } else {
    r = HttpResponse::Json(status, site::BadgeJson(badge));
  }
  return WithCache(std::move(r), 300);
}

HttpResponse Atom(const nlohmann::json& feed, const std::string& public_url, const std::string& self) {
  HttpResponse r;
  r.content_type = "application/atom+xml; charset=utf-8";
  r.body = site::RenderAtomFeed(feed, public_url, self);
  return WithCache(std::move(r), 60);
}

HttpResponse Stats(Engine& engine, const std::string& file, int64_t now) {
  StatsExport stats = BuildStatsExport(engine.store(), now);
  HttpResponse r;
  if (file == "tables.xml") {
    r.content_type = "application/xml";
    r.body = stats.tables_xml;
    return WithCache(std::move(r), 3600);
  }
  const std::string& xml = file == "user.gz" ? stats.user_xml : file == "team.gz" ? stats.team_xml : stats.host_xml;
  std::string err;
  if (!Gzip(xml, &r.body, &err)) return HttpResponse::Error(500, "internal", err);
  r.content_type = "application/gzip";
  return WithCache(std::move(r), 3600);
}

}  // namespace

std::optional<HttpResponse> HandleSiteRoute(Engine& engine, const HttpRequest& req,
                                            const std::string& public_url, int64_t now) {
  const std::string& p = req.path;
  if (StartsWith(p, "/badges/") && EndsWith(p, ".svg"))
    return Badge(engine, p.substr(8, p.size() - 8 - 4), true);
  if (StartsWith(p, "/badges/") && EndsWith(p, ".json"))
    return Badge(engine, p.substr(8, p.size() - 8 - 5), false);
  if (p == "/feeds/verdicts.atom")
    return Atom(VerdictFeedJson(RecentVerdicts(engine.store(), kFeedEntries), "", now), public_url, p);
  if (StartsWith(p, "/projects/") && EndsWith(p, "/feed.atom")) {
    std::string name = NormalizeProjectName(p.substr(10, p.size() - 10 - 10));
    Matrix m;
    if (name.empty() || !LoadMatrix(engine.store(), name, {}, &m))
      return HttpResponse::Html(404, site::RenderNotFound("project \"" + name + "\""));
    return Atom(VerdictFeedJson(ProjectVerdicts(engine.store(), name, kFeedEntries), name, now),
                public_url, p);
  }
  if (p == "/api/v1/verdicts") {
    std::string project = NormalizeProjectName(req.Param("project"));
    std::string limit_text = req.Param("limit");
    size_t limit = kFeedEntries;
    if (!limit_text.empty()) {
      try {
        long long n = std::stoll(limit_text);
        if (n < 1 || n > 500) throw std::out_of_range("limit");
        limit = static_cast<size_t>(n);
      } catch (const std::exception&) {
        return HttpResponse::Error(400, "bad_request", "limit must be a number from 1 to 500 (got '" +
                                                           limit_text + "')");
      }
    }
    if (!project.empty() && !engine.store().Has(Cf::kProjects, project))
      return HttpResponse::Error(404, "unknown_project", "Corral knows no project named '" + project + "'");
    auto entries = project.empty() ? RecentVerdicts(engine.store(), limit)
                                   : ProjectVerdicts(engine.store(), project, limit);
    return HttpResponse::Json(200, VerdictFeedJson(entries, project, now));
  }
  for (const char* prefix : {"/accounts/", "/api/v1/accounts/"}) {
    if (!StartsWith(p, prefix)) continue;
    bool html = prefix[1] == 'a' && prefix[2] == 'c';
    std::string key = p.substr(std::string(prefix).size());
    nlohmann::json j;
    if (!AccountJson(engine.store(), key, now, &j)) {
      if (html) return HttpResponse::Html(404, site::RenderNotFound("account \"" + key + "\""));
      return HttpResponse::Error(404, "unknown_account", "no account with key " + key);
    }
    return html ? HttpResponse::Html(200, site::RenderAccount(j)) : HttpResponse::Json(200, j);
  }
  if (p == "/stats/tables.xml" || p == "/stats/user.gz" || p == "/stats/team.gz" || p == "/stats/host.gz")
    return Stats(engine, p.substr(7), now);
  return std::nullopt;
}

}  // namespace corral::coordinator
