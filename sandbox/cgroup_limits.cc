#include "sandbox/cgroup_limits.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/crypto.h"

namespace corral::sandbox {

namespace fs = std::filesystem;

namespace {

bool WriteText(const fs::path& path, const std::string& text, std::string* err) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (err) *err = "cannot open " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  ssize_t n = write(fd, text.data(), text.size());
  int saved = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    if (err) *err = "cannot write '" + text + "' to " + path.string() + ": " + std::strerror(saved);
    return false;
  }
  return true;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "key value" lines (memory.events, pids.events, memory.oom_control).
uint64_t KeyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

uint64_t Number(const fs::path& path) {
  std::string t = ReadText(path);
  try {
    return t.empty() || t[0] == 'm' ? 0 : std::stoull(t);  // "max" reads as 0
  } catch (...) {
    return 0;
  }
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

struct Mount {
  std::string root, point, fstype, super_options;
};

std::vector<Mount> CgroupMounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root point options [optional...] - fstype source super
    std::istringstream s(line);
    std::string id, parent, dev, root, point, options, field;
    s >> id >> parent >> dev >> root >> point >> options;
    while (s >> field && field != "-") {
    }
    Mount m;
    m.root = root;
    m.point = point;
    std::string source;
    s >> m.fstype >> source >> m.super_options;
    if (m.fstype == "cgroup" || m.fstype == "cgroup2") out.push_back(m);
  }
  return out;
}

// The folder of `cgroup_path` (as /proc/self/cgroup says) under `m`.
fs::path UnderMount(const Mount& m, const std::string& cgroup_path) {
  std::string rel = cgroup_path;
  if (m.root != "/" && rel.rfind(m.root, 0) == 0) rel = rel.substr(m.root.size());
  return fs::path(m.point) / fs::path(rel).relative_path();
}

bool Writable(const fs::path& dir) { return access(dir.c_str(), W_OK) == 0; }

CgroupSupport Detect() {
  CgroupSupport s;
  std::vector<Mount> mounts = CgroupMounts();
  std::map<std::string, std::string> own;  // "" (v2) or controller list -> path
  {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      size_t a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      own[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
    }
  }
  // cgroup v2 with a delegated subtree.
  for (const Mount& m : mounts) {
    if (m.fstype != "cgroup2" || !own.count("")) continue;
    fs::path dir = UnderMount(m, own[""]);
    std::string controllers = ReadText(dir / "cgroup.controllers");
    if (!HasWord(controllers, "memory") || !HasWord(controllers, "pids")) {
      s.notes += "cgroup v2 at " + dir.string() + " offers '" + controllers.substr(0, controllers.find('\n')) +
                 "', not memory and pids; ";
      continue;
    }
    if (!Writable(dir) || access((dir / "cgroup.subtree_control").c_str(), W_OK) != 0) {
      s.notes += "cgroup v2 " + dir.string() + " is not delegated to this user; ";
      continue;
    }
    std::string subtree = ReadText(dir / "cgroup.subtree_control");
    std::string err;
    bool root = own[""] == "/";
    if (!(HasWord(subtree, "memory") && HasWord(subtree, "pids"))) {
      // Not the root: leave the folder to job cgroups (no internal processes).
      if (!root) {
        fs::path leaf = dir / "corral-daemon";
        std::error_code ec;
        fs::create_directory(leaf, ec);
        if (!WriteText(leaf / "cgroup.procs", "0", &err)) {
          s.notes += "cannot move into " + leaf.string() + ": " + err + "; ";
          continue;
        }
      }
      std::string enable = "+memory +pids";
      if (HasWord(controllers, "cpu")) enable += " +cpu";
      if (!WriteText(dir / "cgroup.subtree_control", enable, &err)) {
        s.notes += "cannot enable controllers in " + dir.string() + ": " + err + "; ";
        continue;
      }
      subtree = ReadText(dir / "cgroup.subtree_control");
    }
    s.version = 2;
    s.memory = s.pids = dir;
    if (HasWord(subtree, "cpu")) s.cpu = dir;
    s.notes += "cgroup v2 delegated at " + dir.string();
    return s;
  }
  // cgroup v1: one hierarchy per controller.
  auto v1 = [&](const std::string& controller) -> fs::path {
    for (const Mount& m : mounts) {
      if (m.fstype != "cgroup") continue;
      std::string opts = "," + m.super_options + ",";
      if (opts.find("," + controller + ",") == std::string::npos) continue;
      for (const auto& [list, path] : own) {
        std::string l = "," + list + ",";
        if (l.find("," + controller + ",") == std::string::npos) continue;
        fs::path dir = UnderMount(m, path);
        if (Writable(dir)) return dir;
        s.notes += "cgroup v1 " + controller + " folder " + dir.string() + " is not writable; ";
      }
    }
    return {};
  };
  s.memory = v1("memory");
  s.pids = v1("pids");
  s.cpu = v1("cpu");
  if (!s.memory.empty() || !s.pids.empty() || !s.cpu.empty()) {
    s.version = 1;
    s.notes += "cgroup v1:";
    if (!s.memory.empty()) s.notes += " memory at " + s.memory.string();
    if (!s.pids.empty()) s.notes += " pids at " + s.pids.string();
    if (!s.cpu.empty()) s.notes += " cpu at " + s.cpu.string();
  } else if (s.notes.empty()) {
    s.notes = "no cgroup hierarchy found";
  }
  return s;
}

}  // namespace

