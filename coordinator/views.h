// The JSON documents of the public read API, in exactly the shapes of
// docs/API_SHAPES.md (the site renders HTML from the same documents). Read
// only: they look at the store and never change it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "coordinator/compat.h"
#include "coordinator/engine.h"
#include "coordinator/matrix.h"

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
nlohmann::json LeaderboardJson(const Store& store, const std::string& window, int64_t now);
// GET /api/v1/volunteers/{id}; false when unknown.
bool VolunteerJson(const Store& store, const std::string& volunteer_id, nlohmann::json* out);
// GET /metrics, Prometheus text format.
std::string MetricsText(const Counters& c, int64_t active_leases);

}  // namespace corral::coordinator
