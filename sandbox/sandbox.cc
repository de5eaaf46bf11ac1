#include "sandbox/sandbox.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/crypto.h"
#include "sandbox/archive_extract.h"
#include "sandbox/build_system.h"
#include "sandbox/bwrap_runner.h"
#include "sandbox/junit_report.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/sandbox_policy.h"
#include "sandbox/venv_template.h"
#include "sandbox/wheel_digest.h"

namespace corral::sandbox {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxJUnitBytes = 16u << 20;
constexpr size_t kMaxResultBytes = 4u << 20;
constexpr const char kBuildEnvTemplate[] = "/corral/buildenv-template";

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What the isolation string says after "seccomp=": the filter's name only
// when the runner, inside, ran under one more filter than this process
// (Seccomp_filters, Linux >= 5.9) or, on older kernels, in filter mode while
// this process is not; "bpf" when it was passed but cannot be confirmed;
// "none" when no filter was passed or it is visibly missing.
std::string SeccompIsolation(bool passed, const nlohmann::json& probe) {
  if (!passed) return "none";
  auto number = [&](const char* key) {
    auto it = probe.find(key);
    return it != probe.end() && it->is_number_integer() ? it->get<int>() : -1;
  };
  int inside_filters = number("seccomp_filters");
  int inside_mode = number("seccomp_mode");
  int outside_filters = SeccompFilterCount();
  if (inside_filters >= 0 && outside_filters >= 0)
    return inside_filters > outside_filters ? kSeccompFilterName : "none";
  if (inside_mode == 2 && SeccompMode() == 0) return kSeccompFilterName;
  if (inside_mode == 0) return "none";
  return "bpf";
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

enum class InputKind { kSdist, kWheel, kUnknown };

InputKind KindOf(const std::string& filename) {
  std::string f = Lower(filename);
  if (EndsWith(f, ".whl")) return InputKind::kWheel;
  for (std::string_view ext : {".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar",
                               ".zip", ".tar.zst"})
    if (EndsWith(f, ext)) return InputKind::kSdist;
  return InputKind::kUnknown;
}

// The folder an sdist unpacked to: its single top-level folder, as sdists
// are made, or the extraction folder itself.
std::filesystem::path SourceRoot(const std::filesystem::path& src) {
  std::error_code ec;
  std::filesystem::path only;
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator(src, ec)) {
    ++count;
    only = e.path();
  }
  if (count == 1 && std::filesystem::is_directory(only, ec)) return only;
  return src;
}

void Header(JobResult* r, const std::string& text) { r->log += "==> [corral] " + text + "\n"; }

// The sandbox path of a host path inside work_dir.
std::string InJob(const std::filesystem::path& work_dir, const std::filesystem::path& p) {
  return "/job/" + std::filesystem::relative(p, work_dir).generic_string();
}

JobResult Finish(JobResult r, Outcome outcome, std::string summary, Clock::time_point t0) {
  r.outcome = outcome;
  r.summary = std::move(summary);
  r.total_seconds = Since(t0);
  r.log += "==> [corral] outcome: " + std::string(OutcomeName(outcome)) + ": " + r.summary + "\n";
  return r;
}

}  // namespace

