// The seccomp deny-list, checked with real processes in real bubblewrap: a
// small C program (compiled here with the host's cc) tries each denied call
// and prints what the kernel answered; the same program without the filter
// shows the answers really differ.
#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "sandbox/bwrap_runner.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "test_packages.h"

using namespace corral::sandbox;
using corral::sandbox::testing::PackageKind;
using corral::sandbox::testing::SdistEntries;
using corral::sandbox::testing::TempDir;
using corral::sandbox::testing::WriteArchive;

namespace {

// Each operation prints "RESULT <op> <rc> <errno>" (errno 0 on success).
constexpr const char kProbeC[] = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long child_done(long r) {
  if (r == 0) _exit(0);
  if (r > 0) { waitpid((pid_t)r, 0, 0); return 0; }
  return r;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const char* op = argv[i];
    long r = -1;
    char c = 'x';
    unsigned char zeros[256];
    memset(zeros, 0, sizeof zeros);
    errno = 0;
    if (!strcmp(op, "getpid")) r = syscall(SYS_getpid) > 0 ? 0 : -1;
    else if (!strcmp(op, "tiocsti_high")) r = syscall(SYS_ioctl, 0, 0xFFFFFFFF00005412UL, &c);
    else if (!strcmp(op, "tiocsti")) r = syscall(SYS_ioctl, 0, 0x5412UL, &c);
    else if (!strcmp(op, "tioclinux_high")) r = syscall(SYS_ioctl, 0, 0x123400000000541CUL, &c);
    else if (!strcmp(op, "ioctl_fioclex")) r = syscall(SYS_ioctl, 0, 0x5451UL, 0);
    else if (!strcmp(op, "unshare_user")) r = syscall(SYS_unshare, CLONE_NEWUSER);
    else if (!strcmp(op, "unshare_files")) r = syscall(SYS_unshare, CLONE_FILES);
    else if (!strcmp(op, "setns")) r = syscall(SYS_setns, 0, 0);
    else if (!strcmp(op, "clone_newns")) r = child_done(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(op, "clone_newnet_high")) r = child_done(syscall(SYS_clone, 0xFF00000000000000UL | CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(op, "clone_plain")) r = child_done(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(op, "clone3")) { zeros[32] = SIGCHLD; r = child_done(syscall(435, zeros, 88)); }
    else if (!strcmp(op, "mount")) r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
    else if (!strcmp(op, "umount2")) r = syscall(SYS_umount2, "/tmp", 0);
    else if (!strcmp(op, "chroot")) r = syscall(SYS_chroot, "/tmp");
    else if (!strcmp(op, "fsopen")) r = syscall(430, "tmpfs", 0);
    else if (!strcmp(op, "keyctl")) r = syscall(SYS_keyctl, 0, -3, 0);
    else if (!strcmp(op, "add_key")) r = syscall(SYS_add_key, "user", "corral", "x", 1, -3);
    else if (!strcmp(op, "ptrace")) r = syscall(SYS_ptrace, 0, 0, 0, 0);
    else if (!strcmp(op, "process_vm_readv")) r = syscall(SYS_process_vm_readv, getpid(), 0, 0, 0, 0, 0);
    else if (!strcmp(op, "io_uring_setup")) r = syscall(425, 1, zeros);
    else if (!strcmp(op, "perf_event_open")) r = syscall(SYS_perf_event_open, zeros, 0, -1, -1, 0);
    else if (!strcmp(op, "bpf")) r = syscall(SYS_bpf, 0, zeros, 48);
    else if (!strcmp(op, "userfaultfd")) r = syscall(SYS_userfaultfd, 0);
    else if (!strcmp(op, "i386_unshare_user")) {
      /* The i386 ABI from a 64-bit process: unshare is 310 there. */
      long ax = 310;
      __asm__ volatile("int $0x80" : "+a"(ax) : "b"((long)CLONE_NEWUSER)
                       : "memory", "r8", "r9", "r10", "r11");
      int ret = (int)ax;
      if (ret < 0) { errno = -ret; r = -1; } else r = ret;
    }
    else if (!strcmp(op, "x32_unshare_user")) r = syscall(0x40000000L | 272, CLONE_NEWUSER);
    else { printf("RESULT %s unknown 0\n", op); continue; }
    printf("RESULT %s %ld %d\n", op, r, r < 0 ? errno : 0);
    fflush(stdout);
  }
  return 0;
}
)C";

