#include "sandbox/bwrap_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <vector>

namespace corral::sandbox {

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the first and the last `cap/2` bytes of a stream.
class CappedLog {
 public:
  explicit CappedLog(size_t cap) : half_(cap / 2) {}
  void Append(const char* data, size_t n) {
    total_ += n;
    size_t to_head = std::min(n, half_ - std::min(half_, head_.size()));
    head_.append(data, to_head);
    data += to_head;
    n -= to_head;
    if (n == 0) return;
    tail_.append(data, n);
    if (tail_.size() > 2 * half_ + 4096) tail_.erase(0, tail_.size() - half_);
  }
  std::string Take() {
    if (tail_.size() > half_) tail_.erase(0, tail_.size() - half_);
    if (total_ > head_.size() + tail_.size()) {
      uint64_t dropped = total_ - head_.size() - tail_.size();
      return head_ + "\n[corral: " + std::to_string(dropped) + " bytes of output omitted]\n" +
             tail_;
    }
    return head_ + tail_;
  }
  uint64_t total() const { return total_; }

 private:
  size_t half_;
  std::string head_, tail_;
  uint64_t total_ = 0;
};

void SetLimit(int resource, uint64_t value) {
  if (value == 0) return;
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(value);
  struct rlimit old;
  if (getrlimit(resource, &old) == 0 && old.rlim_max != RLIM_INFINITY &&
      old.rlim_max < rl.rlim_max)
    rl.rlim_cur = rl.rlim_max = old.rlim_max;
  setrlimit(resource, &rl);
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Adds the blocks under the open folder `fd` (closed here) to *total.
void AddTree(int fd, dev_t dev, uint64_t stop_after, uint64_t* total, int depth) {
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  while (struct dirent* e = readdir(d)) {
    if (stop_after && *total > stop_after) break;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (st.st_dev != dev) continue;
    *total += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode) && depth < 256) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) AddTree(sub, dev, stop_after, total, depth + 1);
    }
  }
  closedir(d);
}

// Watches the job folder's growth during a run; see RunLimits.
class DiskWatch {
 public:
  explicit DiskWatch(const RunLimits& limits) : limits_(limits) {}

  // True (and *why) when the run must be killed. Cheap when not due.
  bool Exceeded(std::string* why, uint64_t* peak) {
    if (limits_.watch_dir.empty() || (!limits_.max_dir_bytes && !limits_.min_free_bytes))
      return false;
    if (Clock::now() < next_) return false;
    auto t0 = Clock::now();
    if (limits_.min_free_bytes) {
      struct statvfs vfs;
      if (statvfs(limits_.watch_dir.c_str(), &vfs) == 0) {
        uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        if (free_bytes < limits_.min_free_bytes) {
          *why = "the disk holding the job folder has " + std::to_string(free_bytes >> 20) +
                 " MiB free, under the floor of " + std::to_string(limits_.min_free_bytes >> 20) +
                 " MiB";
          return true;
        }
      }
    }
    if (limits_.max_dir_bytes) {
      uint64_t bytes = TreeBytes(limits_.watch_dir, limits_.max_dir_bytes);
      *peak = std::max(*peak, bytes);
      if (bytes > limits_.max_dir_bytes) {
        *why = "the job folder grew past " + std::to_string(limits_.max_dir_bytes >> 20) +
               " MiB on disk";
        return true;
      }
    }
    // A walk of a huge tree must not eat the machine: at most ~5% of the time.
    double took = Since(t0);
    next_ = Clock::now() + std::chrono::milliseconds(
                               std::max<int64_t>(500, static_cast<int64_t>(took * 20000)));
    return false;
  }

 private:
  const RunLimits& limits_;
  Clock::time_point next_ = Clock::now();
};

}  // namespace

uint64_t TreeBytes(const std::filesystem::path& dir, uint64_t stop_after) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return 0;
  }
  uint64_t total = 0;
  AddTree(fd, st.st_dev, stop_after, &total, 0);
  return total;
}

