#include "sandbox/interpreters.h"

#include <glob.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <system_error>

#include "sandbox/bwrap_runner.h"

namespace corral::sandbox {

namespace {

// Runs on 2.7..3.13 and PyPy; prints one JSON line.
constexpr const char kProbe[] = R"PY(
import sys, os, json, platform
try:
    import sysconfig
    inc = sysconfig.get_paths().get("include") or ""
except Exception:
    inc = ""
v = sys.version_info
ver = "%d.%d.%d" % (v[0], v[1], v[2])
if v[3] != "final":
    ver += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v[3], v[3]) + str(v[4])
libc = ""
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except Exception:
    pass
if not libc:
    lv = platform.libc_ver()
    if lv[0]:
        libc = "%s %s" % lv
u = os.uname()
def has(mod):
    try:
        import importlib.util
        return importlib.util.find_spec(mod) is not None
    except ImportError:
        import imp
        try:
            imp.find_module(mod)
            return True
        except ImportError:
            return False
bp = getattr(sys, "base_prefix", None) or getattr(sys, "real_prefix", None) or sys.prefix
bep = getattr(sys, "base_exec_prefix", None) or getattr(sys, "real_prefix", None) or sys.exec_prefix
print(json.dumps({
  "implementation": platform.python_implementation().lower(),
  "version": ver, "major": v[0],
  "build": " ".join(sys.version.split()),
  "executable": sys.executable,
  "include": inc, "has_headers": os.path.isfile(os.path.join(inc, "Python.h")) if inc else False,
  "os": "linux" if sys.platform.startswith("linux") else sys.platform,
  "arch": u[4], "kernel": u[2], "libc": libc,
  "base_prefix": bp, "base_exec_prefix": bep,
  "venv": has("venv"), "ensurepip": has("ensurepip"),
}))
)PY";

struct Probed {
  Platform platform;
  InterpreterLayout layout;
};

std::mutex g_cache_mu;
std::map<std::string, Probed>* g_cache = new std::map<std::string, Probed>();

std::string RealPath(const std::string& p) {
  std::error_code ec;
  auto r = std::filesystem::canonical(p, ec);
  return ec ? p : r.string();
}

bool Probe(const std::string& path, Probed* out, std::string* err) {
  {
    std::lock_guard<std::mutex> lock(g_cache_mu);
    auto it = g_cache->find(path);
    if (it != g_cache->end()) {
      *out = it->second;
      return true;
    }
  }
  if (access(path.c_str(), X_OK) != 0) {
    *err = "interpreter " + path + " does not exist or is not executable";
    return false;
  }
  RunLimits limits;
  limits.timeout_s = 30;
  limits.no_output_timeout_s = 0;
  limits.max_log_bytes = 65536;
  limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
  RunExit exit;
  // HOME and PYENV_ROOT let a pyenv shim find its versions; nothing else leaks in.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C.UTF-8"};
  if (const char* home = std::getenv("HOME")) env.push_back(std::string("HOME=") + home);
  if (const char* root = std::getenv("PYENV_ROOT")) env.push_back(std::string("PYENV_ROOT=") + root);
  if (!RunProcess({path, "-E", "-s", "-c", kProbe}, env, limits, -1, &exit, err)) return false;
  if (exit.exit_code != 0 || exit.wall_timeout) {
    std::string tail = exit.log.substr(exit.log.size() > 300 ? exit.log.size() - 300 : 0);
    *err = "interpreter " + path + " failed the probe (exit " + std::to_string(exit.exit_code) +
           (exit.wall_timeout ? ", timed out" : "") + "): " + tail;
    return false;
  }
  size_t brace = exit.log.rfind("\n{");
  std::string line = exit.log.substr(brace == std::string::npos ? exit.log.find('{') : brace + 1);
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *err = "interpreter " + path + " printed an unreadable probe answer: " + exit.log.substr(0, 300);
    return false;
  }
  Probed p;
  Platform& pl = p.platform;
  pl.implementation = j.value("implementation", "");
  pl.python_version = j.value("version", "");
  pl.interpreter_build = j.value("build", "");
  std::string exe = j.value("executable", "");
  // A shim (shell script) cannot run inside the sandbox: report the binary.
  pl.interpreter_path = (!exe.empty() && RealPath(exe) != RealPath(path)) ? exe : path;
  pl.os = j.value("os", "");
  pl.arch = j.value("arch", "");
  pl.libc = j.value("libc", "");
  pl.kernel = j.value("kernel", "");
  pl.has_headers = j.value("has_headers", false);
  p.layout.executable = RealPath(pl.interpreter_path);
  p.layout.base_prefix = j.value("base_prefix", "");
  p.layout.base_exec_prefix = j.value("base_exec_prefix", "");
  int major = j.value("major", 0);
  if (pl.implementation != "cpython" && pl.implementation != "pypy") {
    p.layout.why_not = "implementation '" + pl.implementation + "' is not supported (CPython, PyPy)";
  } else if (major == 2) {
    if (!j.value("ensurepip", false))
      p.layout.why_not = "Python " + pl.python_version + " has no ensurepip module";
    else if (HostVirtualenvPython().empty())
      p.layout.why_not = "Python 2 environments need the host's virtualenv: apt-get install "
                         "python3-virtualenv";
  } else if (!j.value("venv", false) || !j.value("ensurepip", false)) {
    p.layout.why_not = "Python " + pl.python_version + " at " + pl.interpreter_path +
                       " lacks the venv/ensurepip modules (on Debian: apt-get install python3-venv"
                       " or pypy3-venv)";
  }
  p.layout.can_make_env = p.layout.why_not.empty();
  {
    std::lock_guard<std::mutex> lock(g_cache_mu);
    (*g_cache)[path] = p;
  }
  *out = p;
  return true;
}

