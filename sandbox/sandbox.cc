#include "sandbox/sandbox.h"

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/text.h"
#include "sandbox/archive_extract.h"
#include "sandbox/build_system.h"
#include "sandbox/cgroup_limits.h"
#include "sandbox/bwrap_runner.h"
#include "sandbox/index_proxy.h"
#include "sandbox/junit_report.h"
#include "sandbox/resource_evidence.h"
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
constexpr const char kProxySocket[] = "/run/corral/index.sock";

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
std::string InJob(const std::filesystem::path& work_dir, const std::filesystem::path& p,
                  bool bare = false) {
  if (bare) return p.string();
  return "/job/" + std::filesystem::relative(p, work_dir).generic_string();
}

// Whether a build's output says the compiler found no Python.h (gcc/clang
// "Python.h: No such file or directory", or a backend's own "Python.h was
// not found" / "Python.h not found").
bool MissingPythonHeaders(const std::string& build_output) {
  for (size_t at = build_output.find("Python.h"); at != std::string::npos;
       at = build_output.find("Python.h", at + 1)) {
    size_t eol = build_output.find('\n', at);
    std::string rest = build_output.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    if (rest.find("No such file") != std::string::npos || rest.find("not found") != std::string::npos ||
        rest.find("was not found") != std::string::npos)
      return true;
  }
  return false;
}

// The last `lines` lines of `text`, at most `max_bytes` (cut at a line start).
std::string TailLines(const std::string& text, int lines, size_t max_bytes) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t start = end;
  for (int i = 0; i < lines && start > 0; ++i) {
    size_t nl = text.rfind('\n', start - 1);
    start = nl == std::string::npos ? 0 : nl;
  }
  if (start < end && text[start] == '\n') ++start;
  if (end - start > max_bytes) {
    start = end - max_bytes;
    size_t nl = text.find('\n', start);
    if (nl != std::string::npos && nl < end) start = nl + 1;
  }
  return text.substr(start, end - start) + "\n";
}

JobResult Finish(JobResult r, Outcome outcome, std::string summary, Clock::time_point t0) {
  r.outcome = outcome;
  r.summary = std::move(summary);
  // Unless the caller chose one, the excerpt is the end of the last step's output.
  if (r.excerpt.empty() && outcome != Outcome::kPassed)
    r.excerpt = TailLines(StepOutput(r.log, "", 64 << 10), 30, 4096);
  r.total_seconds = Since(t0);
  // Where the time went, in the log a maintainer reads and the benchmarks
  // parse (bench/real_corpus: the fidelity steps against the suite itself);
  // after the excerpt is taken, so it never stands for the last step.
  if (!r.phases.empty()) {
    std::string line = "==> [corral] time:";
    char buf[64];
    for (size_t i = 0; i < r.phases.size(); ++i) {
      std::snprintf(buf, sizeof buf, " %.2f s", r.phases[i].second);
      line += (i ? ", " : " ") + r.phases[i].first + buf;
    }
    r.log += line + "\n";
  }
  r.log += "==> [corral] outcome: " + std::string(OutcomeName(outcome)) + ": " + r.summary + "\n";
  return r;
}

struct SandboxedRun;
bool RunBare(const JobSpec& spec, const std::filesystem::path& work, const RunLimits& limits,
             JobResult* r, SandboxedRun* out, std::string* err);

// One run of the runner inside bubblewrap under a job's limits: the seccomp
// filter, the job's cgroups (made and removed here), the disk watch. What
// RunJob and MeasureIsolation share.
struct SandboxedRun {
  RunExit exit;
  CgroupUsage usage;
  nlohmann::json result;  // the runner's result.json; null when missing or unreadable
  nlohmann::json probe;   // result["probe"]: what the runner saw inside; {} when absent
};

