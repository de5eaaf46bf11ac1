// Atom feeds (RFC 4287) of new verdicts, site-wide and per project, made from
// the GET /api/v1/verdicts document (docs/API_SHAPES.md):
//   {"project": null | "name", "updated": unix seconds,
//    "verdicts": [{"task_id", "project", "version", "platform", "status",
//                  "summary", "agreeing", "decided_at", "regression",
//                  "previous_version", "previous_status"}]}
// A regression says so at the start of its entry's title and carries the
// category "regression", so that feed readers can filter on it.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace corral::site {

// The feed as a UTF-8 XML document. `public_url` (no trailing slash) makes
// links and ids absolute, as Atom wants; `self_path` is the feed's own path
// ("/feeds/verdicts.atom"). Entry ids are the task's page URL with the
// decision time as fragment, so a verdict decided again is a new entry.
// Every text is XML-escaped; missing fields render empty, never throw.
std::string RenderAtomFeed(const nlohmann::json& feed, const std::string& public_url,
                           const std::string& self_path);

// Unix seconds as RFC 3339 UTC ("2026-11-23T10:42:06Z").
std::string Rfc3339(long long unix_seconds);

}  // namespace corral::site