JobResult RunJob(const JobSpec& spec) {
  auto t0 = Clock::now();
  InitCrypto();
  JobResult r;
  r.environment = SandboxEnvironment();
  std::error_code ec;
  std::filesystem::path work = std::filesystem::absolute(spec.work_dir);
  Header(&r, "task " + spec.project + " " + spec.version + " (" + spec.filename + ") on " +
                 spec.platform.Tag().ToString() + " " + spec.platform.interpreter_build);

  if (BwrapPath().empty())
    return Finish(std::move(r), Outcome::kInfraError,
                  "bubblewrap (/usr/bin/bwrap) is not installed on this machine", t0);
  if (!std::filesystem::is_directory(work, ec))
    return Finish(std::move(r), Outcome::kInfraError,
                  "work_dir " + work.string() + " does not exist", t0);
  if (spec.filename.find('/') != std::string::npos || spec.filename.empty())
    return Finish(std::move(r), Outcome::kInfraError,
                  "bad input filename '" + spec.filename + "'", t0);

  // 1. The input: an sdist is unpacked here, a wheel is placed in dist/.
  InputKind kind = KindOf(spec.filename);
  nlohmann::json job = {{"project", spec.project}, {"version", spec.version}};
  if (!spec.wheelhouse.empty() && std::filesystem::is_directory(spec.wheelhouse, ec))
    job["wheelhouse"] = "/wheelhouse";
  std::filesystem::create_directories(work / "dist", ec);
  std::filesystem::create_directories(work / "reports", ec);
  if (kind == InputKind::kUnknown)
    return Finish(std::move(r), Outcome::kBuildFailed,
                  "'" + spec.filename + "' is neither an sdist (.tar.gz, .zip, ...) nor a wheel",
                  t0);
  if (kind == InputKind::kSdist) {
    Header(&r, "extract " + spec.filename);
    std::filesystem::path src = work / "src";
    std::filesystem::create_directories(src, ec);
    ExtractStats stats;
    std::string err;
    if (!SafeExtract(spec.input, src, ExtractLimits{}, &stats, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kBuildFailed, err, t0);
    }
    r.log += std::to_string(stats.entries) + " entries, " + std::to_string(stats.bytes) +
             " bytes\n";
    std::filesystem::path root = SourceRoot(src);
    BuildSystem bs;
    if (!ReadBuildSystem(root, &bs, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kBuildFailed, err, t0);
    }
    r.log += "build backend: " + bs.backend + (bs.from_pyproject ? "" : " (PEP 517 fallback)") +
             "; requires: " + nlohmann::json(bs.requirements).dump() + "\n";
    job["mode"] = "sdist";
    job["source"] = InJob(work, root);
    job["requires"] = bs.requirements;
    job["backend"] = bs.backend;
    job["backend_path"] = bs.backend_path;
    job["build_env_template"] = kBuildEnvTemplate;
  } else {
    std::filesystem::copy_file(spec.input, work / "dist" / spec.filename,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
      return Finish(std::move(r), Outcome::kInfraError,
                    "cannot copy the wheel into the job folder: " + ec.message(), t0);
    job["mode"] = "wheel";
    job["wheel"] = "/job/dist/" + spec.filename;
  }

  // 2. Environments: a template per interpreter, copied per job.
  TemplateInfo tmpl;
  std::string err;
  if (!EnsureVenvTemplate(spec.platform, spec.cache_dir, &tmpl, &err)) {
    r.log += err + "\n";
    std::string first_line = err.substr(0, err.find('\n'));
    return Finish(std::move(r), Outcome::kInfraError, first_line, t0);
  }
  if (tmpl.created) {
    Header(&r, "created venv template " + tmpl.env.parent_path().filename().string() + " in " +
                   std::to_string(tmpl.seconds) + " s");
    r.log += tmpl.log;
    r.template_seconds = tmpl.seconds;
  }
  auto te = Clock::now();
  if (!CopyTree(tmpl.env, work / "env", &err)) {
    r.log += err + "\n";
    return Finish(std::move(r), Outcome::kInfraError, err, t0);
  }
  r.env_seconds = Since(te);

  // 3. The sandboxed part.
  SandboxPolicy policy;
  if (!PrepareSandboxDir(work, spec.platform, spec.wheelhouse, job, &policy, &err)) {
    r.log += err + "\n";
    return Finish(std::move(r), Outcome::kInfraError, err, t0);
  }
  // The build env: the template itself, read-only; the runner copies it
  // inside the sandbox only if pip has to install build requirements.
  if (kind == InputKind::kSdist) {
    policy.ro_binds[tmpl.env.string()] = kBuildEnvTemplate;
  }
  RunLimits limits;
  limits.timeout_s = spec.timeout_s;
  limits.no_output_timeout_s = spec.no_output_timeout_s;
  limits.max_log_bytes = spec.max_log_bytes;
  limits.max_output_bytes = spec.max_output_bytes;
  limits.rlimits.cpu_seconds = static_cast<uint64_t>(spec.timeout_s) + 60;
  // The seccomp deny-list. Without it the job still runs, and the isolation
  // string says seccomp=none (the daemon refuses tasks that need more).
  SeccompFilterFd seccomp;
  if (seccomp.Build(&err))
    policy.seccomp_fd = seccomp.fd();
  else
    Header(&r, err);
  std::vector<std::string> command = RunnerCommand(spec.platform);
  std::vector<std::string> argv = BwrapArgv(policy, command);
  {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    r.commands.push_back(line);
  }
  RunExit exit;
  if (!RunSandboxed(policy, command, limits, &exit, &err)) {
    r.log += err + "\n";
    return Finish(std::move(r), Outcome::kInfraError, err, t0);
  }
  r.log += exit.log;
  if (!r.log.empty() && r.log.back() != '\n') r.log += "\n";

  std::string text;
  nlohmann::json result;
  if (ReadFileCapped(work / "result.json", kMaxResultBytes, &text, &err))
    result = nlohmann::json::parse(text, nullptr, false);
  bool have_result = result.is_object();
  bool net_isolated = false;
  nlohmann::json probe = nlohmann::json::object();
  if (have_result) {
    probe = result.value("probe", nlohmann::json::object());
    if (!probe.is_object()) probe = nlohmann::json::object();
    auto ifaces = probe.value("net_interfaces", std::vector<std::string>{});
    net_isolated = std::all_of(ifaces.begin(), ifaces.end(),
                               [](const std::string& i) { return i == "lo"; });
    for (const auto& c : result.value("commands", std::vector<std::string>{}))
      r.commands.push_back(c);
    r.build_seconds = result.value("build_seconds", 0.0);
    r.test_seconds = result.value("test_seconds", 0.0);
    std::string wheel = result.value("wheel", "");
    if (wheel.rfind("/job/dist/", 0) == 0 && wheel.find("..") == std::string::npos &&
        std::filesystem::is_regular_file(work / "dist" / wheel.substr(10), ec) &&
        !std::filesystem::is_symlink(work / "dist" / wheel.substr(10), ec))
      r.wheel = work / "dist" / wheel.substr(10);
  }
  r.isolation = Isolation(policy, net_isolated, SeccompIsolation(policy.seccomp_fd >= 0, probe));

  // 4. Limits first: whatever the runner said, a killed run is a limit.
  if (exit.wall_timeout)
    return Finish(std::move(r), Outcome::kTimeout,
                  "wall-clock limit of " + std::to_string(spec.timeout_s) + " s reached", t0);
  if (exit.quiet_timeout)
    return Finish(std::move(r), Outcome::kTimeout,
                  "no output for " + std::to_string(spec.no_output_timeout_s) + " s", t0);
  if (exit.output_exceeded)
    return Finish(std::move(r), Outcome::kResourceExhausted,
                  "output exceeded " + std::to_string(spec.max_output_bytes >> 20) + " MiB", t0);
  if (!have_result) {
    std::string tail = exit.log.substr(exit.log.size() > 300 ? exit.log.size() - 300 : 0);
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    return Finish(std::move(r), Outcome::kInfraError,
                  "the runner ended (status " + std::to_string(exit.exit_code) +
                      ") without writing result.json: " + tail.substr(tail.rfind('\n') + 1),
                  t0);
  }

  // 5. Outside the sandbox: hash the wheel, read the test report.
  if (!r.wheel.empty()) {
    if (!Sha256File(r.wheel, &r.wheel_sha256, &err) ||
        !WheelContentDigest(r.wheel, &r.wheel_content_digest, &err)) {
      r.log += err + "\n";
      if (kind == InputKind::kSdist)
        return Finish(std::move(r), Outcome::kBuildFailed, "the built wheel is unreadable: " + err,
                      t0);
    }
  }
  auto outcome_json = result.value("outcome", nlohmann::json());
  if (outcome_json.is_string()) {
    auto parsed = ParseOutcome(outcome_json.get<std::string>());
    std::string summary = result.value("summary", "");
    if (!parsed)
      return Finish(std::move(r), Outcome::kInfraError,
                    "the runner reported an unknown outcome '" + outcome_json.get<std::string>() + "'",
                    t0);
    return Finish(std::move(r), *parsed, summary, t0);
  }
  const auto& tests = result.value("tests", nlohmann::json::object());
  r.test_runner = tests.value("runner", "");
  int rc = tests.contains("rc") && tests["rc"].is_number_integer() ? tests["rc"].get<int>() : -1;
  std::filesystem::path junit = work / "reports" / "junit.xml";
  JUnitSummary js;
  if (std::filesystem::is_regular_file(junit, ec) && !std::filesystem::is_symlink(junit, ec)) {
    if (!ParseJUnit(junit, kMaxJUnitBytes, &js, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kTestsFailed, "unreadable test report: " + err, t0);
    }
  } else {
    std::string tail = tests.value("tail", "");
    return Finish(std::move(r), Outcome::kTestsFailed,
                  "the test runner (" + r.test_runner + ") exited with status " +
                      std::to_string(rc) + " without a report: " + tail,
                  t0);
  }
  r.tests_passed = js.passed;
  r.tests_failed = js.failed;
  r.tests_errors = js.errors;
  r.tests_skipped = js.skipped;
  r.failing_tests = js.failing;
  if (js.failed + js.errors > 0) {
    std::string s;
    for (size_t i = 0; i < js.failing.size() && i < 3; ++i)
      s += (i ? ", " : "") + js.failing[i];
    if (js.failing.size() > 3) s += " and " + std::to_string(js.failing.size() - 3) + " more";
    return Finish(std::move(r), Outcome::kTestsFailed,
                  s + (js.failing.size() == 1 ? " failed" : " failed") + " (" +
                      std::to_string(js.failed + js.errors) + " of " +
                      std::to_string(js.total()) + " tests)",
                  t0);
  }
  if (js.total() == 0 || (r.test_runner == "pytest" && rc == 5))
    return Finish(std::move(r), Outcome::kNoTests, "the test suite collected no tests", t0);
  if (rc != 0)
    return Finish(std::move(r), Outcome::kTestsFailed,
                  "the test runner exited with status " + std::to_string(rc) + ": " +
                      tests.value("tail", ""),
                  t0);
  return Finish(std::move(r), Outcome::kPassed,
                std::to_string(js.passed) + " tests passed" +
                    (js.skipped ? ", " + std::to_string(js.skipped) + " skipped" : ""),
                t0);
}

}  // namespace corral::sandbox