const CgroupSupport& DetectCgroups() {
  static std::once_flag once;
  static CgroupSupport support;
  std::call_once(once, [] { support = Detect(); });
  return support;
}

bool JobCgroup::Create(const CgroupLimits& limits, std::string* err) {
  const CgroupSupport& s = DetectCgroups();
  version_ = s.version;
  if (s.version == 0) {
    *err = "no usable cgroup controllers: " + s.notes;
    return false;
  }
  InitCrypto();
  std::string name = "corral-job-" + RandomHex(8);
  std::string why;
  auto make = [&](const fs::path& parent) -> fs::path {
    if (parent.empty()) return {};
    fs::path dir = parent / name;
    for (const fs::path& d : dirs_)
      if (d == dir) return dir;
    std::error_code ec;
    if (!fs::create_directory(dir, ec)) {
      why += "cannot create " + dir.string() + ": " + (ec ? ec.message() : "exists") + "; ";
      return {};
    }
    dirs_.push_back(dir);
    procs_files_.push_back((dir / "cgroup.procs").string());
    return dir;
  };
  fs::path mem = make(s.memory), pids = make(s.pids), cpu = make(s.cpu);
  std::string e;
  if (!mem.empty() && limits.memory_bytes > 0) {
    std::string v = std::to_string(limits.memory_bytes);
    bool ok = s.version == 2
                  ? WriteText(mem / "memory.max", v, &e) &&
                        (WriteText(mem / "memory.swap.max", "0", nullptr) || true)
                  : WriteText(mem / "memory.limit_in_bytes", v, &e) &&
                        (WriteText(mem / "memory.memsw.limit_in_bytes", v, nullptr) || true);
    if (ok) memory_ = mem;
    else why += e + "; ";
  }
  if (!pids.empty() && limits.pids > 0) {
    if (WriteText(pids / "pids.max", std::to_string(limits.pids), &e)) pids_ = pids;
    else why += e + "; ";
  }
  if (!cpu.empty() && limits.cpu_weight > 0) {
    bool ok = s.version == 2
                  ? WriteText(cpu / "cpu.weight", std::to_string(limits.cpu_weight), &e)
                  : WriteText(cpu / "cpu.shares",
                              std::to_string(std::max<uint64_t>(2, limits.cpu_weight * 1024 / 100)),
                              &e);
    if (ok) cpu_ = cpu;
    else why += e + "; ";
  }
  if (memory_.empty() && pids_.empty() && cpu_.empty()) {
    *err = "no cgroup limit could be set: " + why;
    return false;
  }
  return true;
}

std::string JobCgroup::Reached() const {
  std::string s;
  if (!memory_.empty()) s += "memory,";
  if (!pids_.empty()) s += "pids,";
  if (!cpu_.empty()) s += "cpu,";
  if (!s.empty()) s.pop_back();
  return s;
}

CgroupUsage JobCgroup::Read() const {
  CgroupUsage u;
  if (!memory_.empty()) {
    if (version_ == 2) {
      std::string events = ReadText(memory_ / "memory.events");
      u.oom_kills = KeyedValue(events, "oom_kill");
      u.memory_max_hits = KeyedValue(events, "max");
      u.memory_peak = Number(memory_ / "memory.peak");
    } else {
      u.oom_kills = KeyedValue(ReadText(memory_ / "memory.oom_control"), "oom_kill");
      u.memory_peak = Number(memory_ / "memory.max_usage_in_bytes");
      u.memory_max_hits = Number(memory_ / "memory.failcnt");
    }
  }
  if (!pids_.empty()) {
    u.pids_max_hits = KeyedValue(ReadText(pids_ / "pids.events"), "max");
    u.pids_peak = Number(pids_ / "pids.peak");
  }
  return u;
}

void JobCgroup::KillAll() {
  if (version_ == 2 && !dirs_.empty() && WriteText(dirs_[0] / "cgroup.kill", "1", nullptr)) {
    // cgroup.kill is asynchronous: wait below for the folder to empty.
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    bool any = false;
    for (const fs::path& d : dirs_) {
      std::istringstream in(ReadText(d / "cgroup.procs"));
      long pid;
      while (in >> pid) {
        any = true;
        if (pid > 0) kill(static_cast<pid_t>(pid), SIGKILL);
      }
    }
    if (!any || std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

JobCgroup::~JobCgroup() {
  if (dirs_.empty()) return;
  KillAll();
  for (const fs::path& d : dirs_) {
    // rmdir fails with EBUSY while a killed process is still being reaped.
    for (int i = 0; i < 100 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace corral::sandbox