// Runs RunnerCommand under `policy` and spec's limits, appending its output
// (and the sandbox's notes) to r->log, its bwrap command to r->commands and
// setting r->isolation. False with *err only when the sandbox could not start.
bool RunRunner(const JobSpec& spec, const std::filesystem::path& work, SandboxPolicy policy,
               JobResult* r, SandboxedRun* out, std::string* err) {
  policy.tmp_bytes = spec.tmp_bytes;
  RunLimits limits;
  limits.timeout_s = spec.timeout_s;
  limits.no_output_timeout_s = spec.no_output_timeout_s;
  limits.max_log_bytes = spec.max_log_bytes;
  limits.max_output_bytes = spec.max_output_bytes;
  limits.rlimits.cpu_seconds = static_cast<uint64_t>(spec.timeout_s) + 60;
  limits.rlimits.address_space = spec.max_address_space;
  limits.rlimits.file_size = spec.max_file_bytes;
  limits.rlimits.open_files = spec.max_open_files;
  limits.watch_dir = work;
  limits.max_dir_bytes = spec.max_job_bytes;
  limits.min_free_bytes = spec.min_free_bytes;
  // The job's cgroups, where the machine delegates them; emptied and
  // removed when this function returns.
  JobCgroup cgroup;
  if (spec.use_cgroups && !spec.bare) {
    std::string cg_err;
    if (cgroup.Create({spec.max_memory_bytes, spec.max_processes, spec.cpu_weight}, &cg_err))
      limits.cgroup_procs = cgroup.procs_files();
    else
      Header(r, "no cgroup limits: " + cg_err);
  }
  // Suspension reaches the processes inside bubblewrap (their own session
  // and PID namespace) only through the job's cgroup; bare runs are one
  // process group. Without cgroups idle_only only stops new leases.
  if (!limits.cgroup_procs.empty() || spec.bare) limits.pause = spec.pause;
  // The seccomp deny-list. Without it the job still runs, and the isolation
  // string says seccomp=none (the daemon refuses tasks that need more).
  SeccompFilterFd seccomp;
  std::string seccomp_err;
  if (seccomp.Build(&seccomp_err))
    policy.seccomp_fd = seccomp.fd();
  else
    Header(r, seccomp_err);
  std::vector<std::string> command = RunnerCommand(spec.platform);
  if (spec.bare) return RunBare(spec, work, limits, r, out, err);
  {
    std::string line;
    for (const auto& a : BwrapArgv(policy, command)) line += (line.empty() ? "" : " ") + a;
    r->commands.push_back(line);
  }
  if (!RunSandboxed(policy, command, limits, &out->exit, err)) return false;
  r->log += out->exit.log;
  if (!r->log.empty() && r->log.back() != '\n') r->log += "\n";
  // Nothing of the job may outlive it (the PID namespace is gone already;
  // this covers a cgroup that outlived it anyway), then read its counters.
  out->usage = cgroup.Read();
  cgroup.KillAll();
  std::string cgroups_reached = out->exit.cgroup_attached ? cgroup.Reached() : "";

  std::string text, read_err;
  if (ReadFileCapped(work / "result.json", kMaxResultBytes, &text, &read_err))
    out->result = nlohmann::json::parse(text, nullptr, false);
  if (!out->result.is_object()) out->result = nullptr;
  out->probe = out->result.is_object() ? out->result.value("probe", nlohmann::json::object())
                                       : nlohmann::json::object();
  if (!out->probe.is_object()) out->probe = nlohmann::json::object();
  // No network: the runner saw no interface but loopback, and could not
  // connect out (a probe that did not try says nothing against it).
  auto ifaces = out->probe.value("net_interfaces", std::vector<std::string>{});
  bool net_isolated = out->probe.contains("net_interfaces") &&
                      std::all_of(ifaces.begin(), ifaces.end(),
                                  [](const std::string& i) { return i == "lo"; }) &&
                      out->probe.value("net_connect", "refused") != "connected";
  r->isolation = Isolation(policy, net_isolated,
                           SeccompIsolation(policy.seccomp_fd >= 0, out->probe), cgroups_reached,
                           limits.max_dir_bytes > 0 || limits.min_free_bytes > 0);
  return true;
}

// The runner without any sandbox, for the overhead benchmark only: the same
// command, environment (with /job mapped to `work`), rlimits and timeouts.
bool RunBare(const JobSpec& spec, const std::filesystem::path& work, const RunLimits& limits,
             JobResult* r, SandboxedRun* out, std::string* err) {
  std::string job = work.string();
  std::vector<std::string> env;
  for (auto [k, v] : SandboxEnvironment()) {
    for (size_t at = v.find("/job"); at != std::string::npos; at = v.find("/job", at + job.size()))
      v.replace(at, 4, job);
    if (k == "TMPDIR") v = job + "/tmp";
    env.push_back(k + "=" + v);
  }
  env.push_back("CORRAL_JOB_DIR=" + job);
  std::error_code ec;
  std::filesystem::create_directories(work / "tmp", ec);
  std::vector<std::string> command = {spec.platform.interpreter_path, "-s",
                                      job + "/.corral/runner.py", job + "/.corral/job.json"};
  std::string line;
  for (const auto& a : command) line += (line.empty() ? "" : " ") + a;
  r->commands.push_back(line);
  RunLimits bare = limits;
  bare.cgroup_procs.clear();
  bare.watch_dir.clear();  // the disk watch is part of the sandbox
  if (!RunProcess(command, env, bare, -1, &out->exit, err)) return false;
  r->log += out->exit.log;
  if (!r->log.empty() && r->log.back() != '\n') r->log += "\n";
  std::string text, read_err;
  if (ReadFileCapped(work / "result.json", kMaxResultBytes, &text, &read_err))
    out->result = nlohmann::json::parse(text, nullptr, false);
  if (!out->result.is_object()) out->result = nullptr;
  out->probe = nlohmann::json::object();
  r->isolation = "none (bare run, benchmark only)";
  return true;
}

