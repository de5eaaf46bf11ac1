// Virtual environment templates (DESIGN.md section 5). Creating a venv with
// pip costs 3-8 s. So each interpreter gets one template in the volunteer's
// cache, created once inside the sandbox at the very path jobs use (/job/env,
// keeping the absolute paths in scripts and pyvenv.cfg valid). A job's own
// environment is then a thin one (MakeThinEnv): the template's pyvenv.cfg and
// bin/ (and for Python 2's virtualenv its site.py, os.py and stdlib links),
// and an empty site-packages whose .pth file puts the template's
// site-packages (pip, bound read-only into the sandbox) on sys.path after it.
#pragma once

#include <filesystem>
#include <string>

#include "common/platform.h"

namespace corral::sandbox {

// Where a template is and whether this call made it.
struct TemplateInfo {
  std::filesystem::path env;  // <cache>/venv-templates/<key>/env
  bool created = false;
  double seconds = 0;         // creation time when created
  std::string log;            // creation log when created or failed
};

// Returns the template for `platform`'s interpreter, creating it when absent.
// Concurrent callers (threads or processes) serialise on a lock file per
// template and the finished template appears by an atomic rename, so nobody
// sees a half-made one. False with *err (an infra_error: the machine's fault)
// when the interpreter cannot make an environment; *err says what to install.
bool EnsureVenvTemplate(const Platform& platform, const std::filesystem::path& cache_dir,
                        TemplateInfo* info, std::string* err);

// Makes `to` a thin environment over `tmpl` (a venv, or virtualenv's layout
// for Python 2): everything of the template but its site-packages, copied as
// it is (symlinks as symlinks), and an empty lib/<python>/site-packages
// holding `_corral_template.pth`, which names
// `tmpl_seen_at`'s site-packages: where the sandbox sees the template. What
// pip installs goes into the thin environment; the template is never written.
// False with *err when the template is not a venv of that shape (the caller
// copies it whole then).
bool MakeThinEnv(const std::filesystem::path& tmpl, const std::filesystem::path& tmpl_seen_at,
                 const std::filesystem::path& to, std::string* err);

// The template's folder name: implementation, version and a hash of the
// interpreter's path and build, so an upgraded interpreter gets a new one.
std::string VenvTemplateKey(const Platform& platform);

}  // namespace corral::sandbox
