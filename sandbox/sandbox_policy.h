// The one way a job folder is prepared for bubblewrap, shared by venv
// template creation and jobs so both see the very same sandbox: the runner
// and job description in /job/.corral (read-only), a fresh /job/home, a
// synthetic /etc/passwd, /etc/group and /etc/hosts, the interpreter's prefix
// read-only, the wheelhouse read-only at /wheelhouse.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/platform.h"
#include "sandbox/bwrap_runner.h"

namespace corral::sandbox {

// Creates job_dir/{home,.corral,.corral/etc}, writes the runner and
// `job_json` as .corral/job.json, and fills *policy. `wheelhouse` may be
// empty. False with *err (an infra_error) on I/O failure or an interpreter
// whose prefix cannot be bound safely.
bool PrepareSandboxDir(const std::filesystem::path& job_dir, const Platform& platform,
                       const std::filesystem::path& wheelhouse, const nlohmann::json& job_json,
                       SandboxPolicy* policy, std::string* err);

// The command that runs the runner on job.json with the base interpreter.
std::vector<std::string> RunnerCommand(const Platform& platform);

// Writes `data` to `path` (truncating). False with *err on failure.
bool WriteFile(const std::filesystem::path& path, const std::string& data, std::string* err);
// Reads at most `max_bytes` of `path`. False with *err when missing or larger.
bool ReadFileCapped(const std::filesystem::path& path, size_t max_bytes, std::string* out,
                    std::string* err);

}  // namespace corral::sandbox
