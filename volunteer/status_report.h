// `corral volunteer status`: the daemon writes data_dir/status.json every
// loop (and at exit); this turns it into the text a person reads: whether
// the daemon runs, the coordinator is reachable, the isolation level, the
// credit the coordinator granted, and per slot the task, its phase and how
// long it has run, then the last results.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace corral::volunteer {

// `alive`: whether the pid in the status still runs; `now`: unix seconds.
std::string FormatStatus(const nlohmann::json& status, bool alive, int64_t now);

}  // namespace corral::volunteer
