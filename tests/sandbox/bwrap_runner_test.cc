#include "sandbox/bwrap_runner.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <thread>

#include "test_packages.h"

using namespace corral::sandbox;
using corral::sandbox::testing::TempDir;

namespace {

SandboxPolicy ShellPolicy(const std::filesystem::path& job) {
  SandboxPolicy p;
  p.job_dir = job;
  p.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/job"}};
  return p;
}

RunExit Shell(const SandboxPolicy& policy, const std::string& script, RunLimits limits = {}) {
  RunExit exit;
  std::string err;
  REQUIRE(RunSandboxed(policy, {"/bin/sh", "-c", script}, limits, &exit, &err));
  return exit;
}

}  // namespace

TEST_CASE("bwrap sandbox has no network and a read-only host and hides data and only /job is writable") {
  REQUIRE_FALSE(BwrapPath().empty());
  TempDir tmp;
  SandboxPolicy policy = ShellPolicy(tmp.path());
  RunExit exit = Shell(policy,
                       "echo IFACES $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ');"
                       "touch /usr/corral-probe 2>/dev/null && echo USR_WRITABLE;"
                       "test -e /work && echo WORK_VISIBLE;"
                       "test -e /root && echo ROOT_VISIBLE;"
                       "echo hello > /job/out.txt && echo JOB_WRITABLE;"
                       "echo UMASK $(umask); echo CORE $(ulimit -c);"
                       "echo PID $$; env | sort | tr '\\n' ' '");
  INFO(exit.log);
  CHECK(exit.exit_code == 0);
  CHECK(exit.log.find("IFACES lo\n") != std::string::npos);
  CHECK(exit.log.find("USR_WRITABLE") == std::string::npos);
  CHECK(exit.log.find("WORK_VISIBLE") == std::string::npos);
  CHECK(exit.log.find("ROOT_VISIBLE") == std::string::npos);
  CHECK(exit.log.find("JOB_WRITABLE") != std::string::npos);
  CHECK(exit.log.find("UMASK 0022") != std::string::npos);
  CHECK(exit.log.find("CORE 0") != std::string::npos);
  CHECK(exit.log.find("PIP_FIND_LINKS") == std::string::npos);
  CHECK(std::filesystem::exists(tmp.path() / "out.txt"));
  CHECK(Isolation(policy, true).rfind("bwrap:net,pid,", 0) == 0);
}

TEST_CASE("bwrap sandbox wall-clock timeout kills the whole tree") {
  TempDir tmp;
  RunLimits limits;
  limits.timeout_s = 1;
  RunExit exit = Shell(ShellPolicy(tmp.path()),
                       "(sleep 3; echo late > /job/late) & echo started; sleep 100", limits);
  CHECK(exit.wall_timeout);
  CHECK(exit.seconds < 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "late"));
}

TEST_CASE("bwrap sandbox no-output timeout and output caps") {
  TempDir tmp;
  RunLimits quiet;
  quiet.no_output_timeout_s = 1;
  RunExit exit = Shell(ShellPolicy(tmp.path()), "echo start; sleep 100", quiet);
  CHECK(exit.quiet_timeout);
  CHECK_FALSE(exit.wall_timeout);

  RunLimits loud;
  loud.max_log_bytes = 10000;
  loud.max_output_bytes = 1 << 20;
  exit = Shell(ShellPolicy(tmp.path()), "echo FIRST; yes corral | head -c 5000000; echo LAST", loud);
  CHECK(exit.output_exceeded);
  CHECK(exit.log.size() < 11000);
  CHECK(exit.log.rfind("FIRST", 0) == 0);
  CHECK(exit.log.find("bytes of output omitted") != std::string::npos);

  RunLimits capped;
  capped.max_log_bytes = 10000;
  exit = Shell(ShellPolicy(tmp.path()), "echo FIRST; yes corral | head -c 200000; echo; echo LAST",
               capped);
  CHECK_FALSE(exit.output_exceeded);
  CHECK(exit.exit_code == 0);
  CHECK(exit.log.rfind("FIRST", 0) == 0);
  CHECK(exit.log.find("LAST\n") != std::string::npos);
  CHECK(exit.log.size() < 11000);
}

TEST_CASE("CopyTree copies a tree with symlinks and modes") {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "a/bin");
  std::filesystem::create_symlink("/usr/bin/env", tmp.path() / "a/bin/link");
  std::string err;
  REQUIRE(CopyTree(tmp.path() / "a", tmp.path() / "b", &err));
  CHECK(std::filesystem::is_symlink(tmp.path() / "b/bin/link"));
  CHECK_FALSE(CopyTree(tmp.path() / "missing", tmp.path() / "c", &err));
  CHECK(err.find("missing") != std::string::npos);
}

