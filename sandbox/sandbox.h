// Building and testing one task on one interpreter (DESIGN.md section 5,
// phase 3): extract the sdist, build a wheel through its PEP 517 backend,
// install it in a fresh virtual environment, import its top-level modules,
// run its test suite; all Python runs inside bubblewrap with no network.
// The volunteer daemon and `corral reproduce` call RunJob; it never throws.
#pragma once

#include <cstddef>
#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/outcome.h"
#include "common/platform.h"
#include "common/protocol.h"
#include "sandbox/archive_extract.h"

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
  // Suspends the sandboxed runs while true (RunLimits::pause); suspended
  // time counts towards no timeout. Null: never.
  const std::atomic<bool>* pause = nullptr;
  size_t max_log_bytes = 1 << 20;   // JobResult::log keeps the first and last halves
  uint64_t max_output_bytes = 256ull << 20;  // more output than this: resource_exhausted
  // Limits on the job's processes all together, in a cgroup where the
  // machine delegates one (sandbox/cgroup_limits.h); reaching one is
  // resource_exhausted.
  bool use_cgroups = true;
  uint64_t max_memory_bytes = 4ull << 30;  // memory of every process and /tmp, together
  uint64_t max_processes = 512;            // processes and threads at once
  uint64_t cpu_weight = 100;               // CPU share of the whole job; one ordinary process has 100
  // Limits on each process (rlimits, set whatever the machine delegates).
  uint64_t max_address_space = 4ull << 30;
  uint64_t max_file_bytes = 2ull << 30;
  uint64_t max_open_files = 1024;
  // Disk: the size-capped /tmp, and the job folder, which lives on the
  // volunteer's disk: watched, and the job killed when it grows past
  // max_job_bytes or leaves less than min_free_bytes free.
  uint64_t tmp_bytes = 512ull << 20;
  uint64_t max_job_bytes = 8ull << 30;
  uint64_t min_free_bytes = 1ull << 30;
  ExtractLimits extract;                   // caps on unpacking the sdist
  // The prepare phase (DESIGN.md section 5, phase 2): with an index, RunJob
  // starts a GET-only IndexProxy (index_proxy.h) towards it for this job,
  // and every online step is a sandboxed run whose only egress is that
  // proxy's unix socket; the steps that run package code have no egress at
  // all. Rounds, each logged: the build requirements ([build-system]
  // requires, or the setuptools fallback); offline, what the backend's
  // get_requires_for_build_wheel returns, then fetched in a further round;
  // after the offline build, the wheel's own Requires-Dist (pip resolves it
  // with the interpreter's tags and markers) and the test requirements, each
  // test requirement on its own. A dependency with no usable wheel but an
  // sdist is downloaded (not built) online and built offline. Whose fault:
  // a requirement the index lacks for this interpreter is build_failed
  // (build requirement) or install_failed (runtime), naming it and what the
  // index offers; a fetch that failed (the proxy's failures) is infra_error.
  // Without an index the job runs offline from `wheelhouse` only.
  struct Prepare {
    std::string index_url;                 // "http://host/simple/"; "" = no prepare phase
    std::vector<std::string> extra_hosts;  // file hosts besides the index's ("host[:port]")
    // The volunteer's content-addressed cache of verified files (named by
    // sha256), shared by every job and slot; the proxy adds to it after
    // checking each file. Empty: no cache.
    std::filesystem::path file_cache;
    int max_rounds = 6;                    // prepare rounds at most, all kinds together
    std::string source_address;            // local IP address to fetch from; "": the system's choice
  } prepare;
  // Benchmarks only (bench/sandbox_overhead.cc): run the very same steps
  // with no sandbox at all (no bubblewrap, seccomp, cgroups), to measure
  // what the sandbox costs. Never for code that is not trusted.
  bool bare = false;
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
  std::vector<std::string> failing_tests; // sorted test ids ("tests.test_mod.TestX.test_y"); not flaky ones
  // How the suite ran: runner, command, where the list came from, what was
  // degraded, test requirements (asked for / missing), modules not run
  // here because a library they import is not on the index (never counted
  // as failures), flaky tests (failed, passed when run again: not
  // failures), the first failures with tracebacks.
  TestEvidence test_run;
  double build_seconds = 0, test_seconds = 0, total_seconds = 0;
  std::string isolation;                  // e.g. "bwrap:net,pid,ipc,uts,user,cgroup;caps=none;..."
  // Added: where the time outside the package's own steps went.
  double env_seconds = 0;       // copying the venv template(s) into work_dir
  double template_seconds = 0;  // creating the template; 0 when it was reused
  // The prepare phase: its rounds, what it fetched, what could not be had.
  int prepare_rounds = 0;
  double prepare_seconds = 0;
  int files_from_cache = 0, files_fetched = 0;
  // Wall time of each sandboxed run ("prepare round 1", "offline run 1",
  // ...) and of the runner's steps in the last offline run ("build",
  // "install", "import", "tests"), in order.
  std::vector<std::pair<std::string, double>> phases;
  // The lines of the log that explain the outcome (the failing step's last
  // lines, the limit's evidence, the refused archive entry), at most ~4 KiB.
  std::string excerpt;
};

// Runs the whole job. Never throws; every failure becomes an outcome:
// the package's fault -> build_failed / install_failed / import_failed /
// tests_failed / no_tests (an sdist whose entries break the extraction rules
// is build_failed); limits -> timeout / resource_exhausted (a step that
// failed with evidence of a limit, see sandbox/resource_evidence.h, and a
// decompression bomb, are resource_exhausted; output beyond
// max_output_bytes too); the machine or the runner -> infra_error. Thread-safe for distinct work_dirs
// (jobs may share cache_dir).
JobResult RunJob(const JobSpec& spec);

// Measures the isolation level this machine reaches (DESIGN.md section 5:
// the daemon measures and advertises it) by running the runner's probe in
// the very sandbox jobs get, with JobSpec's default limits: what it sees
// inside (network interfaces, a connection attempt, its seccomp filters)
// and what applied outside (cgroups, the disk watch). Sets *level (the
// JobResult::isolation form). False with *err when the sandbox cannot run
// at all; then the machine must take no work. Uses a fresh folder under
// `scratch_dir` and removes it. Takes ~0.1 s.
bool MeasureIsolation(const Platform& platform, const std::filesystem::path& scratch_dir,
                      std::string* level, std::string* err);

// The environment RunJob gives the sandbox (SOURCE_DATE_EPOCH, PYTHONHASHSEED,
// TZ, LC_ALL, HOME=/job/home, PIP_NO_INDEX, ...).
std::map<std::string, std::string> SandboxEnvironment();

}  // namespace corral::sandbox