// The probe program compiled into `dir`/probe; false (with a warning) when
// the host has no C compiler.
bool CompileProbe(const std::filesystem::path& dir) {
  std::string err;
  {
    std::ofstream out(dir / "probe.c");
    out << kProbeC;
  }
  RunLimits limits;
  limits.timeout_s = 120;
  limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
  RunExit exit;
  REQUIRE(RunProcess({"/usr/bin/cc", "-O1", "-o", (dir / "probe").string(),
                      (dir / "probe.c").string()},
                     {"PATH=/usr/bin:/bin", "LC_ALL=C"}, limits, -1, &exit, &err));
  INFO(exit.log);
  REQUIRE(exit.exit_code == 0);
  return true;
}

// What the probe printed for one operation.
struct Answer {
  long rc = 0;
  int error = -1;  // -1: the program never reported this op (killed first)
};

// Runs the probe with `ops` inside bwrap under `policy`; op -> answer.
std::map<std::string, Answer> Probe(const SandboxPolicy& policy,
                                    const std::vector<std::string>& ops, RunExit* exit) {
  std::vector<std::string> command = {"/job/probe"};
  command.insert(command.end(), ops.begin(), ops.end());
  std::string err;
  RunLimits limits;
  limits.timeout_s = 60;
  REQUIRE(RunSandboxed(policy, command, limits, exit, &err));
  std::map<std::string, Answer> answers;
  std::istringstream in(exit->log);
  std::string word, op;
  while (in >> word) {
    if (word != "RESULT") continue;
    Answer a;
    in >> op >> a.rc >> a.error;
    answers[op] = a;
  }
  return answers;
}

SandboxPolicy ProbePolicy(const std::filesystem::path& job) {
  SandboxPolicy p;
  p.job_dir = job;
  p.env = {{"PATH", "/usr/bin:/bin"}, {"HOME", "/job"}};
  return p;
}

const std::vector<std::string> kDeniedOps = {
    "tiocsti_high", "tiocsti",     "tioclinux_high", "unshare_user",     "setns",
    "clone_newns",  "clone_newnet_high", "mount",    "umount2",          "chroot",
    "keyctl",       "add_key",     "ptrace",         "process_vm_readv", "perf_event_open",
    "bpf",          "userfaultfd",
    "unshare_files"};  // unshare is denied whatever its flags, like Flatpak
const std::vector<std::string> kEnosysOps = {"clone3", "fsopen", "io_uring_setup"};
const std::vector<std::string> kAllowedOps = {"getpid", "clone_plain", "ioctl_fioclex"};

// A classic-BPF interpreter for seccomp programs, enough to run what
// libseccomp emits on one (arch, nr, args) and return the action. Unknown
// instructions fail the test: nothing is assumed.
uint32_t RunBpf(const std::vector<sock_filter>& prog, uint32_t arch, int nr,
                std::vector<uint64_t> args) {
  args.resize(6, 0);
  unsigned char data[64] = {};
  std::memcpy(data, &nr, 4);
  std::memcpy(data + 4, &arch, 4);
  for (int i = 0; i < 6; ++i) std::memcpy(data + 16 + 8 * i, &args[i], 8);
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& f = prog[pc];
    uint32_t src = BPF_SRC(f.code) == BPF_X ? x : f.k;
    switch (BPF_CLASS(f.code)) {
      case BPF_LD:
        if (f.code == (BPF_LD | BPF_W | BPF_ABS)) {
          REQUIRE(f.k + 4 <= sizeof data);
          std::memcpy(&a, data + f.k, 4);
        } else if (f.code == (BPF_LD | BPF_IMM)) {
          a = f.k;
        } else if (f.code == (BPF_LD | BPF_MEM)) {
          a = mem[f.k % BPF_MEMWORDS];
        } else {
          FAIL("unknown BPF load " << f.code);
        }
        break;
      case BPF_LDX:
        if (f.code == (BPF_LDX | BPF_IMM)) x = f.k;
        else if (f.code == (BPF_LDX | BPF_MEM)) x = mem[f.k % BPF_MEMWORDS];
        else FAIL("unknown BPF ldx " << f.code);
        break;
      case BPF_ST: mem[f.k % BPF_MEMWORDS] = a; break;
      case BPF_STX: mem[f.k % BPF_MEMWORDS] = x; break;
      case BPF_ALU:
        switch (BPF_OP(f.code)) {
          case BPF_ADD: a += src; break;
          case BPF_SUB: a -= src; break;
          case BPF_AND: a &= src; break;
          case BPF_OR: a |= src; break;
          case BPF_XOR: a ^= src; break;
          case BPF_LSH: a <<= src; break;
          case BPF_RSH: a >>= src; break;
          case BPF_NEG: a = -a; break;
          default: FAIL("unknown BPF alu " << f.code);
        }
        break;
      case BPF_JMP: {
        bool jump = false;
        switch (BPF_OP(f.code)) {
          case BPF_JA: pc += f.k; continue;
          case BPF_JEQ: jump = a == src; break;
          case BPF_JGT: jump = a > src; break;
          case BPF_JGE: jump = a >= src; break;
          case BPF_JSET: jump = (a & src) != 0; break;
          default: FAIL("unknown BPF jump " << f.code);
        }
        pc += jump ? f.jt : f.jf;
        break;
      }
      case BPF_RET: return BPF_RVAL(f.code) == BPF_A ? a : f.k;
      case BPF_MISC:
        if (BPF_MISCOP(f.code) == BPF_TAX) x = a;
        else a = x;
        break;
    }
  }
  FAIL("BPF program ran off its end");
  return 0;
}