// One online round (DESIGN.md section 5, phase 2): the runner fetches
// `needs` through the job's proxy into the job's wheelhouse, running no
// package code. Returns the job's final result when the round decides it
// (a requirement the index lacks: the package's fault; a fetch that failed:
// infra_error), or nullopt to go on offline.
std::optional<JobResult> PrepareRound(const JobSpec& spec, const std::filesystem::path& work,
                                      const std::filesystem::path& tmpl_env, IndexProxy* proxy,
                                      const std::filesystem::path& socket, const nlohmann::json& job,
                                      const nlohmann::json& needs, JobResult* r,
                                      Clock::time_point t0) {
  auto tp = Clock::now();
  ++r->prepare_rounds;
  std::string what;
  for (const auto& n : needs) {
    std::string kind = n.value("kind", "");
    std::string items = n.contains("wheel") ? "the dependencies of " +
                                                  std::filesystem::path(n.value("wheel", "")).filename().string()
                                            : nlohmann::json(n.value("reqs", nlohmann::json::array())).dump();
    what += (what.empty() ? "" : "; ") + kind + ": " + items;
  }
  Header(r, "prepare round " + std::to_string(r->prepare_rounds) + " (online, through the index proxy only): " +
                what);
  nlohmann::json prep = job;
  prep["mode"] = "prepare";
  prep["fetch"] = needs;
  prep["index_path"] = UrlPathOf(spec.prepare.index_url);
  prep["proxy_socket"] = spec.bare ? socket.string() : kProxySocket;
  prep["wheelhouse_out"] = InJob(work, work / "wheelhouse", spec.bare);
  SandboxPolicy pp;
  std::string err;
  IndexProxyStats before = proxy->Stats();
  if (!PrepareSandboxDir(work, spec.platform, spec.wheelhouse, prep, &pp, &err)) {
    r->log += err + "\n";
    return Finish(std::move(*r), Outcome::kInfraError, err, t0);
  }
  pp.ro_binds[socket.string()] = kProxySocket;
  pp.ro_binds[tmpl_env.string()] = kBuildEnvTemplate;  // the thin env's pip
  SandboxedRun prun;
  bool started = RunRunner(spec, work, std::move(pp), r, &prun, &err);
  for (const auto& line : proxy->TakeLog()) r->log += "[index proxy] " + line + "\n";
  IndexProxyStats after = proxy->Stats();
  r->files_from_cache += after.files_from_cache - before.files_from_cache;
  r->files_fetched += after.files_fetched - before.files_fetched;
  r->prepare_seconds += Since(tp);
  std::error_code ec;
  std::filesystem::remove(work / "result.json", ec);
  if (!started) {
    r->log += err + "\n";
    return Finish(std::move(*r), Outcome::kInfraError, err, t0);
  }
  std::vector<std::string> failures(after.failures.begin() + static_cast<long>(before.failures.size()),
                                    after.failures.end());
  std::string index_fault =
      failures.empty() ? ""
                       : "fetching from the index failed (" + std::to_string(failures.size()) +
                             " failed request(s); first: " + failures.front() +
                             "); not the package's fault";
  const RunExit& pe = prun.exit;
  if (pe.disk_exceeded || pe.output_exceeded)
    return Finish(std::move(*r), Outcome::kResourceExhausted,
                  pe.disk_exceeded ? pe.disk_detail : "output exceeded the cap while preparing", t0);
  if (pe.wall_timeout || pe.quiet_timeout)
    return Finish(std::move(*r), Outcome::kInfraError,
                  index_fault.empty() ? "fetching requirements through the index proxy timed out" : index_fault,
                  t0);
  const nlohmann::json& res = prun.result;
  if (!res.is_object() || res.value("outcome", nlohmann::json()).is_string())
    return Finish(std::move(*r), Outcome::kInfraError,
                  res.is_object() ? res.value("summary", "the prepare run failed")
                                  : "the prepare run ended (status " + std::to_string(pe.exit_code) +
                                        ") without a result",
                  t0);
  nlohmann::json missing = res.value("missing", nlohmann::json::array());
  bool fetch_failed = res.value("fetch_failed", false);
  std::string failed_how = res.value("fetch_error", "");
  if (!index_fault.empty() && (fetch_failed || !missing.empty()))
    return Finish(std::move(*r), Outcome::kInfraError, index_fault, t0);
  std::string interpreter = (spec.platform.implementation == "pypy"      ? "PyPy"
                             : spec.platform.implementation == "cpython" ? "CPython"
                                                                         : spec.platform.implementation) +
                            " " + spec.platform.python_version;
  for (const auto& m : missing) {
    std::string kind = m.value("kind", ""), req = m.value("req", ""), offers = m.value("offers", "");
    std::string detail = "'" + req + "' is not on the index for " + interpreter +
                         (offers.empty() ? "" : " (the index offers: " + offers + ")");
    if (kind == "build" || kind == "build-extra")
      return Finish(std::move(*r), Outcome::kBuildFailed, "build requirement " + detail, t0);
    if (kind == "runtime" || kind == "dep-build")
      return Finish(std::move(*r), Outcome::kInstallFailed,
                    (kind == "runtime" ? "dependency " : "build requirement of a dependency ") + detail,
                    t0);
    if (kind == "test") r->test_run.requirements_missing.push_back(req + (offers.empty() ? "" : " (" + offers + ")"));
  }
  if (fetch_failed)
    return Finish(std::move(*r), Outcome::kInfraError,
                  "fetching requirements failed without a missing requirement to blame: " + failed_how, t0);
  return std::nullopt;
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
  std::vector<std::string> build_reqs, test_reqs;  // for the prepare phase
  nlohmann::json job = {{"project", spec.project}, {"version", spec.version}};
  if (!spec.wheelhouse.empty() && std::filesystem::is_directory(spec.wheelhouse, ec))
    job["wheelhouse"] =
        spec.bare ? std::filesystem::absolute(spec.wheelhouse).string() : "/wheelhouse";
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
    if (!SafeExtract(spec.input, src, spec.extract, &stats, &err)) {
      r.log += err + "\n";
      r.excerpt = err + "\n";
      // Rules broken or unreadable: the sdist's fault. A cap reached: a
      // limit (a decompression bomb). Our own disk failing: the machine's.
      Outcome o = stats.failure == ExtractFailure::kLimit ? Outcome::kResourceExhausted
                  : stats.failure == ExtractFailure::kIo  ? Outcome::kInfraError
                                                          : Outcome::kBuildFailed;
      return Finish(std::move(r), o, err, t0);
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
    job["source"] = InJob(work, root, spec.bare);
    job["requires"] = bs.requirements;
    job["backend"] = bs.backend;
    job["backend_path"] = bs.backend_path;
    build_reqs = bs.requirements;
    test_reqs = bs.test_requirements;
  } else {
    std::filesystem::copy_file(spec.input, work / "dist" / spec.filename,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
      return Finish(std::move(r), Outcome::kInfraError,
                    "cannot copy the wheel into the job folder: " + ec.message(), t0);
    job["mode"] = "wheel";
    job["wheel"] = InJob(work, work / "dist" / spec.filename, spec.bare);
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
  // The job's environment: thin over the template (bound read-only at
  // kBuildEnvTemplate in every sandboxed run); a copy of the whole template
  // only if it is not of a shape MakeThinEnv knows.
  auto te = Clock::now();
  std::filesystem::path tmpl_seen_at = spec.bare ? tmpl.env : std::filesystem::path(kBuildEnvTemplate);
  std::string thin_err;
  bool thin = MakeThinEnv(tmpl.env, tmpl_seen_at, work / "env", &thin_err);
  if (!thin) {
    if (!thin_err.empty()) {
      r.log += "thin environment not possible (" + thin_err + "); copying the template\n";
      std::filesystem::remove_all(work / "env", ec);
    }
    if (!CopyTree(tmpl.env, work / "env", &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kInfraError, err, t0);
    }
  }
  r.env_seconds = Since(te);

  // 2b. The rounds. An online (prepare) run fetches what the job needs
  // through the proxy and runs no package code; an offline run builds,
  // installs and tests, and asks for a further round when it finds it needs
  // more (what get_requires_for_build_wheel returns, the built wheel's
  // dependencies, the test requirements, dependency sdists' build needs).
  std::unique_ptr<IndexProxy> proxy;
  std::filesystem::path proxy_socket;
  if (!spec.prepare.index_url.empty()) {
    IndexProxyOptions po;
    proxy_socket = std::filesystem::temp_directory_path() / ("corral-ix-" + RandomHex(8) + ".sock");
    po.socket_path = proxy_socket;
    po.index_url = spec.prepare.index_url;
    po.extra_hosts = spec.prepare.extra_hosts;
    po.cache_dir = spec.prepare.file_cache;
    po.source_address = spec.prepare.source_address;
    proxy = std::make_unique<IndexProxy>(po);
    if (!proxy->Start(&err))
      return Finish(std::move(r), Outcome::kInfraError, "cannot start the index proxy: " + err, t0);
  }
  job["wheelhouses"] = nlohmann::json::array();
  if (job.contains("wheelhouse")) job["wheelhouses"].push_back(job["wheelhouse"]);
  job["wheelhouses"].push_back(InJob(work, work / "wheelhouse", spec.bare));
  job["wheelhouses"].push_back(InJob(work, work / "built", spec.bare));
  std::filesystem::create_directories(work / "wheelhouse", ec);
  std::filesystem::create_directories(work / "built", ec);
  job["test_requires"] = test_reqs;
  job["online"] = proxy != nullptr;
  job["fetched"] = nlohmann::json::array();
  r.test_run.requirements = test_reqs;
  nlohmann::json needs = nlohmann::json::array();
  if (kind == InputKind::kSdist && proxy && !build_reqs.empty())
    needs.push_back({{"kind", "build"}, {"reqs", build_reqs}});
  if (kind == InputKind::kSdist)
    job["build_env_template"] = spec.bare ? tmpl.env.string() : kBuildEnvTemplate;
  SandboxedRun run;
  for (int offline_runs = 0;; ++offline_runs) {
    if (!needs.empty()) {
      if (!proxy || r.prepare_rounds >= spec.prepare.max_rounds) {
        // Offline only, or out of rounds: the offline run decides with what it has.
        job["online"] = false;
      } else {
        auto tr = Clock::now();
        std::optional<JobResult> done = PrepareRound(spec, work, tmpl.env, proxy.get(), proxy_socket,
                                                     job, needs, &r, t0);
        r.phases.emplace_back("prepare round " + std::to_string(r.prepare_rounds), Since(tr));
        if (done) return std::move(*done);
        for (const auto& n : needs) job["fetched"].push_back(n.value("kind", ""));
        if (r.prepare_rounds >= spec.prepare.max_rounds) job["online"] = false;
      }
    }
    // The offline run: no egress at all.
    SandboxPolicy policy;
    if (!PrepareSandboxDir(work, spec.platform, spec.wheelhouse, job, &policy, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kInfraError, err, t0);
    }
    // Read-only: the build env for sdists, and the thin env's site-packages.
    policy.ro_binds[tmpl.env.string()] = kBuildEnvTemplate;
    run = SandboxedRun{};
    auto to = Clock::now();
    if (!RunRunner(spec, work, std::move(policy), &r, &run, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kInfraError, err, t0);
    }
    r.phases.emplace_back("offline run " + std::to_string(offline_runs + 1), Since(to));
    const nlohmann::json& asked = run.result.is_object() ? run.result.value("needs", nlohmann::json())
                                                         : nlohmann::json();
    if (!asked.is_array() || asked.empty() || run.exit.wall_timeout || run.exit.quiet_timeout ||
        run.exit.disk_exceeded || run.exit.output_exceeded || offline_runs >= 2 * spec.prepare.max_rounds)
      break;
    needs = asked;
    std::filesystem::remove(work / "result.json", ec);
  }
  if (proxy)
    Header(&r, "prepare: " + std::to_string(r.prepare_rounds) + " round(s), " +
                   std::to_string(r.files_fetched) + " file(s) fetched from the index, " +
                   std::to_string(r.files_from_cache) + " from this volunteer's cache; test requirements " +
                   nlohmann::json(r.test_run.requirements).dump() +
                   (r.test_run.requirements_missing.empty()
                        ? ""
                        : ", not on the index: " + nlohmann::json(r.test_run.requirements_missing).dump()));
  if (run.result.is_object() && run.result.contains("steps") && run.result["steps"].is_array())
    for (const auto& step : run.result["steps"])
      if (step.is_object() && step.value("name", nlohmann::json()).is_string())
        r.phases.emplace_back(step.value("name", ""), step.value("seconds", 0.0));
  const RunExit& exit = run.exit;
  const CgroupUsage& usage = run.usage;
  const nlohmann::json& result = run.result;
  bool have_result = result.is_object();
  if (have_result) {
    for (const auto& c : result.value("commands", std::vector<std::string>{}))
      r.commands.push_back(c);
    r.build_seconds = result.value("build_seconds", 0.0);
    r.test_seconds = result.value("test_seconds", 0.0);
    std::string wheel = result.value("wheel", "");
    std::string dist = InJob(work, work / "dist", spec.bare) + "/";
    std::string name = wheel.rfind(dist, 0) == 0 ? wheel.substr(dist.size()) : "";
    if (!name.empty() && name.find('/') == std::string::npos && name != ".." &&
        std::filesystem::is_regular_file(work / "dist" / name, ec) &&
        !std::filesystem::is_symlink(work / "dist" / name, ec))
      r.wheel = work / "dist" / name;
  }

  // 4. Limits first: whatever the runner said, a killed run is a limit.
  // Evidence of a limit (an OOM kill, a refused fork, ENOSPC...) in the
  // step that failed makes it resource_exhausted rather than the package's
  // failure or a plain timeout.
  auto limit_evidence = [&](const std::string& step) {
    std::string e = ResourceEvidence(usage, StepOutput(exit.log, step));
    if (!e.empty()) r.excerpt = e + "\n" + TailLines(StepOutput(exit.log, step, 64 << 10), 20, 3072);
    return e;
  };
  if (exit.disk_exceeded)
    return Finish(std::move(r), Outcome::kResourceExhausted, exit.disk_detail, t0);
  if (exit.output_exceeded) {
    r.excerpt = TailLines(exit.log, 10, 2048);
    return Finish(std::move(r), Outcome::kResourceExhausted,
                  "output exceeded " + std::to_string(spec.max_output_bytes >> 20) + " MiB", t0);
  }
  if (exit.wall_timeout || exit.quiet_timeout) {
    std::string what = exit.wall_timeout
                           ? "wall-clock limit of " + std::to_string(spec.timeout_s) + " s reached"
                           : "no output for " + std::to_string(spec.no_output_timeout_s) + " s";
    std::string evidence = limit_evidence("");
    if (!evidence.empty())
      return Finish(std::move(r), Outcome::kResourceExhausted, evidence + " (then " + what + ")",
                    t0);
    return Finish(std::move(r), Outcome::kTimeout, what, t0);
  }
  if (!have_result) {
    std::string evidence = limit_evidence("");
    if (!evidence.empty()) return Finish(std::move(r), Outcome::kResourceExhausted, evidence, t0);
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
  // A C extension that did not compile for want of Python.h while the build
  // still succeeded: the backend fell back to pure Python (setproctitle,
  // many "optional speedups" setup.py files). Failures of that build are
  // the machine's lack, not the package's: infra_error, which never votes;
  // a volunteer with headers decides the task.
  // The build's own section of the whole job's log: with prepare rounds the
  // wheel is built in an earlier offline run than the one that tests it.
  std::string build;
  if (size_t at = r.log.rfind("==> [corral] build:"); at != std::string::npos) {
    size_t end = r.log.find("\n==> [corral] ", at + 1);
    build = r.log.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (build.size() > (64 << 10)) build = build.substr(build.size() - (64 << 10));
  }
  const bool headerless_fallback = !spec.platform.has_headers && MissingPythonHeaders(build);
  auto failure = [&](Outcome outcome, const std::string& summary) {
    if (!headerless_fallback) return Finish(std::move(r), outcome, summary, t0);
    // The excerpt: the compiler's complaint and what follows it (at most 12
    // lines), not the tests' output.
    size_t at = build.find("Python.h");
    size_t from = at == std::string::npos ? 0 : build.rfind('\n', at);
    from = (from == std::string::npos || at == std::string::npos) ? 0 : from + 1;
    size_t end = from;
    for (int i = 0; i < 12 && end != std::string::npos && end < build.size(); ++i) end = build.find('\n', end + 1);
    r.excerpt = build.substr(from, std::min(end == std::string::npos ? build.size() : end, from + 3072) - from);
    return Finish(std::move(r), Outcome::kInfraError,
                  "this machine's " + spec.platform.interpreter_path +
                      " has no Python development headers (Python.h): the package's C extension did not "
                      "compile and its build fell back without it, then " + std::string(OutcomeName(outcome)) +
                      " (" + summary + "); not the package's fault: a volunteer with headers decides it",
                  t0);
  };
  auto outcome_json = result.value("outcome", nlohmann::json());
  if (outcome_json.is_string()) {
    auto parsed = ParseOutcome(outcome_json.get<std::string>());
    std::string summary = result.value("summary", "");
    if (!parsed)
      return Finish(std::move(r), Outcome::kInfraError,
                    "the runner reported an unknown outcome '" + outcome_json.get<std::string>() + "'",
                    t0);
    if (*parsed != Outcome::kNoTests) {
      std::string evidence = limit_evidence(result.value("failed_step", ""));
      if (!evidence.empty())
        return Finish(std::move(r), Outcome::kResourceExhausted, evidence, t0);
    }
    // A C extension cannot build where the interpreter has no Python.h: the
    // machine's lack, not the package's fault (DESIGN.md: never blame a
    // package for the machine). infra_error does not vote; a volunteer
    // whose interpreter has headers decides the task.
    if (*parsed == Outcome::kBuildFailed && !spec.platform.has_headers &&
        MissingPythonHeaders(StepOutput(exit.log, "build"))) {
      r.excerpt = TailLines(StepOutput(exit.log, "build", 64 << 10), 20, 3072);
      return Finish(std::move(r), Outcome::kInfraError,
                    "this machine's " + spec.platform.interpreter_path +
                        " has no Python development headers (Python.h), which the package's C "
                        "extension needs to build; not the package's fault: a volunteer with "
                        "headers decides it (here: install the interpreter's -dev package)",
                    t0);
    }
    if (*parsed == Outcome::kImportFailed) return failure(*parsed, summary);
    return Finish(std::move(r), *parsed, summary, t0);
  }
  const auto& tests = result.value("tests", nlohmann::json::object());
  r.test_run.runner = tests.value("runner", "");
  if (r.test_run.runner == "none") r.test_run.runner.clear();
  r.test_run.command = CutUtf8(tests.value("command", ""), kMaxTestEvidenceText);
  r.test_run.found_by = CutUtf8(tests.value("found_by", ""), kMaxTestEvidenceText);
  r.test_run.degraded = CutUtf8(tests.value("degraded", ""), kMaxTestEvidenceText);
  int rc = tests.contains("rc") && tests["rc"].is_number_integer() ? tests["rc"].get<int>() : -1;
  std::filesystem::path junit = work / "reports" / "junit.xml";
  JUnitSummary js;
  if (std::filesystem::is_regular_file(junit, ec) && !std::filesystem::is_symlink(junit, ec)) {
    if (!ParseJUnit(junit, kMaxJUnitBytes, &js, &err)) {
      r.log += err + "\n";
      return Finish(std::move(r), Outcome::kTestsFailed, "unreadable test report: " + err, t0);
    }
  } else {
    std::string evidence = limit_evidence("tests");
    if (!evidence.empty()) return Finish(std::move(r), Outcome::kResourceExhausted, evidence, t0);
    std::string tail = tests.value("tail", "");
    // pytest's "usage error" and "internal error": the suite never started
    // (the project's configuration needs a plugin this index lacks, even
    // after the runner degraded what it could). Not evidence against the
    // package: a weak yes, like no_tests.
    if (r.test_run.runner == "pytest" && (rc == 3 || rc == 4))
      return Finish(std::move(r), Outcome::kTestsUnrunnable,
                    "the test suite could not start here (pytest status " + std::to_string(rc) + "): " + tail,
                    t0);
    return failure(Outcome::kTestsFailed, "the test runner (" + r.test_run.runner + ") exited with status " +
                                              std::to_string(rc) + " without a report: " + tail);
  }
  // Test modules the runner set aside: they need a library the index does
  // not have (not the package's failure).
  std::vector<std::string> not_run;
  for (const auto& n : tests.value("notrun", nlohmann::json::array()))
    if (n.is_object())
      not_run.push_back(CutUtf8(n.value("test", "?") + " (needs " + n.value("missing", "?") + ")",
                                kMaxTestEvidenceText));
  if (not_run.size() > kMaxTestEvidenceItems) not_run.resize(kMaxTestEvidenceItems);
  r.test_run.not_run = not_run;
  r.tests_passed = js.passed;
  r.tests_failed = js.failed;
  r.tests_errors = js.errors;
  r.tests_skipped = js.skipped;
  r.failing_tests = js.failing;
  r.test_run.flaky = js.flaky_ids;
  if (r.test_run.flaky.size() > kMaxTestEvidenceItems) r.test_run.flaky.resize(kMaxTestEvidenceItems);
  r.test_run.first_failures = js.first_failures;
  if (js.failed + js.errors > 0 || rc != 0) {
    std::string evidence = limit_evidence("tests");
    if (!evidence.empty()) return Finish(std::move(r), Outcome::kResourceExhausted, evidence, t0);
  }
  // Summaries name at most three tests.
  auto first_three = [](const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size() && i < 3; ++i) s += (i ? ", " : "") + items[i];
    if (items.size() > 3) s += " and " + std::to_string(items.size() - 3) + " more";
    return s;
  };
  if (r.test_run.runner == "pytest" && rc == 3)  // INTERNALERROR: the run broke, not a test
    return Finish(std::move(r), Outcome::kTestsUnrunnable,
                  "the test suite could not run here (pytest internal error): " + tests.value("tail", ""), t0);
  if (js.failed + js.errors > 0)
    return failure(Outcome::kTestsFailed,
                   first_three(js.failing) + " failed (" + std::to_string(js.failed + js.errors) + " of " +
                       std::to_string(js.total()) + " tests" +
                       (js.flaky ? "; " + std::to_string(js.flaky) + " more failed once, then passed: flaky" : "") +
                       ")");
  std::string not_run_note = first_three(not_run);
  if (!not_run.empty() && js.total() == js.skipped)
    return Finish(std::move(r), Outcome::kTestsUnrunnable,
                  "none of the suite could run here: " + not_run_note +
                      "; the index does not have what its modules import",
                  t0);
  if (js.total() == 0 && r.test_run.runner == "pytest" && (rc == 3 || rc == 4))
    return Finish(std::move(r), Outcome::kTestsUnrunnable,
                  "the test suite could not start here (pytest status " + std::to_string(rc) +
                      "): " + tests.value("tail", ""),
                  t0);
  if (js.total() == 0 || (r.test_run.runner == "pytest" && rc == 5))
    return Finish(std::move(r), Outcome::kNoTests, "the test suite collected no tests", t0);
  // A passing suite's summary names what did not count.
  std::string passed = std::to_string(js.passed) + " tests passed" +
                       (js.skipped ? ", " + std::to_string(js.skipped) + " skipped" : "") +
                       (js.flaky ? "; flaky (failed, then passed when run again): " + first_three(js.flaky_ids)
                                 : "") +
                       (not_run.empty() ? "" : "; not run: " + not_run_note);
  if (!not_run.empty())  // the runner's failing status was the set-aside modules'
    return Finish(std::move(r), Outcome::kPassed, passed, t0);
  if (rc != 0)
    return failure(Outcome::kTestsFailed,
                   "the test runner exited with status " + std::to_string(rc) + ": " + tests.value("tail", ""));
  return Finish(std::move(r), Outcome::kPassed, passed, t0);
}

bool MeasureIsolation(const Platform& platform, const std::filesystem::path& scratch_dir,
                      std::string* level, std::string* err) {
  InitCrypto();
  if (BwrapPath().empty()) {
    *err = "bubblewrap (/usr/bin/bwrap) is not installed: install the 'bubblewrap' package";
    return false;
  }
  std::error_code ec;
  std::filesystem::path work =
      std::filesystem::absolute(scratch_dir) / ("isolation-probe-" + RandomHex(6));
  std::filesystem::create_directories(work, ec);
  if (ec) {
    *err = "cannot create " + work.string() + ": " + ec.message();
    return false;
  }
  JobSpec spec;
  spec.platform = platform;
  spec.timeout_s = 60;
  spec.no_output_timeout_s = 60;
  JobResult r;
  SandboxPolicy policy;
  SandboxedRun run;
  bool ok = PrepareSandboxDir(work, platform, "", {{"mode", "probe"}}, &policy, err) &&
            RunRunner(spec, work, std::move(policy), &r, &run, err);
  std::filesystem::remove_all(work, ec);
  if (!ok) return false;
  if (!run.result.is_object()) {
    *err = "the isolation probe ended (status " + std::to_string(run.exit.exit_code) +
           ") without a result: " + TailLines(r.log, 5, 1000);
    return false;
  }
  *level = r.isolation;
  return true;
}

}  // namespace corral::sandbox
