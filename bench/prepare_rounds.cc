// Benchmark: what the prepare phase costs (issue "Real sdists build"). A
// pure package with two runtime dependencies (the demo corpus's
// corral-demo-app, which needs corral-demo-textlib and corral-demo-numlib,
// wheels on the index) is built and installed by RunJob against the demo's
// local index, through the job's index proxy, with a cold volunteer cache
// (every file fetched) and then warm (every file from the cache). Beside
// it, the same task bare: `pip wheel` of the sdist and `pip install` of the
// wheel with its dependencies from the same index, into a fresh virtual
// environment, no sandbox. Prints `name: value unit` lines: each sandboxed
// run, the runner's steps, and the ratios.
//
//   prepare_rounds [--python PATH] [--rounds N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/http_server.h"
#include "common/outcome.h"
#include "demo/corpus.h"
#include "demo/local_index.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"

namespace fs = std::filesystem;
using namespace corral;
using namespace corral::sandbox;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void Figure(const std::string& name, double value, const char* unit) {
  std::printf("%s: %.4g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

int Shell(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  InitCrypto();
  std::string python = "/root/.pyenv/versions/3.12.1/bin/python";
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: prepare_rounds [--python PATH] [--rounds N]\n");
      return 2;
    }
  }
  Platform platform;
  std::string err;
  if (!ProbeInterpreter(python, &platform, &err)) {
    std::fprintf(stderr, "%s: %s\n", python.c_str(), err.c_str());
    return 2;
  }
  fs::path root = fs::temp_directory_path() / ("corral-prepare-bench-" + RandomHex(4));
  fs::path index_dir = root / "index";
  if (!WriteDemoCorpus(index_dir, &err) || !CopyBuildToolWheels(index_dir, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  LocalIndex index;
  if (!index.Load(index_dir, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  HttpServer server([&](const HttpRequest& r) { return index.Handle(r); });
  if (!server.Start("127.0.0.1", 0, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/simple/";
  const std::string sdist = "corral_demo_app-1.0.0.tar.gz";
  std::printf("# %s on %s %s, index %s, %d round(s)\n", sdist.c_str(), platform.implementation.c_str(),
              platform.python_version.c_str(), url.c_str(), rounds);

  std::map<std::string, std::vector<double>> cold, warm;
  std::vector<double> cold_total, warm_total, bare_total, bare_steps;
  for (int round = 0; round < rounds; ++round) {
    fs::path cache = root / ("files-" + std::to_string(round));
    for (bool is_warm : {false, true}) {
      JobSpec spec;
      spec.input = index_dir / sdist;
      spec.filename = sdist;
      spec.project = "corral-demo-app";
      spec.version = "1.0.0";
      spec.platform = platform;
      spec.work_dir = root / ("work-" + RandomHex(4));
      fs::create_directories(spec.work_dir);
      spec.cache_dir = root / "sandbox-cache";
      spec.prepare.index_url = url;
      spec.prepare.file_cache = cache;
      JobResult r = RunJob(spec);
      if (r.outcome != Outcome::kPassed) {
        std::fprintf(stderr, "the task did not pass: %s\n%s\n", r.summary.c_str(), r.log.c_str());
        return 1;
      }
      auto& into = is_warm ? warm : cold;
      // Every sandboxed run (prepare rounds, offline runs) but the import
      // check and the tests: what the bare run does too.
      double until_installed = 0;
      for (const auto& [name, seconds] : r.phases) {
        into[name].push_back(seconds);
        if (name.rfind("prepare round", 0) == 0 || name.rfind("offline run", 0) == 0)
          until_installed += seconds;
        else if (name == "import" || name == "tests")
          until_installed -= seconds;
      }
      (is_warm ? warm_total : cold_total).push_back(until_installed);
      if (is_warm && r.files_fetched != 0) std::fprintf(stderr, "warm run fetched %d file(s)\n", r.files_fetched);
      fs::remove_all(spec.work_dir);
    }
    // Bare: a fresh venv, pip wheel of the sdist, pip install with dependencies.
    fs::path bare = root / ("bare-" + RandomHex(4));
    auto t0 = Clock::now();
    bool ok = Shell(python + " -m venv " + bare.string() + "/env") == 0;
    double venv = Since(t0);
    auto t1 = Clock::now();
    std::string pip = bare.string() + "/env/bin/python -m pip --disable-pip-version-check";
    ok = ok && Shell(pip + " wheel --no-deps --no-cache-dir --index-url " + url + " -w " + bare.string() +
                     "/dist " + (index_dir / sdist).string()) == 0;
    ok = ok && Shell(pip + " install --no-cache-dir --index-url " + url + " --find-links " + bare.string() +
                     "/dist corral-demo-app==1.0.0") == 0;
    if (!ok) {
      std::fprintf(stderr, "the bare run failed (run by hand in %s to see why)\n", bare.c_str());
      return 1;
    }
    bare_steps.push_back(Since(t1));
    bare_total.push_back(venv + Since(t1));
    fs::remove_all(bare);
  }
  for (const auto& [label, runs] : {std::pair{"cold", &cold}, std::pair{"warm", &warm}})
    for (const auto& [name, seconds] : *runs) {
      std::string key = std::string(label) + "_" + name;
      std::replace(key.begin(), key.end(), ' ', '_');
      Figure(key, Median(seconds), "s");
    }
  Figure("cold_prepare_build_install", Median(cold_total), "s");
  Figure("warm_prepare_build_install", Median(warm_total), "s");
  Figure("bare_venv_wheel_install", Median(bare_total), "s");
  Figure("bare_wheel_install_without_venv", Median(bare_steps), "s");
  Figure("cold_vs_bare", Median(cold_total) / Median(bare_total), "x");
  Figure("warm_vs_bare", Median(warm_total) / Median(bare_total), "x");
  Figure("warm_vs_bare_without_venv", Median(warm_total) / Median(bare_steps), "x");
  server.Stop();
  fs::remove_all(root);
  return 0;
}
