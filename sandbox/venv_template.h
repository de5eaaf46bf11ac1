// Virtual environment templates (DESIGN.md section 5). Creating a venv with
// pip costs 3-8 s; copying one costs ~50 ms. So each interpreter gets one
// template in the volunteer's cache, created once inside the sandbox at the
// very path jobs use (/job/env, keeping the absolute paths in scripts and
// pyvenv.cfg valid), then copied into each job's folder.
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

// The template's folder name: implementation, version and a hash of the
// interpreter's path and build, so an upgraded interpreter gets a new one.
std::string VenvTemplateKey(const Platform& platform);

}  // namespace corral::sandbox