std::vector<sock_filter> ReadProgram(int fd) {
  off_t size = lseek(fd, 0, SEEK_END);
  REQUIRE(size > 0);
  REQUIRE(size % sizeof(sock_filter) == 0);
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  REQUIRE(pread(fd, prog.data(), static_cast<size_t>(size), 0) == size);
  return prog;
}

constexpr uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

}  // namespace

TEST_CASE("the seccomp program answers the i386, x32 and x86_64 ABIs alike") {
  SeccompFilterFd filter;
  std::string err;
  REQUIRE(filter.Build(&err));
  std::vector<sock_filter> p = ReadProgram(filter.fd());
  const uint32_t i386 = AUDIT_ARCH_I386, x64 = AUDIT_ARCH_X86_64;
  const int x32 = 0x40000000;
  // x86_64 numbers.
  CHECK(RunBpf(p, x64, 39, {}) == SECCOMP_RET_ALLOW);                          // getpid
  CHECK(RunBpf(p, x64, 16, {0, 0xFFFFFFFF00005412ull}) == Errno(EPERM));      // ioctl TIOCSTI
  CHECK(RunBpf(p, x64, 16, {0, 0x0000000100005412ull}) == Errno(EPERM));
  CHECK(RunBpf(p, x64, 16, {0, 0x541C}) == Errno(EPERM));                     // TIOCLINUX
  CHECK(RunBpf(p, x64, 16, {0, 0x5413}) == SECCOMP_RET_ALLOW);                // TIOCGWINSZ
  CHECK(RunBpf(p, x64, 272, {0x10000000}) == Errno(EPERM));                   // unshare
  CHECK(RunBpf(p, x64, 56, {0x01200011}) == SECCOMP_RET_ALLOW);               // clone (fork)
  CHECK(RunBpf(p, x64, 56, {0x40000000 | 0x11}) == Errno(EPERM));             // CLONE_NEWNET
  CHECK(RunBpf(p, x64, 56, {0x02000000}) == Errno(EPERM));                    // CLONE_NEWCGROUP
  CHECK(RunBpf(p, x64, 435, {}) == Errno(ENOSYS));                            // clone3
  CHECK(RunBpf(p, x64, 425, {}) == Errno(ENOSYS));                            // io_uring_setup
  CHECK(RunBpf(p, x64, 442, {}) == Errno(ENOSYS));                            // mount_setattr
  CHECK(RunBpf(p, x64, 246, {}) == Errno(EPERM));                             // kexec_load
  // i386 numbers (int 0x80 from any process).
  CHECK(RunBpf(p, i386, 20, {}) == SECCOMP_RET_ALLOW);                        // getpid
  CHECK(RunBpf(p, i386, 310, {0x10000000}) == Errno(EPERM));                  // unshare
  CHECK(RunBpf(p, i386, 54, {0, 0x5412}) == Errno(EPERM));                    // ioctl TIOCSTI
  CHECK(RunBpf(p, i386, 54, {0, 0x5413}) == SECCOMP_RET_ALLOW);
  CHECK(RunBpf(p, i386, 21, {}) == Errno(EPERM));                             // mount
  CHECK(RunBpf(p, i386, 22, {}) == Errno(EPERM));                             // umount
  CHECK(RunBpf(p, i386, 120, {0x10000000}) == Errno(EPERM));                  // clone NEWUSER
  CHECK(RunBpf(p, i386, 120, {0x11}) == SECCOMP_RET_ALLOW);                   // clone (fork)
  CHECK(RunBpf(p, i386, 288, {}) == Errno(EPERM));                            // keyctl
  CHECK(RunBpf(p, i386, 26, {}) == Errno(EPERM));                             // ptrace
  CHECK(RunBpf(p, i386, 425, {}) == Errno(ENOSYS));                           // io_uring_setup
  // x32 numbers (the x86_64 audit arch with bit 30 set).
  CHECK(RunBpf(p, x64, x32 | 39, {}) == SECCOMP_RET_ALLOW);                   // getpid
  CHECK(RunBpf(p, x64, x32 | 272, {0x10000000}) == Errno(EPERM));             // unshare
  CHECK(RunBpf(p, x64, x32 | 514, {0, 0xFFFFFFFF00005412ull}) == Errno(EPERM));  // ioctl
  CHECK(RunBpf(p, x64, x32 | 165, {}) == Errno(EPERM));                       // mount
  // Any other ABI is killed, not allowed.
  uint32_t other = RunBpf(p, AUDIT_ARCH_AARCH64, 39, {});
  CHECK((other == SECCOMP_RET_KILL_PROCESS || other == SECCOMP_RET_KILL_THREAD));
}

