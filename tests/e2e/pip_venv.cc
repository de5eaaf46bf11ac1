#include "tests/e2e/pip_venv.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace corral {

namespace fs = std::filesystem;

namespace {

bool Dropped(const char* entry) {
  for (const char* prefix : {"PIP_", "PYTHONPATH=", "PYTHONHOME=", "VIRTUAL_ENV="})
    if (std::strncmp(entry, prefix, std::strlen(prefix)) == 0) return true;
  return false;
}

}  // namespace

int RunLogged(const std::vector<std::string>& argv, const fs::path& log, int timeout_s) {
  {
    std::ofstream out(log, std::ios::app);
    out << "\n$";
    for (const auto& a : argv) out << " " << a;
    out << "\n";
  }
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (!Dropped(*e)) env.push_back(*e);
  env.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      std::ofstream(log, std::ios::app) << "(killed after " << timeout_s << " s)\n";
      return 124;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool MakeVenv(const Platform& platform, const fs::path& dir, const fs::path& log, Venv* out,
              std::string* err) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  Venv v;
  v.dir = dir;
  v.python = dir / "bin" / "python";
  const std::string& py = platform.interpreter_path;
  // Python 3 and PyPy: the venv module, whose ensurepip needs no network.
  if (RunLogged({py, "-m", "venv", dir.string()}, log, 120) == 0 &&
      RunLogged({v.python.string(), "-m", "pip", "--version"}, log, 60) == 0) {
    v.how = "venv";
    *out = v;
    return true;
  }
  // Python 2.7 has no venv module: Debian's virtualenv makes the environment
  // without seeding it (it would download), the interpreter's own ensurepip
  // puts its bundled pip in.
  fs::remove_all(dir, ec);
  if (fs::exists("/usr/bin/python3") &&
      RunLogged({"/usr/bin/python3", "-m", "virtualenv", "--no-seed", "-p", py, dir.string()}, log, 120) == 0 &&
      RunLogged({v.python.string(), "-m", "ensurepip"}, log, 120) == 0 &&
      RunLogged({v.python.string(), "-m", "pip", "--version"}, log, 60) == 0) {
    v.how = "virtualenv + ensurepip";
    *out = v;
    return true;
  }
  *err = "cannot make a virtual environment for " + py + ":\n" + FileTail(log, 1500);
  return false;
}

int PipInstall(const Venv& venv, const std::string& index_url, const std::vector<std::string>& requirements,
               const fs::path& log) {
  std::vector<std::string> argv = {venv.python.string(), "-m", "pip", "install", "--isolated",
                                   "--no-cache-dir", "--disable-pip-version-check", "--no-input",
                                   "--timeout", "30", "--retries", "0", "--index-url", index_url};
  argv.insert(argv.end(), requirements.begin(), requirements.end());
  return RunLogged(argv, log, 300);
}

int RunPython(const Venv& venv, const std::string& code, const fs::path& log) {
  return RunLogged({venv.python.string(), "-c", code}, log, 60);
}

std::string FileTail(const fs::path& file, size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace corral