TEST_CASE("the disk watch kills a run whose job folder grows past its cap") {
  TempDir tmp;
  SandboxPolicy policy = ShellPolicy(tmp.path());
  RunLimits limits;
  limits.timeout_s = 60;
  limits.watch_dir = tmp.path();
  limits.max_dir_bytes = 8ull << 20;
  RunExit exit = Shell(policy,
                       "i=0; while true; do head -c 1048576 /dev/zero > /job/f$i; i=$((i+1)); "
                       "sleep 0.05; done",
                       limits);
  INFO(exit.log);
  CHECK(exit.disk_exceeded);
  CHECK(exit.disk_detail == "the job folder grew past 8 MiB on disk");
  CHECK(exit.seconds < 30);
  CHECK(exit.dir_bytes_peak > (8ull << 20));
  CHECK(TreeBytes(tmp.path()) >= (8ull << 20));
  CHECK(TreeBytes(tmp.path(), 1 << 20) < (4ull << 20));  // stops early
  CHECK(TreeBytes(tmp.path() / "missing") == 0);

  // A floor on free space above what the disk has kills at once.
  RunLimits floor = limits;
  floor.max_dir_bytes = 0;
  floor.min_free_bytes = ~0ull >> 1;
  RunExit low = Shell(policy, "sleep 20", floor);
  CHECK(low.disk_exceeded);
  CHECK(low.disk_detail.find("MiB free, under the floor") != std::string::npos);
}

// keep_fd reaches the child as fd 3 even when it already is fd 3 and marked
// close-on-exec (the daemon's seccomp fd, reopened with O_CLOEXEC, sometimes
// is: bwrap then failed with "Can't read seccomp data: Bad file descriptor").
TEST_CASE("RunProcess passes keep_fd as fd 3, also when it is fd 3 with close-on-exec") {
  int data = memfd_create("keep-fd-test", MFD_CLOEXEC);
  REQUIRE(data >= 0);
  REQUIRE(write(data, "seccomp bytes", 13) == 13);
  int saved = fcntl(3, F_DUPFD_CLOEXEC, 10);  // whatever fd 3 was, put back at the end
  for (bool at_three : {false, true}) {
    INFO((at_three ? "keep_fd is 3" : "keep_fd is another number"));
    std::string self = "/proc/self/fd/" + std::to_string(data);
    int keep = open(self.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(keep >= 0);
    if (at_three) {
      REQUIRE(dup3(keep, 3, O_CLOEXEC) == 3);
      close(keep);
      keep = 3;
    } else if (keep == 3) {
      int other = fcntl(3, F_DUPFD_CLOEXEC, 10);
      close(3);
      keep = other;
    }
    corral::sandbox::RunLimits limits;
    limits.timeout_s = 20;
    corral::sandbox::RunExit exit;
    std::string err;
    REQUIRE(corral::sandbox::RunProcess({"/bin/sh", "-c", "cat <&3"}, {"PATH=/usr/bin:/bin"}, limits, keep,
                                        &exit, &err));
    CHECK(exit.exit_code == 0);
    CHECK(exit.log.find("seccomp bytes") != std::string::npos);
    close(keep);
  }
  if (saved >= 0) {
    dup2(saved, 3);
    close(saved);
  }
  close(data);
}

// idle_only: a run suspended while the machine is in use resumes where it was,
// and the suspended time counts towards neither timeout.
TEST_CASE("RunProcess suspends the run while pause is set; suspended time is no timeout") {
  std::atomic<bool> pause{false};
  corral::sandbox::RunLimits limits;
  limits.timeout_s = 3;
  limits.no_output_timeout_s = 2;
  limits.pause = &pause;
  std::thread toggler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    pause = true;
    std::this_thread::sleep_for(std::chrono::seconds(4));
    pause = false;
  });
  corral::sandbox::RunExit exit;
  std::string err;
  // 20 lines a tenth of a second apart: 2 s of work, which the 4 s pause
  // pushes past the 3 s wall-clock and 2 s no-output timeouts.
  bool ok = corral::sandbox::RunProcess(
      {"/bin/sh", "-c", "i=0; while [ $i -lt 20 ]; do echo line $i; i=$((i+1)); sleep 0.1; done"},
      {"PATH=/usr/bin:/bin"}, limits, -1, &exit, &err);
  toggler.join();
  REQUIRE(ok);
  INFO(exit.log);
  CHECK_FALSE(exit.wall_timeout);
  CHECK_FALSE(exit.quiet_timeout);
  CHECK(exit.exit_code == 0);
  CHECK(exit.log.find("line 19") != std::string::npos);
  CHECK(exit.paused_seconds > 3.0);
  CHECK(exit.seconds > 5.0);

  SECTION("without the pause the same limits kill it") {
    corral::sandbox::RunLimits strict = limits;
    strict.pause = nullptr;
    strict.timeout_s = 1;
    corral::sandbox::RunExit killed;
    REQUIRE(corral::sandbox::RunProcess(
        {"/bin/sh", "-c", "i=0; while [ $i -lt 20 ]; do echo line $i; i=$((i+1)); sleep 0.1; done"},
        {"PATH=/usr/bin:/bin"}, strict, -1, &killed, &err));
    CHECK(killed.wall_timeout);
  }
}
