#include "sandbox/resource_evidence.h"

#include <catch2/catch.hpp>

using namespace corral::sandbox;

TEST_CASE("ResourceEvidence reads limits from cgroup counters and kernel errors") {
  CgroupUsage none;
  CHECK(ResourceEvidence(none, "").empty());
  CHECK(ResourceEvidence(none, "AssertionError: 4 != 5\nFAILED (failures=1)\n").empty());

  CgroupUsage oom;
  oom.oom_kills = 2;
  CHECK(ResourceEvidence(oom, "") ==
        "memory limit reached: the job's cgroup killed 2 process(es) out of memory");
  CgroupUsage forks;
  forks.pids_max_hits = 7;
  CHECK(ResourceEvidence(forks, "").rfind("process limit reached", 0) == 0);

  CHECK(ResourceEvidence(none, "  File \"t.py\", line 3\n    x = b'1' * n\nMemoryError\n") ==
        "memory limit reached: MemoryError");
  CHECK(ResourceEvidence(none, "OSError: [Errno 28] No space left on device: '/tmp/x'\n") ==
        "disk limit reached: OSError: [Errno 28] No space left on device: '/tmp/x'");
  CHECK(ResourceEvidence(none, "OSError: [Errno 27] File too large\n").rfind("file size limit", 0) ==
        0);
  CHECK(ResourceEvidence(none, "[corral] exit status -25\n").rfind("file size limit", 0) == 0);
  // EAGAIN means processes only next to a fork or a thread.
  CHECK(ResourceEvidence(none, "    pid = os.fork()\nBlockingIOError: [Errno 11] Resource "
                               "temporarily unavailable\n")
            .rfind("process limit reached", 0) == 0);
  CHECK(ResourceEvidence(none, "    sock.recv(10)\nBlockingIOError: [Errno 11] Resource "
                               "temporarily unavailable\n")
            .empty());
  // The earliest evidence wins: later errors are usually consequences.
  CHECK(ResourceEvidence(none, "No space left on device\nthen MemoryError\n")
            .rfind("disk limit reached", 0) == 0);
}

TEST_CASE("StepOutput cuts the log at the failing step's header") {
  std::string log =
      "\n==> [corral] build: backend\nbuilding\n"
      "\n==> [corral] tests: tests/\nMemoryError in a test\n";
  CHECK(StepOutput(log, "tests") == "==> [corral] tests: tests/\nMemoryError in a test\n");
  CHECK(StepOutput(log, "build").rfind("==> [corral] build:", 0) == 0);
  CHECK(StepOutput(log, "") == StepOutput(log, "tests"));
  CHECK(StepOutput(log, "import") == log);  // no such step: all of it
  CHECK(StepOutput(log, "tests", 10) == "in a test\n");
}
