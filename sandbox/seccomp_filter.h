// The seccomp deny-list every sandboxed process runs under (DESIGN.md
// section 5, "Isolation"), in the style of Flatpak's: everything is allowed
// except the calls that let a package escape or attack its surroundings.
//
// Denied (errno in brackets):
//  - ioctl TIOCSTI and TIOCLINUX, matched on the low 32 bits of the request
//    (the kernel truncates it, so 0xFFFFFFFF00005412 is TIOCSTI too) [EPERM];
//  - unshare, setns, and clone with any CLONE_NEW* namespace flag [EPERM];
//    clone3 [ENOSYS] (its flags live in memory the filter cannot read; libc
//    then falls back to clone, which is checked);
//  - mount, umount, umount2, pivot_root, chroot [EPERM]; the new mount API
//    open_tree, move_mount, fsopen, fsconfig, fsmount, fspick,
//    mount_setattr [ENOSYS, so tools fall back to mount];
//  - keyctl, add_key, request_key [EPERM];
//  - ptrace, process_vm_readv, process_vm_writev [EPERM];
//  - io_uring_setup, io_uring_enter, io_uring_register [ENOSYS];
//  - perf_event_open, bpf, userfaultfd [EPERM];
//  - kexec_load, kexec_file_load, init_module, finit_module, delete_module,
//    reboot, swapon, swapoff, acct, syslog, quotactl, lookup_dcookie,
//    vhangup, nfsservctl, uselib, iopl, ioperm [EPERM].
// The rules are added for x86_64, i386 and x32 alike (on an x86_64 host), so
// a 32-bit binary cannot bypass them; a call from any other ABI kills the
// process (libseccomp's bad-architecture action).
#pragma once

#include <string>

namespace corral::sandbox {

// The name the isolation string uses for this filter ("seccomp=denylist").
inline constexpr const char* kSeccompFilterName = "denylist";

// Compiles the deny-list with libseccomp and writes the BPF program
// (seccomp_export_bpf) into a fresh memfd, positioned at offset 0 and
// close-on-exec, suitable for bwrap's --seccomp. The caller owns *fd and
// closes it. False with *err (*fd left at -1) when libseccomp or the memfd
// fail; the caller may then run without the filter but must report it.
bool BuildSeccompFilter(int* fd, std::string* err);

// Owns the memfd of one built filter for the runs that share it.
class SeccompFilterFd {
 public:
  SeccompFilterFd() = default;
  ~SeccompFilterFd();
  SeccompFilterFd(const SeccompFilterFd&) = delete;
  SeccompFilterFd& operator=(const SeccompFilterFd&) = delete;

  // BuildSeccompFilter into this object (closing any earlier fd).
  bool Build(std::string* err);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// How many seccomp filters the calling process runs under, from
// "Seccomp_filters:" in /proc/self/status (Linux >= 5.9); -1 when unknown.
// The job compares it with what the runner saw inside the sandbox to know
// that bwrap really installed the filter.
int SeccompFilterCount();
// The calling process's seccomp mode ("Seccomp:" in /proc/self/status:
// 0 none, 1 strict, 2 filter); -1 when unknown. For kernels without
// Seccomp_filters: a filter-mode runner under a mode-0 daemon was filtered
// by bwrap.
int SeccompMode();

}  // namespace corral::sandbox