TEST_CASE("the seccomp filter builds into a readable memfd") {
  SeccompFilterFd filter;
  std::string err;
  REQUIRE(filter.Build(&err));
  INFO(err);
  REQUIRE(filter.fd() >= 0);
  // A BPF program is a whole number of 8-byte instructions, at offset 0.
  off_t size = lseek(filter.fd(), 0, SEEK_END);
  CHECK(size > 0);
  CHECK(size % 8 == 0);
  CHECK(lseek(filter.fd(), 0, SEEK_SET) == 0);
  // Building again gives a distinct fd with the same program.
  int other = -1;
  REQUIRE(BuildSeccompFilter(&other, &err));
  CHECK(other != filter.fd());
  CHECK(lseek(other, 0, SEEK_END) == size);
  close(other);
}

TEST_CASE("seccomp filter denies escape syscalls in real bwrap processes and allows ordinary ones") {
  REQUIRE_FALSE(BwrapPath().empty());
  TempDir tmp;
  REQUIRE(CompileProbe(tmp.path()));
  SandboxPolicy policy = ProbePolicy(tmp.path());
  std::vector<std::string> ops = kDeniedOps;
  ops.insert(ops.end(), kEnosysOps.begin(), kEnosysOps.end());
  ops.insert(ops.end(), kAllowedOps.begin(), kAllowedOps.end());

  // Without the filter: the same calls answer otherwise (so the checks
  // below cannot pass by accident).
  // (A few harmless ones only: unshare succeeding changes what follows.)
  RunExit bare_exit;
  auto bare = Probe(policy, {"tiocsti_high", "io_uring_setup", "unshare_user"}, &bare_exit);
  INFO("without filter:\n" << bare_exit.log);
  REQUIRE(bare_exit.exit_code == 0);
  CHECK(bare.at("tiocsti_high").error == ENOTTY);  // stdin is /dev/null
  CHECK(bare.at("unshare_user").rc == 0);          // nested user namespaces work in bwrap
  CHECK(bare.at("io_uring_setup").rc >= 0);

  SeccompFilterFd filter;
  std::string err;
  REQUIRE(filter.Build(&err));
  policy.seccomp_fd = filter.fd();
  CHECK(Isolation(policy, true).find("seccomp=bpf") != std::string::npos);
  CHECK(Isolation(policy, true, kSeccompFilterName).find(";seccomp=denylist") !=
        std::string::npos);
  // Two runs with the one fd: each sees the whole program (RunSandboxed
  // reopens it), so the second is filtered too.
  for (int run = 0; run < 2; ++run) {
    RunExit exit;
    auto got = Probe(policy, ops, &exit);
    INFO("with filter, run " << run << ":\n" << exit.log);
    REQUIRE(exit.exit_code == 0);
    for (const std::string& op : kDeniedOps) {
      INFO(op);
      REQUIRE(got.count(op));
      CHECK(got.at(op).rc == -1);
      CHECK(got.at(op).error == EPERM);
    }
    for (const std::string& op : kEnosysOps) {
      INFO(op);
      REQUIRE(got.count(op));
      CHECK(got.at(op).rc == -1);
      CHECK(got.at(op).error == ENOSYS);
    }
    for (const std::string& op : kAllowedOps) {
      INFO(op);
      REQUIRE(got.count(op));
      CHECK(got.at(op).rc == 0);
      CHECK(got.at(op).error == 0);
    }
  }
}

