// Building and testing one task on one interpreter (DESIGN.md section 5,
// phase 3): extract the sdist, build a wheel through its PEP 517 backend,
// install it in a fresh virtual environment, import its top-level modules,
// run its test suite; all Python runs inside bubblewrap with no network.
// The volunteer daemon and `corral reproduce` call RunJob; it never throws.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/outcome.h"
#include "common/platform.h"

namespace corral::sandbox {

// One task as the sandbox receives it: the input file is already downloaded
// and its sha256 checked by the caller.
struct JobSpec {
  std::filesystem::path input;      // downloaded sdist (.tar.gz/.zip/...) or wheel
  std::string filename;             // the file's name on the index (decides archive kind)
  std::string project, version;     // as on the index
  Platform platform;                // interpreter to use (from DiscoverInterpreters)
  std::filesystem::path work_dir;   // fresh, empty, writable; the caller removes it afterwards
  std::filesystem::path cache_dir;  // persistent per volunteer (venv templates live here)
  std::filesystem::path wheelhouse; // wheels usable offline for build requirements (may be empty)
  int timeout_s = 900;              // wall clock for the sandboxed part
  int no_output_timeout_s = 300;    // killed when silent this long
  size_t max_log_bytes = 1 << 20;   // JobResult::log keeps the first and last halves
  uint64_t max_output_bytes = 256ull << 20;  // more output than this: resource_exhausted
};

// Everything a result envelope needs (DESIGN.md section 4) plus the log.
struct JobResult {
  Outcome outcome = Outcome::kInfraError;
  std::string summary;                    // one human line saying why
  std::string log;                        // combined, capped log of every step, with headers
  std::vector<std::string> commands;      // the exact commands that ran
  std::map<std::string, std::string> environment;  // the sandbox's environment
  std::filesystem::path wheel;            // built wheel inside work_dir, empty if none
  std::string wheel_sha256, wheel_content_digest;
  int tests_passed = 0, tests_failed = 0, tests_errors = 0, tests_skipped = 0;
  std::vector<std::string> failing_tests; // sorted test ids ("tests.test_mod.TestX.test_y")
  double build_seconds = 0, test_seconds = 0, total_seconds = 0;
  std::string isolation;                  // e.g. "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;..."
  // Added: where the time outside the package's own steps went.
  double env_seconds = 0;       // copying the venv template(s) into work_dir
  double template_seconds = 0;  // creating the template; 0 when it was reused
  std::string test_runner;      // "pytest", "unittest" or "" (no tests ran)
};

// Runs the whole job. Never throws; every failure becomes an outcome:
// the package's fault -> build_failed / install_failed / import_failed /
// tests_failed / no_tests; limits -> timeout / resource_exhausted; the
// machine or the runner -> infra_error. Thread-safe for distinct work_dirs
// (jobs may share cache_dir).
JobResult RunJob(const JobSpec& spec);

// The environment RunJob gives the sandbox (SOURCE_DATE_EPOCH, PYTHONHASHSEED,
// TZ, LC_ALL, HOME=/job/home, PIP_NO_INDEX, ...).
std::map<std::string, std::string> SandboxEnvironment();

}  // namespace corral::sandbox
