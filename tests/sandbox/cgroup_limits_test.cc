// Job cgroups with real processes, where this machine delegates cgroups.
#include "sandbox/cgroup_limits.h"

#include <catch2/catch.hpp>

#include "sandbox/bwrap_runner.h"

using namespace corral::sandbox;

namespace {

RunExit RunIn(const JobCgroup& cg, const std::vector<std::string>& argv) {
  RunLimits limits;
  limits.timeout_s = 30;
  limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
  limits.cgroup_procs = cg.procs_files();
  RunExit exit;
  std::string err;
  REQUIRE(RunProcess(argv, {"PATH=/usr/bin:/bin"}, limits, -1, &exit, &err));
  return exit;
}

}  // namespace

TEST_CASE("job cgroups bound processes and memory and vanish afterwards") {
  const CgroupSupport& s = DetectCgroups();
  INFO(s.notes);
  if (s.version == 0) {
    WARN("skipping: this machine delegates no cgroups: " << s.notes);
    return;
  }
  std::vector<std::string> dirs;
  {
    JobCgroup cg;
    std::string err;
    REQUIRE(cg.Create({64ull << 20, 8, 100}, &err));
    REQUIRE_FALSE(cg.procs_files().empty());
    for (const auto& f : cg.procs_files()) dirs.push_back(f.substr(0, f.rfind('/')));
    std::string reached = cg.Reached();
    CHECK_FALSE(reached.empty());

    if (!s.pids.empty()) {
      CHECK(reached.find("pids") != std::string::npos);
      // Twenty background sleeps in a cgroup of eight processes.
      RunExit e = RunIn(cg, {"/bin/sh", "-c",
                             "i=0; while [ $i -lt 20 ]; do sleep 2 & i=$((i+1)); done; "
                             "echo started; kill $(jobs -p) 2>/dev/null; wait"});
      INFO(e.log);
      CHECK(e.cgroup_attached);
      CgroupUsage u = cg.Read();
      CHECK(u.pids_max_hits > 0);
      CHECK(u.pids_peak <= 8);
    }
    if (!s.memory.empty() && std::filesystem::exists("/usr/bin/python3")) {
      CHECK(reached.find("memory") != std::string::npos);
      RunExit e = RunIn(cg, {"/usr/bin/python3", "-c", "x = b'1' * (256 << 20); print('survived')"});
      INFO(e.log);
      CHECK(e.log.find("survived") == std::string::npos);
      CgroupUsage u = cg.Read();
      CHECK((u.oom_kills > 0 || e.log.find("MemoryError") != std::string::npos));
      CHECK(u.memory_peak > 0);
      CHECK(u.memory_peak <= (64ull << 20) + (1 << 20));
    }
  }
  for (const auto& d : dirs) CHECK_FALSE(std::filesystem::exists(d));
}