void GlobInto(const std::string& pattern, std::vector<std::string>* out) {
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out->emplace_back(g.gl_pathv[i]);
  globfree(&g);
}

bool IsPythonXY(const std::string& path, const char* prefix) {
  std::string name = std::filesystem::path(path).filename().string();
  std::string pre = prefix;
  if (name.compare(0, pre.size(), pre) != 0 || name.size() == pre.size()) return false;
  for (size_t i = pre.size(); i < name.size(); ++i)
    if (!isdigit(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

}  // namespace

std::string HostVirtualenvPython() {
  static std::once_flag once;
  static std::string found;
  std::call_once(once, [] {
    for (const char* py : {"/usr/bin/python3"}) {
      if (access(py, X_OK) != 0) continue;
      RunLimits limits;
      limits.timeout_s = 30;
      limits.rlimits = ResourceLimits{0, 0, 0, 0, 0};
      RunExit exit;
      std::string err;
      if (RunProcess({py, "-E", "-s", "-c", "import virtualenv"}, {"PATH=/usr/bin:/bin"}, limits,
                     -1, &exit, &err) &&
          exit.exit_code == 0)
        found = py;
    }
  });
  return found;
}

bool ProbeInterpreter(const std::string& path, Platform* out, std::string* err) {
  Probed p;
  if (!Probe(path, &p, err)) return false;
  *out = p.platform;
  return true;
}

bool InterpreterLayoutOf(const std::string& path, InterpreterLayout* layout, std::string* err) {
  Probed p;
  if (!Probe(path, &p, err)) return false;
  *layout = p.layout;
  return true;
}

std::vector<Platform> DiscoverInterpreters(std::vector<std::string>* notes) {
  std::vector<std::string> candidates;
  std::vector<std::string> roots = {"/root/.pyenv"};
  if (const char* r = std::getenv("PYENV_ROOT")) roots.insert(roots.begin(), r);
  for (const std::string& root : roots) GlobInto(root + "/versions/*/bin/python", &candidates);
  if (access("/usr/bin/python2.7", X_OK) == 0) candidates.push_back("/usr/bin/python2.7");
  {
    std::vector<std::string> usr;
    GlobInto("/usr/bin/python3.*", &usr);
    for (const auto& p : usr)
      if (IsPythonXY(p, "python3.")) candidates.push_back(p);
  }
  if (access("/usr/bin/pypy3", X_OK) == 0) candidates.push_back("/usr/bin/pypy3");
  if (const char* path_env = std::getenv("PATH")) {
    std::stringstream ss(path_env);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
      if (dir.empty()) continue;
      for (const char* name : {"python3", "pypy3"}) {
        std::string p = dir + "/" + name;
        if (access(p.c_str(), X_OK) == 0) candidates.push_back(p);
      }
    }
  }
  std::vector<Platform> found;
  std::set<std::string> seen_real, seen_candidates;
  std::set<std::tuple<std::string, std::string, std::string>> seen_ident;
  for (const std::string& c : candidates) {
    if (!seen_candidates.insert(c).second) continue;
    Probed p;
    std::string err;
    if (!Probe(c, &p, &err)) {
      if (notes) notes->push_back(err);
      continue;
    }
    if (!seen_real.insert(p.layout.executable).second) continue;
    auto ident = std::make_tuple(p.platform.implementation, p.platform.python_version,
                                 p.platform.interpreter_path);
    if (!seen_ident.insert(ident).second) continue;
    if (!p.layout.can_make_env) {
      if (notes) notes->push_back("skipping " + p.platform.interpreter_path + ": " + p.layout.why_not);
      continue;
    }
    found.push_back(p.platform);
  }
  return found;
}

}  // namespace corral::sandbox
