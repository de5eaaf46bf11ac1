// What the wheel index checks need to act like a user: a fresh virtual
// environment per interpreter, and pip installing into it from one index
// only, with nothing of the machine's pip configuration (PIP_FIND_LINKS and
// the like) in the way. Works offline: the venv module's own pip (Python 3,
// PyPy), or for Python 2.7 Debian's virtualenv without seed packages plus the
// interpreter's ensurepip.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/platform.h"

namespace corral {

// Runs argv (argv[0] an absolute path) with the environment minus PIP_*,
// PYTHONPATH, PYTHONHOME and VIRTUAL_ENV, appending stdout and stderr to
// `log` under a header line naming the command. Returns the exit status;
// -1 when it could not be started; 124 when it ran past timeout_s and was
// killed.
int RunLogged(const std::vector<std::string>& argv, const std::filesystem::path& log,
              int timeout_s = 300);

struct Venv {
  std::filesystem::path dir, python;  // python: dir/bin/python
  std::string how;                    // "venv" or "virtualenv + ensurepip"
};

// Creates a fresh virtual environment for the platform's interpreter in
// `dir` (removed first), with pip in it. False with *err when neither way
// works here.
bool MakeVenv(const Platform& platform, const std::filesystem::path& dir,
              const std::filesystem::path& log, Venv* out, std::string* err);

// `pip install` of `requirements` into the venv from `index_url` alone (no
// cache, no other index, no find-links). Returns pip's exit status.
int PipInstall(const Venv& venv, const std::string& index_url,
               const std::vector<std::string>& requirements, const std::filesystem::path& log);

// Runs `code` with the venv's python; returns its exit status.
int RunPython(const Venv& venv, const std::string& code, const std::filesystem::path& log);

// The last `bytes` of a file, for failure messages.
std::string FileTail(const std::filesystem::path& file, size_t bytes = 3000);

}  // namespace corral
