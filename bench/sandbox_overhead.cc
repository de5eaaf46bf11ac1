// Benchmark: what the sandbox costs per task (issue 4, item 8; target
// <= 1.15x). The very same steps (extract, copy the venv template, PEP 517
// build, install, import, tests: RunJob) run bare (JobSpec::bare: no
// bubblewrap, seccomp, cgroups or disk watch) and sandboxed, alternately,
// on the same interpreter and package, for a small pure package
// (corral-demo-pure) and for the whole demo corpus. Prints `name: value
// unit` lines: medians per package, the ratio, and the fixed costs
// (bwrap start, seccomp filter build, cgroup setup, isolation probe).
//
//   sandbox_overhead [--python PATH]... [--rounds N] [--no-corpus] [--no-cgroups]
//
// Default interpreters: pyenv's 3.12.1 and 2.7.18 (those present).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/outcome.h"
#include "demo/corpus.h"
#include "sandbox/bwrap_runner.h"
#include "sandbox/cgroup_limits.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/venv_template.h"

namespace fs = std::filesystem;
using namespace corral;
using namespace corral::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Figure(const std::string& name, double value, const char* unit) {
  std::printf("%s: %.4g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

struct Options {
  std::vector<std::string> pythons;
  int rounds = 3;
  bool corpus = true;
  bool cgroups = true;
};

// One job of `sdist` on `platform`, bare or sandboxed, in a fresh folder.
JobResult RunOne(const fs::path& scratch, const fs::path& cache, const Platform& platform,
                 const fs::path& sdist, const std::string& project, bool bare, bool cgroups) {
  static int n = 0;
  fs::path work = scratch / ("job-" + std::to_string(++n));
  fs::create_directories(work);
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = project;
  spec.version = "bench";
  spec.platform = platform;
  spec.work_dir = work;
  spec.cache_dir = cache;
  spec.wheelhouse = scratch / "wheelhouse";
  spec.timeout_s = 600;
  spec.bare = bare;
  spec.use_cgroups = cgroups;
  JobResult r = RunJob(spec);
  std::error_code ec;
  fs::remove_all(work, ec);
  return r;
}

// Medians over `rounds` of bare and sandboxed runs of one package, the runs
// alternating so that the machine's load affects both alike.
struct Pair {
  double bare = 0, sandboxed = 0, env_bare = 0, env_sandboxed = 0;
  std::string outcome_bare, outcome_sandboxed;
};

Pair Measure(const Options& o, const fs::path& scratch, const fs::path& cache,
             const Platform& platform, const fs::path& sdist, const std::string& project) {
  std::vector<double> bare, boxed, env_bare, env_boxed;
  Pair p;
  for (int i = 0; i < o.rounds; ++i) {
    for (bool is_bare : {i % 2 == 0, i % 2 != 0}) {
      JobResult r = RunOne(scratch, cache, platform, sdist, project, is_bare, o.cgroups);
      (is_bare ? bare : boxed).push_back(r.total_seconds);
      (is_bare ? env_bare : env_boxed).push_back(r.env_seconds);
      (is_bare ? p.outcome_bare : p.outcome_sandboxed) = std::string(OutcomeName(r.outcome));
    }
  }
  p.bare = Median(bare);
  p.sandboxed = Median(boxed);
  p.env_bare = Median(env_bare);
  p.env_sandboxed = Median(env_boxed);
  return p;
}

// The fixed costs the sandbox adds to every task, measured alone.
void FixedCosts(const fs::path& scratch, const Platform& platform, bool cgroups) {
  const int n = 20;
  std::vector<double> bare, boxed, seccomp_build, cgroup_setup;
  fs::path job = scratch / "fixed";
  fs::create_directories(job);
  for (int i = 0; i < n; ++i) {
    RunLimits limits;
    limits.timeout_s = 30;
    RunExit exit;
    std::string err;
    auto t0 = Clock::now();
    RunProcess({"/bin/true"}, {"PATH=/usr/bin:/bin"}, limits, -1, &exit, &err);
    bare.push_back(Since(t0));

    t0 = Clock::now();
    SeccompFilterFd seccomp;
    seccomp.Build(&err);
    seccomp_build.push_back(Since(t0));
    JobCgroup cg;
    t0 = Clock::now();
    if (cgroups && cg.Create({4ull << 30, 512, 100}, &err)) limits.cgroup_procs = cg.procs_files();
    cgroup_setup.push_back(Since(t0));
    SandboxPolicy policy;
    policy.job_dir = job;
    policy.env = SandboxEnvironment();
    policy.seccomp_fd = seccomp.fd();
    t0 = Clock::now();
    RunSandboxed(policy, {"/bin/true"}, limits, &exit, &err);
    boxed.push_back(Since(t0));
  }
  Figure("process_start_bare", Median(bare) * 1000, "ms");
  Figure("process_start_bwrap", Median(boxed) * 1000, "ms");
  Figure("seccomp_filter_build", Median(seccomp_build) * 1000, "ms");
  Figure("cgroup_setup", Median(cgroup_setup) * 1000, "ms");
  std::vector<double> probe;
  for (int i = 0; i < 5; ++i) {
    std::string level, err;
    auto t0 = Clock::now();
    if (MeasureIsolation(platform, scratch, &level, &err)) probe.push_back(Since(t0));
    if (i == 0) std::printf("isolation: %s\n", level.empty() ? err.c_str() : level.c_str());
  }
  Figure("isolation_probe", Median(probe) * 1000, "ms");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--python" && i + 1 < argc) o.pythons.push_back(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc) o.rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-corpus") o.corpus = false;
    else if (a == "--no-cgroups") o.cgroups = false;
    else {
      std::fprintf(stderr,
                   "usage: sandbox_overhead [--python PATH]... [--rounds N] [--no-corpus] "
                   "[--no-cgroups]\n");
      return 2;
    }
  }
  if (o.pythons.empty())
    for (const char* p : {"/root/.pyenv/versions/3.12.1/bin/python",
                          "/root/.pyenv/versions/2.7.18/bin/python"})
      if (fs::exists(p)) o.pythons.push_back(p);
  InitCrypto();
  fs::path scratch = fs::temp_directory_path() / ("corral-bench-sandbox-" + RandomHex(4));
  fs::path cache = scratch / "cache";
  fs::create_directories(scratch / "wheelhouse");
  fs::path corpus = scratch / "corpus";
  std::string err;
  if (!WriteDemoCorpus(corpus, &err)) {
    std::fprintf(stderr, "cannot write the demo corpus: %s\n", err.c_str());
    return 1;
  }
  std::vector<ExpectedPackage> packages;
  if (!LoadExpected(corpus / "expected.json", &packages, &err)) {
    std::fprintf(stderr, "cannot read the corpus: %s\n", err.c_str());
    return 1;
  }
  std::printf("cgroups: %s\n", DetectCgroups().notes.c_str());
  Figure("rounds", o.rounds, "per package and mode");
  bool fixed_done = false;
  for (const std::string& py : o.pythons) {
    Platform platform;
    if (!ProbeInterpreter(py, &platform, &err)) {
      std::fprintf(stderr, "skipping %s: %s\n", py.c_str(), err.c_str());
      continue;
    }
    std::string tag = platform.Tag().ToString();  // "cp312-linux_x86_64" -> "cp312"
    tag = tag.substr(0, tag.find('-'));
    TemplateInfo t;
    auto t0 = Clock::now();
    if (!EnsureVenvTemplate(platform, cache, &t, &err)) {
      std::fprintf(stderr, "skipping %s: %s\n", py.c_str(), err.c_str());
      continue;
    }
    Figure(tag + "_venv_template_create", Since(t0), "s (once per interpreter)");
    if (!fixed_done) {
      FixedCosts(scratch, platform, o.cgroups);
      fixed_done = true;
    }
    double sum_bare = 0, sum_boxed = 0;
    int mismatches = 0;
    for (const auto& pkg : packages) {
      bool pure = pkg.project == "corral-demo-pure";  // the small pure package (each version)
      if (!pure && !o.corpus) continue;
      Pair p = Measure(o, scratch, cache, platform, corpus / pkg.file, pkg.project);
      std::string short_name = pkg.project.rfind("corral-demo-", 0) == 0 ? pkg.project.substr(12)
                                                                         : pkg.project;
      std::string name = tag + "_" + short_name + "_" + pkg.version;
      for (char& c : name)
        if (c == '-' || c == '.') c = '_';
      Figure(name + "_bare", p.bare, "s");
      Figure(name + "_sandboxed", p.sandboxed, "s");
      Figure(name + "_ratio", p.bare > 0 ? p.sandboxed / p.bare : 0, "x");
      if (pure) Figure(name + "_env_copy", p.env_sandboxed * 1000, "ms");
      if (p.outcome_bare != p.outcome_sandboxed) {
        ++mismatches;
        std::printf("%s_outcomes: bare %s, sandboxed %s\n", name.c_str(), p.outcome_bare.c_str(),
                    p.outcome_sandboxed.c_str());
      }
      sum_bare += p.bare;
      sum_boxed += p.sandboxed;
    }
    if (o.corpus) {
      Figure(tag + "_corpus_bare", sum_bare, "s");
      Figure(tag + "_corpus_sandboxed", sum_boxed, "s");
      Figure(tag + "_corpus_ratio", sum_bare > 0 ? sum_boxed / sum_bare : 0, "x");
      Figure(tag + "_corpus_outcome_mismatches", mismatches, "packages");
    }
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return 0;
}
