#include "sandbox/sandbox_policy.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "sandbox/interpreters.h"
#include "sandbox/runner_script.h"
#include "sandbox/sandbox.h"

namespace corral::sandbox {

namespace {

bool UnderUsr(const std::string& p) { return p == "/usr" || p.rfind("/usr/", 0) == 0; }

}  // namespace

std::map<std::string, std::string> SandboxEnvironment() {
  return {
      {"PATH", "/job/env/bin:/usr/local/bin:/usr/bin:/bin"},
      {"HOME", "/job/home"},
      {"USER", "corral"},
      {"LOGNAME", "corral"},
      {"TMPDIR", "/tmp"},
      {"SOURCE_DATE_EPOCH", "315532800"},
      {"PYTHONHASHSEED", "0"},
      {"PYTHONUNBUFFERED", "1"},
      {"PYTHONNOUSERSITE", "1"},
      {"TZ", "UTC"},
      {"LC_ALL", "C.UTF-8"},
      {"LANG", "C.UTF-8"},
      {"PIP_NO_INDEX", "1"},
      {"PIP_NO_INPUT", "1"},
      {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
      {"VIRTUALENV_OVERRIDE_APP_DATA", "/job/home/.virtualenv"},
  };
}

bool WriteFile(const std::filesystem::path& path, const std::string& data, std::string* err) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    *err = "cannot write " + path.string();
    return false;
  }
  return true;
}

bool ReadFileCapped(const std::filesystem::path& path, size_t max_bytes, std::string* out,
                    std::string* err) {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    *err = "cannot read " + path.string() + ": " + ec.message();
    return false;
  }
  if (size > max_bytes) {
    *err = path.string() + " is " + std::to_string(size) + " bytes, over the cap of " +
           std::to_string(max_bytes);
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  out->assign(size, '\0');
  if (!in.read(out->data(), static_cast<std::streamsize>(size))) {
    *err = "cannot read " + path.string();
    return false;
  }
  return true;
}

std::vector<std::string> RunnerCommand(const Platform& platform) {
  return {platform.interpreter_path, "-s", "/job/.corral/runner.py", "/job/.corral/job.json"};
}

bool PrepareSandboxDir(const std::filesystem::path& job_dir, const Platform& platform,
                       const std::filesystem::path& wheelhouse, const nlohmann::json& job_json,
                       SandboxPolicy* policy, std::string* err) {
  InterpreterLayout layout;
  if (!InterpreterLayoutOf(platform.interpreter_path, &layout, err)) return false;
  std::error_code ec;
  std::filesystem::path corral = job_dir / ".corral";
  for (const auto& d : {job_dir / "home", corral, corral / "etc"}) {
    std::filesystem::create_directories(d, ec);
    if (ec) {
      *err = "cannot create " + d.string() + ": " + ec.message();
      return false;
    }
  }
  if (!WriteFile(corral / "runner.py", kRunnerPy, err) ||
      !WriteFile(corral / "job.json", job_json.dump(1), err) ||
      !WriteFile(corral / "etc" / "passwd",
                 "root:x:0:0:corral:/job/home:/bin/sh\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                 err) ||
      !WriteFile(corral / "etc" / "group", "root:x:0:\nnogroup:x:65534:\n", err) ||
      !WriteFile(corral / "etc" / "hosts", "127.0.0.1 localhost corral-sandbox\n::1 localhost\n",
                 err))
    return false;

  *policy = SandboxPolicy{};
  policy->job_dir = job_dir;
  policy->env = SandboxEnvironment();
  // The interpreter's own folders, read-only. Never a home folder as a whole.
  std::vector<std::string> prefixes = {layout.base_prefix, layout.base_exec_prefix,
                                       std::filesystem::path(layout.executable).parent_path()
                                           .parent_path().string()};
  for (const std::string& p : prefixes) {
    if (p.empty() || UnderUsr(p)) continue;
    if (p == "/" || p == "/root" || p == "/home" || p == "/etc") {
      *err = "interpreter " + platform.interpreter_path + " lives in " + p +
             ", which the sandbox will not expose as a whole; install it under its own prefix "
             "(e.g. with pyenv)";
      return false;
    }
    bool covered = false;
    for (const std::string& q : policy->ro_paths)
      if (p == q || p.rfind(q + "/", 0) == 0) covered = true;
    if (!covered) policy->ro_paths.push_back(p);
  }
  policy->ro_binds[(corral).string()] = "/job/.corral";
  policy->ro_binds[(corral / "etc" / "passwd").string()] = "/etc/passwd";
  policy->ro_binds[(corral / "etc" / "group").string()] = "/etc/group";
  policy->ro_binds[(corral / "etc" / "hosts").string()] = "/etc/hosts";
  if (!wheelhouse.empty() && std::filesystem::is_directory(wheelhouse, ec))
    policy->ro_binds[std::filesystem::absolute(wheelhouse).string()] = "/wheelhouse";
  return true;
}

}  // namespace corral::sandbox
