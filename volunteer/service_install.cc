#include "volunteer/service_install.h"

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "common/fs_util.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

namespace {

// `p` (absolute) under `root`.
fs::path Under(const fs::path& root, const fs::path& p) { return root / p.relative_path(); }

// Runs argv without a shell; the exit status, or -1 when it could not start.
int RunCommand(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string ServiceUnitText(const ServiceOptions& o) {
  std::string data = o.data_dir.string();
  std::string state = o.data_dir.lexically_relative("/var/lib").string();
  std::string t;
  t += "# Corral volunteer: builds and tests PyPI packages in a bubblewrap sandbox\n";
  t += "# and submits signed results to a coordinator. Written by\n";
  t += "# `corral volunteer install-service`; edit " + o.config.string() + ", then\n";
  t += "# `systemctl reload corral-volunteer`.\n";
  t += "[Unit]\n";
  t += "Description=Corral volunteer (builds and tests PyPI packages)\n";
  t += "Wants=network-online.target\n";
  t += "After=network-online.target\n\n";
  t += "[Service]\n";
  t += "Type=notify\n";
  t += "NotifyAccess=main\n";
  t += "ExecStart=" + o.binary.string() + " volunteer --config " + o.config.string() + " --data " + data + "\n";
  t += "ExecReload=/bin/kill -HUP $MAINPID\n";
  t += "User=" + o.user + "\n";
  t += "Group=" + o.user + "\n";
  t += "StateDirectory=" + state + "\n";
  t += "StateDirectoryMode=0750\n";
  t += "# The daemon sends WATCHDOG=1 every WatchdogSec/2 from its main loop.\n";
  t += "WatchdogSec=5min\n";
  t += "Restart=on-failure\n";
  t += "RestartSec=30s\n";
  t += "# Exit code 2 is a configuration error: restarting will not fix it.\n";
  t += "RestartPreventExitStatus=2\n";
  t += "TimeoutStopSec=30s\n";
  t += "# Low priority, inherited by every sandbox.\n";
  t += "Nice=10\n";
  t += "IOSchedulingClass=idle\n";
  t += "CPUSchedulingPolicy=batch\n";
  t += "# Hardening. bubblewrap uses unprivileged user namespaces, not setuid, so\n";
  t += "# NoNewPrivileges is fine. Deliberately absent: RestrictNamespaces (the\n";
  t += "# sandbox unshares all of them), ProtectKernelTunables, ProtectKernelLogs,\n";
  t += "# ProtectProc (anything mounted over a /proc file stops the kernel letting\n";
  t += "# bubblewrap mount a procfs in its user namespace), SystemCallFilter\n";
  t += "# (bubblewrap mounts and pivots), MemoryDenyWriteExecute (PyPy's JIT).\n";
  t += "NoNewPrivileges=yes\n";
  t += "ProtectSystem=strict\n";
  t += "ReadWritePaths=" + data + "\n";
  t += "ProtectHome=read-only\n";
  t += "PrivateTmp=yes\n";
  t += "# AF_NETLINK: bubblewrap brings up the sandbox's loopback with rtnetlink.\n";
  t += "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n";
  t += "ProtectKernelModules=yes\n";
  t += "RestrictRealtime=yes\n";
  t += "RestrictSUIDSGID=yes\n";
  t += "LockPersonality=yes\n";
  t += "UMask=0027\n\n";
  t += "[Install]\n";
  t += "WantedBy=multi-user.target\n";
  return t;
}

int InstallService(const ServiceOptions& in) {
  ServiceOptions o = in;
  std::error_code ec;
  if (o.binary.empty()) o.binary = fs::canonical("/proc/self/exe", ec);
  if (o.binary.empty() || !o.binary.is_absolute()) {
    std::fprintf(stderr, "cannot tell where the corral binary is; pass --binary /usr/local/bin/corral\n");
    return 2;
  }
  const bool real_root = fs::path(o.root).lexically_normal() == "/";
  std::string err;

  // The user first: files below are given to its group.
  if (o.create_user) {
    if (!real_root) {
      std::printf("not creating user %s under %s; there, run: useradd --root %s --system --home-dir %s "
                  "--no-create-home --shell /usr/sbin/nologin %s\n",
                  o.user.c_str(), o.root.c_str(), o.root.c_str(), o.data_dir.c_str(), o.user.c_str());
    } else if (!getpwnam(o.user.c_str())) {
      int rc = RunCommand({"useradd", "--system", "--home-dir", o.data_dir.string(), "--no-create-home",
                           "--shell", "/usr/sbin/nologin", o.user});
      if (rc != 0) {
        std::fprintf(stderr, "useradd --system %s failed (exit %d); create the user yourself or pass --no-user\n",
                     o.user.c_str(), rc);
        return 2;
      }
      std::printf("created system user %s\n", o.user.c_str());
    }
  }
  const group* grp = real_root ? getgrnam(o.user.c_str()) : nullptr;

  fs::path unit = Under(o.root, "/etc/systemd/system/corral-volunteer.service");
  if (!EnsureDir(unit.parent_path(), &err) || !WriteFileAtomic(unit, ServiceUnitText(o), &err, 0644)) {
    std::fprintf(stderr, "cannot write the unit: %s (run as root, or pass --root DIR)\n", err.c_str());
    return 2;
  }
  std::printf("wrote %s\n", unit.c_str());

  fs::path key_dest;
  if (!o.account_key.empty()) {
    key_dest = fs::path("/etc/corral") / o.account_key.filename();
    fs::path dest = Under(o.root, key_dest);
    std::string bytes;
    if (!ReadFile(o.account_key, &bytes, &err) || !EnsureDir(dest.parent_path(), &err) ||
        !WriteFileAtomic(dest, bytes, &err, 0640)) {
      std::fprintf(stderr, "cannot copy the account key: %s\n", err.c_str());
      return 2;
    }
    if (grp && chown(dest.c_str(), 0, grp->gr_gid) != 0)
      std::fprintf(stderr, "warning: cannot give %s to group %s; the daemon may not read it\n", dest.c_str(),
                   o.user.c_str());
    std::printf("copied the account key to %s%s\n", dest.c_str(),
                grp ? (" (readable by group " + o.user + ")").c_str() : "");
  }

  fs::path config = Under(o.root, o.config);
  if (fs::exists(config, ec)) {
    std::printf("kept the existing %s\n", config.c_str());
  } else {
    std::string text = "# Corral volunteer configuration; every key is described in\n"
                       "# packaging/volunteer.toml of the Corral sources.\n";
    text += o.coordinator_url.empty() ? "# coordinator = \"http://coordinator.example:8080\"\n"
                                      : "coordinator = \"" + o.coordinator_url + "\"\n";
    text += key_dest.empty() ? "# account = \"/etc/corral/NAME.key\"\n" : "account = \"" + key_dest.string() + "\"\n";
    text += "slots = 1\nnice = 10\nionice = \"idle\"\ncache_size_mb = 4096\n";
    if (!EnsureDir(config.parent_path(), &err) || !WriteFileAtomic(config, text, &err, 0644)) {
      std::fprintf(stderr, "cannot write the configuration: %s\n", err.c_str());
      return 2;
    }
    std::printf("wrote %s%s\n", config.c_str(),
                o.coordinator_url.empty() || key_dest.empty() ? " (set coordinator and account in it)" : "");
  }
  std::string b = o.binary.string();
  if (b.rfind("/root/", 0) == 0 || b.rfind("/home/", 0) == 0)
    std::printf("warning: %s is in a home folder, which user %s may not reach; install it as "
                "/usr/local/bin/corral and pass --binary\n",
                b.c_str(), o.user.c_str());
  std::printf("\nnext:\n"
              "  systemctl daemon-reload\n"
              "  systemctl enable --now corral-volunteer\n"
              "  systemctl status corral-volunteer; journalctl -u corral-volunteer -f\n"
              "  after editing %s: systemctl reload corral-volunteer\n"
              "  to pause: corral volunteer pause --data %s\n",
              o.config.c_str(), o.data_dir.c_str());
  return 0;
}

}  // namespace corral::volunteer