TEST_CASE("seccomp filter covers the i386 and x32 syscall ABIs") {
  REQUIRE_FALSE(BwrapPath().empty());
  TempDir tmp;
  REQUIRE(CompileProbe(tmp.path()));
  SandboxPolicy policy = ProbePolicy(tmp.path());
  SeccompFilterFd filter;
  std::string err;
  REQUIRE(filter.Build(&err));
  SandboxPolicy filtered = policy;
  filtered.seccomp_fd = filter.fd();

  // x32: the filter answers (EPERM) before the kernel, whether or not the
  // kernel runs x32 at all; without x32 rules the process would be killed.
  RunExit exit;
  auto got = Probe(filtered, {"x32_unshare_user", "getpid"}, &exit);
  INFO(exit.log);
  REQUIRE(got.count("x32_unshare_user"));
  CHECK(got.at("x32_unshare_user").error == EPERM);
  CHECK(got.count("getpid"));

  // i386 through int 0x80, where the kernel runs it.
  RunExit bare_exit;
  auto bare = Probe(policy, {"i386_unshare_user"}, &bare_exit);
  if (!bare.count("i386_unshare_user") || bare.at("i386_unshare_user").rc != 0) {
    WARN("skipping the i386 process check (the BPF-level test covers it): this kernel does "
         "not run int 0x80 syscalls here:\n" << bare_exit.log);
    return;
  }
  got = Probe(filtered, {"i386_unshare_user"}, &exit);
  REQUIRE(got.count("i386_unshare_user"));
  CHECK(got.at("i386_unshare_user").error == EPERM);
}

TEST_CASE("a job under the seccomp filter passes and reports seccomp=denylist") {
  const std::string python = "/root/.pyenv/versions/3.12.1/bin/python";
  if (!std::filesystem::exists(python)) {
    WARN("skipping: " << python << " is absent");
    return;
  }
  corral::Platform platform;
  std::string err;
  REQUIRE(ProbeInterpreter(python, &platform, &err));
  TempDir tmp;
  std::filesystem::path sdist = tmp.path() / "demo_seccomp-1.0.tar.gz";
  REQUIRE(WriteArchive(sdist, SdistEntries("demo_seccomp", PackageKind::kPassing), &err));
  JobSpec spec;
  spec.input = sdist;
  spec.filename = sdist.filename().string();
  spec.project = "demo_seccomp";
  spec.version = "1.0";
  spec.platform = platform;
  spec.work_dir = tmp.path() / "work";
  std::filesystem::create_directories(spec.work_dir);
  spec.cache_dir = std::filesystem::path(CORRAL_BINARY).parent_path() / "sandbox-test-cache";
  spec.timeout_s = 300;
  JobResult r = RunJob(spec);
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == corral::Outcome::kPassed);
  CHECK(r.isolation.find(";seccomp=denylist") != std::string::npos);
  bool seccomp_in_command = false;
  for (const std::string& c : r.commands)
    if (c.find("--seccomp 3") != std::string::npos) seccomp_in_command = true;
  CHECK(seccomp_in_command);
}

TEST_CASE("a seccomp filter that cannot be built is reported, not faked") {
  // No free file descriptor: memfd_create fails. In a child, so this
  // process keeps its limits.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int lowest = dup(0);
    if (lowest < 0) _exit(3);
    close(lowest);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = static_cast<rlim_t>(lowest);
    setrlimit(RLIMIT_NOFILE, &rl);
    int fd = 123;
    std::string err;
    bool ok = BuildSeccompFilter(&fd, &err);
    _exit(!ok && fd == -1 && err.find("memfd_create") != std::string::npos &&
                  err.find("seccomp=none") != std::string::npos
              ? 0
              : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
