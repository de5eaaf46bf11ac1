// The JSON documents of the public read API, in exactly the shapes of
// docs/API_SHAPES.md (the site renders HTML from the same documents). Read
// only: they look at the store and never change it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/compat.h"
#include "coordinator/engine.h"
#include "coordinator/matrix.h"
#include "coordinator/verdict_feed.h"

namespace corral::coordinator {

// GET /api/v1/projects
nlohmann::json ProjectsListJson(const Store& store, const Counters& counters);
// GET /api/v1/projects/{name}
nlohmann::json ProjectJson(const Matrix& m);
// GET /api/v1/tasks/{id}; false when the task is unknown.
bool TaskJson(const Store& store, const std::string& task_id, const std::string& public_url,
              nlohmann::json* out);
// GET /api/v1/compat
nlohmann::json CompatJson(const Matrix& m, const CompatQuestion& q, const std::string& python,
                          const CompatAnswer& a);
// GET /api/v1/leaderboard?window=day|week|all (window already checked).
// Volunteers and accounts ranked by credit in the window, then verified
// results; suspended ones (caught cheating) come last, unranked ("rank":
// null), and are listed again under "cheaters" with what was clawed back.
nlohmann::json LeaderboardJson(const Store& store, const std::string& window, int64_t now);
// A volunteer's standing as stored (reputation.h): "suspended", "trusted"
// (`account_trusted`: its account is the operator's), "established"
// (EarnedStanding under the default policy) or "newcomer".
std::string StandingOf(const Store& store, const VolunteerRecord& v, bool account_trusted);
// GET /api/v1/volunteers/{id} (with "standing"); false when unknown.
bool VolunteerJson(const Store& store, const std::string& volunteer_id, nlohmann::json* out);
// GET /api/v1/volunteers/{id} as of `now` (recent average credit); false when unknown.
bool VolunteerJson(const Store& store, const std::string& volunteer_id, int64_t now,
                   nlohmann::json* out);
// GET /api/v1/accounts/{key}: the account, its totals and its machines;
// false when unknown.
bool AccountJson(const Store& store, const std::string& account_key, int64_t now, nlohmann::json* out);
// GET /api/v1/verdicts[?project=]: the feed entries (verdict_feed.h) with
// "project" (null site-wide) and "updated" (the newest decision, or `now`
// when there is none).
nlohmann::json VerdictFeedJson(const std::vector<FeedEntry>& entries, const std::string& project,
                               int64_t now);
// GET /metrics, Prometheus text format.
std::string MetricsText(const Counters& c, int64_t active_leases);

}  // namespace corral::coordinator
