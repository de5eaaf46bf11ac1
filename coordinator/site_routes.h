// The public site's read-only routes beyond the core pages of api.cc:
// SVG badges, Atom feeds of verdicts, account pages and the BOINC
// statistics export (DESIGN.md section 7). Like the rest of the read side,
// they build a document from the store (views.h, verdict_feed.h,
// stats_export.h) and render it (leaderboard/); they change nothing.
//
//   GET /badges/{project}.svg    flat SVG badge (404 with a "not found" badge)
//   GET /badges/{project}.json   the same as a shields.io endpoint document
//   GET /feeds/verdicts.atom     the newest 50 verdicts, regressions marked
//   GET /projects/{project}/feed.atom   the same for one project
//   GET /api/v1/verdicts[?project=&limit=]   the feeds' document (limit 1-500)
//   GET /accounts/{key}, /api/v1/accounts/{key}   an account and its machines
//   GET /stats/tables.xml, /stats/{user,team,host}.gz   BOINC statistics
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/http_server.h"

namespace corral::coordinator {

class Engine;

// The response when `req` (a GET or HEAD) is one of the routes above;
// nullopt for any other path. `public_url` makes feed links absolute; `now`
// is the time recent averages and empty feeds are stated at. Thread-safe.
std::optional<HttpResponse> HandleSiteRoute(Engine& engine, const HttpRequest& req,
                                            const std::string& public_url, int64_t now);

}  // namespace corral::coordinator
