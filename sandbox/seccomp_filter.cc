#include "sandbox/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>

namespace corral::sandbox {

namespace {

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

// One syscall denied outright with one errno.
struct Denied {
  const char* name;
  int error;
};

// Every call denied whatever its arguments (see the header for why).
constexpr Denied kDenied[] = {
    {"unshare", EPERM},        {"setns", EPERM},
    {"clone3", ENOSYS},
    {"mount", EPERM},          {"umount", EPERM},           {"umount2", EPERM},
    {"pivot_root", EPERM},     {"chroot", EPERM},
    {"open_tree", ENOSYS},     {"move_mount", ENOSYS},      {"fsopen", ENOSYS},
    {"fsconfig", ENOSYS},      {"fsmount", ENOSYS},         {"fspick", ENOSYS},
    {"mount_setattr", ENOSYS},
    {"keyctl", EPERM},         {"add_key", EPERM},          {"request_key", EPERM},
    {"ptrace", EPERM},         {"process_vm_readv", EPERM}, {"process_vm_writev", EPERM},
    {"io_uring_setup", ENOSYS}, {"io_uring_enter", ENOSYS}, {"io_uring_register", ENOSYS},
    {"perf_event_open", EPERM}, {"bpf", EPERM},             {"userfaultfd", EPERM},
    {"kexec_load", EPERM},     {"kexec_file_load", EPERM},  {"init_module", EPERM},
    {"finit_module", EPERM},   {"delete_module", EPERM},    {"reboot", EPERM},
    {"swapon", EPERM},         {"swapoff", EPERM},          {"acct", EPERM},
    {"syslog", EPERM},         {"quotactl", EPERM},         {"lookup_dcookie", EPERM},
    {"vhangup", EPERM},        {"nfsservctl", EPERM},       {"uselib", EPERM},
    {"iopl", EPERM},           {"ioperm", EPERM},
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// Releases a libseccomp context on every path out of BuildSeccompFilter.
struct CtxGuard {
  scmp_filter_ctx ctx;
  ~CtxGuard() {
    if (ctx) seccomp_release(ctx);
  }
};

std::string Fail(const std::string& what, int rc) {
  return "cannot build the seccomp deny-list: " + what + ": " + std::strerror(rc < 0 ? -rc : rc) +
         "; the job will run without a seccomp filter (isolation reports seccomp=none)";
}

}  // namespace

bool BuildSeccompFilter(int* fd, std::string* err) {
  *fd = -1;
  CtxGuard g{seccomp_init(SCMP_ACT_ALLOW)};
  if (!g.ctx) {
    *err = Fail("seccomp_init", ENOMEM);
    return false;
  }
  // bwrap sets no_new_privs itself; the exported program must not depend on it.
  int rc = seccomp_attr_set(g.ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) {
    *err = Fail("seccomp_attr_set(CTL_NNP)", rc);
    return false;
  }
  // The other x86 ABIs, so that int 0x80 or x32 numbers reach the same
  // rules. EEXIST: already the native one.
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      rc = seccomp_arch_add(g.ctx, arch);
      if (rc < 0 && rc != -EEXIST) {
        *err = Fail("seccomp_arch_add(" + std::string(arch == SCMP_ARCH_X86 ? "x86" : "x32") + ")",
                    rc);
        return false;
      }
    }
  }

  for (const Denied& d : kDenied) {
    int nr = seccomp_syscall_resolve_name(d.name);
    if (nr == __NR_SCMP_ERROR) {
      *err = Fail(std::string("libseccomp ") + std::to_string(seccomp_version()->major) + "." +
                      std::to_string(seccomp_version()->minor) + " does not know the syscall " +
                      d.name + " (upgrade libseccomp)",
                  EINVAL);
      return false;
    }
    rc = seccomp_rule_add(g.ctx, SCMP_ACT_ERRNO(static_cast<uint32_t>(d.error)), nr, 0);
    if (rc < 0) {
      *err = Fail(std::string("rule for ") + d.name, rc);
      return false;
    }
  }
  // clone: denied when any namespace flag is set in its flags (arg 0 on every
  // x86 ABI). One rule per flag; libseccomp ORs the rules of one syscall.
  for (uint64_t flag : kNamespaceFlags) {
    rc = seccomp_rule_add(g.ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc < 0) {
      *err = Fail("rule for clone", rc);
      return false;
    }
  }
  // ioctl: the kernel only looks at the low 32 bits of the request.
  for (uint64_t request : {static_cast<uint64_t>(TIOCSTI), static_cast<uint64_t>(TIOCLINUX)}) {
    rc = seccomp_rule_add(g.ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFull, request));
    if (rc < 0) {
      *err = Fail("rule for ioctl", rc);
      return false;
    }
  }

  int mfd = memfd_create("corral-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) {
    *err = Fail("memfd_create", errno);
    return false;
  }
  rc = seccomp_export_bpf(g.ctx, mfd);
  if (rc < 0) {
    close(mfd);
    *err = Fail("seccomp_export_bpf", rc);
    return false;
  }
  off_t size = lseek(mfd, 0, SEEK_END);
  if (size <= 0 || lseek(mfd, 0, SEEK_SET) != 0) {
    int e = size < 0 ? errno : EIO;
    close(mfd);
    *err = Fail("the exported program is empty or unreadable", e);
    return false;
  }
  // Nobody changes the program once built (best effort: sealing is optional).
  fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  *fd = mfd;
  return true;
}

SeccompFilterFd::~SeccompFilterFd() {
  if (fd_ >= 0) close(fd_);
}

bool SeccompFilterFd::Build(std::string* err) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return BuildSeccompFilter(&fd_, err);
}

namespace {

// The integer after "name:" in /proc/self/status; -1 when absent.
int StatusField(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':') {
      try {
        return std::stoi(line.substr(name.size() + 1));
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

}  // namespace

int SeccompFilterCount() { return StatusField("Seccomp_filters"); }

int SeccompMode() { return StatusField("Seccomp"); }

}  // namespace corral::sandbox
