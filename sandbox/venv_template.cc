#include "sandbox/venv_template.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/crypto.h"
#include "sandbox/bwrap_runner.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox_policy.h"
#include "sandbox/seccomp_filter.h"

namespace corral::sandbox {

namespace {

// Bump when the template's content or creation changes.
constexpr const char kTemplateFormat[] = "corral-venv-template-1";

// An flock'ed file, released on destruction.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path)
      : fd_(open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644)) {
    if (fd_ >= 0)
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~FileLock() {
    if (fd_ >= 0) close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool Ready(const std::filesystem::path& env) {
  std::error_code ec;
  return std::filesystem::exists(env / "bin" / "python", ec) &&
         std::filesystem::exists(env / "pyvenv.cfg", ec);
}

}  // namespace

std::string VenvTemplateKey(const Platform& platform) {
  InterpreterLayout layout;
  std::string err;
  std::string real = InterpreterLayoutOf(platform.interpreter_path, &layout, &err)
                         ? layout.executable
                         : platform.interpreter_path;
  InitCrypto();
  std::string h = Sha256Hex(std::string(kTemplateFormat) + "\n" + real + "\n" +
                            platform.interpreter_build);
  return platform.implementation + "-" + platform.python_version + "-" + h.substr(0, 16);
}

bool EnsureVenvTemplate(const Platform& platform, const std::filesystem::path& cache_dir,
                        TemplateInfo* info, std::string* err) {
  *info = TemplateInfo{};
  InterpreterLayout layout;
  if (!InterpreterLayoutOf(platform.interpreter_path, &layout, err)) return false;
  if (!layout.can_make_env) {
    *err = "cannot create environments with " + platform.interpreter_path + ": " + layout.why_not;
    return false;
  }
  std::error_code ec;
  std::filesystem::path dir = cache_dir / "venv-templates";
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *err = "cannot create the template cache " + dir.string() + ": " + ec.message();
    return false;
  }
  std::string key = VenvTemplateKey(platform);
  std::filesystem::path final_dir = dir / key;
  info->env = final_dir / "env";
  if (Ready(info->env)) return true;

  FileLock lock(dir / (key + ".lock"));
  if (!lock.ok()) {
    *err = "cannot lock " + (dir / (key + ".lock")).string() + ": " + std::strerror(errno);
    return false;
  }
  if (Ready(info->env)) return true;  // another job made it while we waited
  std::filesystem::remove_all(final_dir, ec);  // a broken leftover

  auto t0 = std::chrono::steady_clock::now();
  std::filesystem::path staging = dir / (key + ".tmp-" + RandomHex(6));
  std::filesystem::create_directories(staging, ec);
  nlohmann::json job = {{"mode", "mkenv"},
                        {"python", platform.interpreter_path},
                        {"major", platform.Tag().major},
                        {"virtualenv_python", HostVirtualenvPython()}};
  SandboxPolicy policy;
  if (!PrepareSandboxDir(staging, platform, "", job, &policy, err)) {
    std::filesystem::remove_all(staging, ec);
    return false;
  }
  RunLimits limits;
  limits.timeout_s = 300;
  limits.no_output_timeout_s = 120;
  limits.max_log_bytes = 256 << 10;
  limits.rlimits.cpu_seconds = 600;
  // The same seccomp deny-list as jobs; without it the template is still made.
  SeccompFilterFd seccomp;
  std::string seccomp_err;
  if (seccomp.Build(&seccomp_err)) policy.seccomp_fd = seccomp.fd();
  RunExit exit;
  if (!RunSandboxed(policy, RunnerCommand(platform), limits, &exit, err)) {
    std::filesystem::remove_all(staging, ec);
    return false;
  }
  info->log = seccomp_err.empty() ? exit.log : seccomp_err + "\n" + exit.log;
  std::string result_text, read_err;
  nlohmann::json result;
  if (ReadFileCapped(staging / "result.json", 1 << 20, &result_text, &read_err))
    result = nlohmann::json::parse(result_text, nullptr, false);
  bool ok = result.is_object() && result.value("outcome", nlohmann::json()).is_null() &&
            Ready(staging / "env");
  if (!ok) {
    std::string why = result.is_object() && result.contains("summary") &&
                              result["summary"].is_string()
                          ? result["summary"].get<std::string>()
                          : "the sandbox exited with status " + std::to_string(exit.exit_code) +
                                (exit.wall_timeout || exit.quiet_timeout ? " (timed out)" : "");
    std::string tail = exit.log.substr(exit.log.size() > 600 ? exit.log.size() - 600 : 0);
    *err = "creating the virtual environment template for " + platform.interpreter_path +
           " failed: " + why + "\n" + tail;
    std::filesystem::remove_all(staging, ec);
    return false;
  }
  std::filesystem::rename(staging, final_dir, ec);
  if (ec) {
    *err = "cannot move the new template to " + final_dir.string() + ": " + ec.message();
    std::filesystem::remove_all(staging, ec);
    return false;
  }
  info->created = true;
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

bool MakeThinEnv(const std::filesystem::path& tmpl, const std::filesystem::path& tmpl_seen_at,
                 const std::filesystem::path& to, std::string* err) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(tmpl / "pyvenv.cfg", ec) || !fs::is_directory(tmpl / "bin", ec)) {
    *err = tmpl.string() + " has no pyvenv.cfg and bin/: not a venv";
    return false;
  }
  // lib/<python>/site-packages: exactly one <python> (python3.12, pypy3.9).
  fs::path site_rel;
  for (const auto& e : fs::directory_iterator(tmpl / "lib", ec)) {
    if (fs::is_directory(e.path() / "site-packages", ec)) {
      if (!site_rel.empty()) {
        *err = tmpl.string() + "/lib has more than one site-packages";
        return false;
      }
      site_rel = fs::path("lib") / e.path().filename() / "site-packages";
    }
  }
  if (site_rel.empty()) {
    *err = tmpl.string() + "/lib/*/site-packages is missing";
    return false;
  }
  // Everything but site-packages, as it is (symlinks stay symlinks): bin/,
  // pyvenv.cfg, lib64, include, and Python 2 virtualenv's own site.py, os.py
  // and stdlib links beside site-packages.
  const auto opts = fs::copy_options::recursive | fs::copy_options::copy_symlinks;
  fs::create_directories(to / site_rel, ec);
  for (const auto& e : fs::directory_iterator(tmpl, ec)) {
    if (ec || e.path().filename() == "lib") continue;
    fs::copy(e.path(), to / e.path().filename(), opts, ec);
    if (ec) break;
  }
  if (!ec) {
    for (const auto& e : fs::directory_iterator(tmpl / site_rel.parent_path(), ec)) {
      if (ec || e.path().filename() == "site-packages") continue;
      fs::copy(e.path(), to / site_rel.parent_path() / e.path().filename(), opts, ec);
      if (ec) break;
    }
  }
  if (ec) {
    *err = "cannot make a thin environment in " + to.string() + " from " + tmpl.string() + ": " +
           ec.message();
    return false;
  }
  // A scratch file of the job: no fsync.
  std::ofstream pth(to / site_rel / "_corral_template.pth");
  pth << (tmpl_seen_at / site_rel).string() << "\n";
  pth.close();
  if (!pth) {
    *err = "cannot write " + (to / site_rel / "_corral_template.pth").string();
    return false;
  }
  return true;
}

}  // namespace corral::sandbox
