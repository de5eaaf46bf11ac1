#include "volunteer/reproduce.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "volunteer/platform_choice.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

int Reproduce(const ReproduceOptions& o) {
  InitCrypto();
  std::string base = o.coordinator_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpClient http;
  HttpResult r = http.Get(base + "/api/v1/tasks/" + o.task_id, {{"Accept", "application/json"}});
  if (!r.error.empty()) {
    std::fprintf(stderr, "cannot reach the coordinator at %s: %s\n", base.c_str(), r.error.c_str());
    return 2;
  }
  nlohmann::json task = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || !task.is_object()) {
    std::fprintf(stderr, "task %s: %s\n", o.task_id.c_str(),
                 task.is_object() ? task.value("detail", r.Describe()).c_str() : r.Describe().c_str());
    return 2;
  }
  std::string tag = task.value("platform", ""), url = task.value("url", ""), sha = task.value("sha256", "");
  std::string filename = task.value("filename", ""), verdict = task.value("status", "");
  std::printf("task %s: %s %s (%s) on %s\nnetwork verdict: %s%s\n", o.task_id.c_str(),
              task.value("project", "").c_str(), task.value("version", "").c_str(), filename.c_str(),
              tag.c_str(), verdict.c_str(),
              task.value("summary", "").empty() ? "" : (" - " + task.value("summary", "")).c_str());
  if (url.empty() || sha.empty()) {
    std::fprintf(stderr, "the coordinator's task record has no input URL or sha256\n");
    return 2;
  }

  // The interpreter: the one given, or this machine's choice for the tag.
  Platform platform;
  std::string err;
  if (!o.interpreter.empty()) {
    if (!sandbox::ProbeInterpreter(o.interpreter, &platform, &err)) {
      std::fprintf(stderr, "--interpreter %s: %s\n", o.interpreter.c_str(), err.c_str());
      return 2;
    }
    if (platform.Tag().ToString() != tag)
      std::printf("note: %s is %s, not the task's %s\n", o.interpreter.c_str(),
                  platform.Tag().ToString().c_str(), tag.c_str());
  } else {
    std::vector<std::string> notes;
    auto chosen = ChoosePlatforms(sandbox::DiscoverInterpreters(&notes), {tag});
    if (!chosen.count(tag)) {
      PlatformTag t;
      ParsePlatformTag(tag, &t, &err);
      std::fprintf(stderr,
                   "this machine has no interpreter for %s; install %s %s (for example `pyenv install "
                   "%s`) or pass --interpreter PATH\n",
                   tag.c_str(), t.implementation == "pp" ? "PyPy" : "CPython", t.PythonVersion().c_str(),
                   t.PythonVersion().c_str());
      return 2;
    }
    platform = chosen[tag];
  }
  std::printf("interpreter: %s %s at %s (%s; %s)\n", platform.implementation.c_str(),
              platform.python_version.c_str(), platform.interpreter_path.c_str(),
              platform.interpreter_build.c_str(), platform.libc.c_str());

  fs::path cache = o.data_dir / "cache";
  fs::path input = cache / "files" / sha;
  if (!EnsureDir(cache / "files", &err) || !EnsureDir(cache / "sandbox", &err) ||
      !EnsureDir(cache / "wheelhouse", &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  std::string have;
  if (!(fs::exists(input) && Sha256File(input, &have, &err) && have == sha)) {
    fs::path tmp = input;
    tmp += ".part";
    HttpResult d = http.Download(url, tmp, 512u << 20, &have);
    if (!d.ok() || have != sha) {
      std::fprintf(stderr, "download of %s failed: %s\n", url.c_str(),
                   d.ok() ? ("sha256 " + have + " is not the task's " + sha).c_str() : d.Describe().c_str());
      fs::remove(tmp);
      return 2;
    }
    fs::rename(tmp, input);
  }
  std::printf("input: %s (sha256 %s, checked)\n\n", url.c_str(), sha.c_str());

  sandbox::JobSpec spec;
  spec.input = input;
  spec.filename = filename;
  spec.project = task.value("project", "");
  spec.version = task.value("version", "");
  spec.platform = platform;
  spec.work_dir = o.data_dir / "work" / o.task_id;
  spec.cache_dir = cache / "sandbox";
  spec.wheelhouse = cache / "wheelhouse";
  // The same prepare phase as the daemon: the network's index, unless told otherwise.
  spec.prepare.index_url = o.index_url.empty() ? task.value("index_url", "") : o.index_url;
  if (std::string host = UrlHostOf(url); !host.empty() && host != UrlHostOf(spec.prepare.index_url))
    spec.prepare.extra_hosts.push_back(host);
  spec.prepare.file_cache = cache / "files";
  if (spec.prepare.index_url.empty())
    std::printf("note: the coordinator names no index for this task; building offline (pass --index URL)\n");
  else
    std::printf("index: %s (build, runtime and test requirements are fetched from it)\n",
                spec.prepare.index_url.c_str());
  std::error_code ec;
  fs::remove_all(spec.work_dir, ec);
  EnsureDir(spec.work_dir, &err);
  sandbox::JobResult job = sandbox::RunJob(spec);

  std::printf("== commands\n");
  for (const auto& c : job.commands) std::printf("%s\n", c.c_str());
  std::printf("\n== environment inside the sandbox\n");
  for (const auto& [k, v] : job.environment) std::printf("%s=%s\n", k.c_str(), v.c_str());
  std::printf("\n== log\n%s\n", job.log.c_str());
  std::printf("== outcome here: %s%s\n", std::string(OutcomeName(job.outcome)).c_str(),
              job.summary.empty() ? "" : (" - " + job.summary).c_str());
  for (const auto& t : job.failing_tests) std::printf("   failing: %s\n", t.c_str());
  for (const auto& t : job.test_run.flaky) std::printf("   flaky (failed, then passed when run again): %s\n", t.c_str());
  if (!job.test_run.command.empty()) std::printf("   the suite ran as: %s\n", job.test_run.command.c_str());
  std::printf("   isolation: %s\n   work folder kept at %s\n", job.isolation.c_str(), spec.work_dir.c_str());
  bool same = verdict == OutcomeName(job.outcome);
  std::printf("%s\n", same ? "Reproduced: the same outcome as the network's verdict."
                           : ("Differs from the network's verdict (" + verdict + ").").c_str());
  return same ? 0 : 1;
}

}  // namespace corral::volunteer
