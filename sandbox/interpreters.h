// Finding the Python interpreters of this machine (DESIGN.md section 5: the
// daemon offers one platform per interpreter). Each candidate is run once
// with a tiny probe script, so what we report is what the interpreter says
// about itself, not what its file name suggests.
#pragma once

#include <string>
#include <vector>

#include "common/platform.h"

namespace corral::sandbox {

// Finds every Python on the machine: pyenv ($PYENV_ROOT and
// /root/.pyenv/versions/*/bin/python), /usr/bin/python2.7, /usr/bin/python3.X,
// /usr/bin/pypy3, and `python3`/`pypy3` on PATH. Candidates are deduplicated
// by the real path of the interpreter binary (a pyenv shim and the binary it
// runs count once) and by (implementation, full version, path). Interpreters
// that cannot run jobs (probe fails, no venv/ensurepip, Python 2 without the
// host's virtualenv) are not returned; each gets one line in *notes (may be
// null) saying why and what to install. Thread-safe; takes ~0.1 s per
// candidate.
std::vector<Platform> DiscoverInterpreters(std::vector<std::string>* notes);

// Runs `path` with the probe script (works on 2.7..3.13 and PyPy) and fills
// *out: implementation, full version, sys.version on one line, the real
// interpreter path (a shim's target), has_headers (Python.h in sysconfig's
// include dir), os, arch, libc ("glibc 2.36") and kernel release. On failure
// returns false and *err says which interpreter and what went wrong.
bool ProbeInterpreter(const std::string& path, Platform* out, std::string* err);

// What the sandbox needs beyond Platform to run an interpreter: the folders
// it lives in (bound read-only into the sandbox) and whether it can make a
// virtual environment at all.
struct InterpreterLayout {
  std::string executable;   // real path of the binary
  std::string base_prefix;  // sys.base_prefix (sys.real_prefix / sys.prefix on 2.7)
  std::string base_exec_prefix;
  bool can_make_env = false;  // venv+ensurepip (3.x) or ensurepip + host virtualenv (2.x)
  std::string why_not;        // when !can_make_env: what is missing, what to install
};

// Probes `path` (cached per path for the life of the process) and fills
// *layout. Same errors as ProbeInterpreter.
bool InterpreterLayoutOf(const std::string& path, InterpreterLayout* layout, std::string* err);

// The host interpreter that runs `python3 -m virtualenv` for Python 2
// environments; empty when the host has no virtualenv module.
std::string HostVirtualenvPython();

}  // namespace corral::sandbox