std::string BwrapPath() {
  for (const char* p : {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

bool BwrapSupportsTmpfsSize() {
  static std::once_flag once;
  static bool supported = false;
  std::call_once(once, [] {
    std::string bwrap = BwrapPath();
    if (bwrap.empty()) return;
    RunLimits limits;
    limits.timeout_s = 10;
    limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
    RunExit exit;
    std::string err;
    if (RunProcess({bwrap, "--help"}, {"PATH=/usr/bin:/bin"}, limits, -1, &exit, &err))
      supported = exit.log.find("--size") != std::string::npos;
  });
  return supported;
}

std::vector<std::string> BwrapArgv(const SandboxPolicy& policy,
                                   const std::vector<std::string>& command) {
  std::vector<std::string> a = {BwrapPath().empty() ? "/usr/bin/bwrap" : BwrapPath(),
                                "--unshare-all", "--unshare-user", "--new-session",
                                "--die-with-parent", "--cap-drop", "ALL",
                                "--hostname", "corral-sandbox", "--clearenv"};
  for (const auto& [k, v] : policy.env) a.insert(a.end(), {"--setenv", k, v});
  a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
  for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    struct stat st;
    if (lstat(top, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(top, target, sizeof target - 1);
      if (n <= 0) continue;
      a.insert(a.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), top});
    } else if (S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", top, top});
    }
  }
  // A minimal /etc: the dynamic loader's cache, alternatives (cc, c++),
  // the distribution's Python configuration. Never the whole of it.
  std::vector<std::string> etc = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                                  "/etc/alternatives"};
  for (const char* pattern : {"/etc/python*", "/etc/pypy*"}) {
    glob_t g{};
    if (glob(pattern, 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) etc.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  for (const std::string& e : etc) a.insert(a.end(), {"--ro-bind-try", e, e});
  for (const std::string& p : policy.ro_paths) a.insert(a.end(), {"--ro-bind", p, p});
  if (policy.tmp_bytes > 0 && BwrapSupportsTmpfsSize())
    a.insert(a.end(), {"--size", std::to_string(policy.tmp_bytes)});
  a.insert(a.end(), {"--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"});
  a.insert(a.end(), {"--bind", policy.job_dir.string(), "/job"});
  for (const auto& [host, inside] : policy.ro_binds) a.insert(a.end(), {"--ro-bind", host, inside});
  if (policy.seccomp_fd >= 0) a.insert(a.end(), {"--seccomp", "3"});
  a.insert(a.end(), {"--chdir", policy.chdir, "--"});
  a.insert(a.end(), command.begin(), command.end());
  return a;
}

// Sends `sig` to every process of the run: those in its cgroup (all of
// them, whatever session or PID namespace they made), and its process group.
static void SignalJob(const RunLimits& limits, pid_t pid, int sig) {
  if (!limits.cgroup_procs.empty()) {
    std::ifstream procs(limits.cgroup_procs.front());
    long p;
    while (procs >> p)
      if (p > 0) kill(static_cast<pid_t>(p), sig);
  }
  kill(-pid, sig);
}

bool RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                const RunLimits& limits, int keep_fd, RunExit* exit, std::string* err) {
  *exit = RunExit{};
  if (argv.empty()) {
    *err = "RunProcess: empty command";
    return false;
  }
  std::vector<char*> cargv, cenv;
  for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  for (const auto& s : env) cenv.push_back(const_cast<char*>(s.c_str()));
  cenv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *err = std::string("cannot create a pipe for ") + argv[0] + ": " + std::strerror(errno);
    return false;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // The child waits on `go` until the parent has put it in the cgroups.
  int go[2] = {-1, -1};
  bool use_cgroup = !limits.cgroup_procs.empty();
  if (use_cgroup && pipe2(go, O_CLOEXEC) != 0) {
    *err = std::string("cannot create a pipe for ") + argv[0] + ": " + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    if (devnull >= 0) close(devnull);
    return false;
  }
  const ResourceLimits& rl = limits.rlimits;
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("cannot fork for ") + argv[0] + ": " + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    if (devnull >= 0) close(devnull);
    if (use_cgroup) {
      close(go[0]);
      close(go[1]);
    }
    return false;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    if (use_cgroup) {
      close(go[1]);
      char c;
      while (read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
    }
    setsid();
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    SetLimit(RLIMIT_AS, rl.address_space);
    SetLimit(RLIMIT_FSIZE, rl.file_size);
    SetLimit(RLIMIT_NOFILE, rl.open_files);
    SetLimit(RLIMIT_NPROC, rl.processes);
    SetLimit(RLIMIT_CPU, rl.cpu_seconds);
    umask(022);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    int first_closed = 3;
    if (keep_fd >= 0) {
      // dup2 onto itself keeps FD_CLOEXEC, and keep_fd was opened with it:
      // when it already is fd 3, clear the flag instead, or exec closes it
      // (bwrap then fails with "Can't read seccomp data: Bad file
      // descriptor", now and then, whenever the open returned 3).
      if (keep_fd == 3) fcntl(3, F_SETFD, 0);
      else dup2(keep_fd, 3);
      first_closed = 4;
    }
    syscall(SYS_close_range, first_closed, ~0U, 0);
    execve(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "corral: cannot execute the sandbox command\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(fds[1]);
  if (devnull >= 0) close(devnull);
  if (use_cgroup) {
    close(go[0]);
    std::string pid_text = std::to_string(pid);
    bool all = true;
    for (const std::string& procs : limits.cgroup_procs) {
      int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      bool ok = fd >= 0 && write(fd, pid_text.data(), pid_text.size()) ==
                               static_cast<ssize_t>(pid_text.size());
      if (fd >= 0) close(fd);
      all = all && ok;
    }
    exit->cgroup_attached = all;
    (void)!write(go[1], "g", 1);
    close(go[1]);
  }
  exit->started = true;
  DiskWatch disk(limits);

  CappedLog log(limits.max_log_bytes);
  auto last_output = Clock::now();
  auto started = t0;  // shifted by suspended time, for the wall-clock timeout
  bool killed = false;
  bool paused = false;
  Clock::time_point kill_time, paused_at;
  char buf[65536];
  for (;;) {
    if (limits.pause && !killed) {
      bool want = limits.pause->load();
      if (want) {
        // Repeated while suspended: catches a process forked as we stopped.
        SignalJob(limits, pid, SIGSTOP);
        if (!paused) {
          paused = true;
          paused_at = Clock::now();
        }
      } else if (paused) {
        SignalJob(limits, pid, SIGCONT);
        paused = false;
        auto held = Clock::now() - paused_at;
        started += held;
        last_output += held;
        exit->paused_seconds += std::chrono::duration<double>(held).count();
      }
    }
    int wait_ms = 1000;
    if (killed) {
      if (Since(kill_time) > 5) break;  // a straggler holds the pipe: stop listening
    }
    struct pollfd p = {fds[0], POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        break;
      }
      log.Append(buf, static_cast<size_t>(n));
      last_output = Clock::now();
      if (!killed && log.total() > limits.max_output_bytes) {
        exit->output_exceeded = true;
        kill(-pid, SIGKILL);
        killed = true;
        kill_time = Clock::now();
      }
    }
    if (!killed && !paused) {
      if (limits.timeout_s > 0 && Since(started) > limits.timeout_s) {
        exit->wall_timeout = true;
      } else if (limits.no_output_timeout_s > 0 &&
                 Since(last_output) > limits.no_output_timeout_s) {
        exit->quiet_timeout = true;
      }
      if (!exit->wall_timeout && !exit->quiet_timeout &&
          disk.Exceeded(&exit->disk_detail, &exit->dir_bytes_peak))
        exit->disk_exceeded = true;
      if (exit->wall_timeout || exit->quiet_timeout || exit->disk_exceeded) {
        kill(-pid, SIGKILL);
        killed = true;
        kill_time = Clock::now();
      }
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) exit->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit->signal = WTERMSIG(status);
  exit->output_bytes = log.total();
  exit->log = log.Take();
  exit->seconds = Since(t0);
  return true;
}

bool RunSandboxed(const SandboxPolicy& policy, const std::vector<std::string>& command,
                  const RunLimits& limits, RunExit* exit, std::string* err) {
  std::string bwrap = BwrapPath();
  if (bwrap.empty()) {
    *err = "bubblewrap is not installed (looked for /usr/bin/bwrap): install the 'bubblewrap' "
           "package; jobs cannot run without it";
    return false;
  }
  std::vector<std::string> argv = BwrapArgv(policy, command);
  // bwrap reads the BPF program from the fd's current offset to its end.
  // Reopen it so every run has its own offset at 0: a shared fd would be
  // left at its end by the first run (and raced on by concurrent ones).
  int seccomp_fd = -1;
  if (policy.seccomp_fd >= 0) {
    std::string self = "/proc/self/fd/" + std::to_string(policy.seccomp_fd);
    seccomp_fd = open(self.c_str(), O_RDONLY | O_CLOEXEC);
    if (seccomp_fd < 0) {
      *err = "cannot reopen the seccomp filter (" + self + ") for bwrap: " +
             std::strerror(errno) + "; rebuild the filter or run without it";
      return false;
    }
  }
  bool ok = RunProcess(argv, {"PATH=/usr/bin:/bin"}, limits, seccomp_fd, exit, err);
  if (seccomp_fd >= 0) close(seccomp_fd);
  return ok;
}

std::string Isolation(const SandboxPolicy& policy, bool net_isolated,
                      const std::string& seccomp, const std::string& cgroups, bool disk_cap) {
  std::string s = "bwrap:";
  if (net_isolated) s += "net,";
  s += "pid,ipc,uts,user,cgroup;caps=none;ro-host;";
  if (BwrapSupportsTmpfsSize() && policy.tmp_bytes > 0)
    s += "tmpfs=" + std::to_string(policy.tmp_bytes >> 20) + "M;";
  else
    s += "tmpfs;";
  s += "rlimits;timeouts;seccomp=";
  if (!seccomp.empty())
    s += seccomp;
  else
    s += policy.seccomp_fd >= 0 ? "bpf" : "none";
  if (!cgroups.empty()) s += ";cgroups=" + cgroups;
  if (disk_cap) s += ";disk-cap";
  return s;
}

bool CopyTree(const std::filesystem::path& from, const std::filesystem::path& to,
              std::string* err) {
  RunLimits limits;
  limits.timeout_s = 300;
  limits.no_output_timeout_s = 0;
  limits.max_log_bytes = 8192;
  limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
  RunExit exit;
  if (!RunProcess({"/bin/cp", "-a", "--reflink=auto", from.string(), to.string()},
                  {"PATH=/usr/bin:/bin", "LC_ALL=C"}, limits, -1, &exit, err))
    return false;
  if (exit.exit_code != 0) {
    *err = "cannot copy " + from.string() + " to " + to.string() + ": " + exit.log;
    while (!err->empty() && err->back() == '\n') err->pop_back();
    return false;
  }
  return true;
}

}  // namespace corral::sandbox
