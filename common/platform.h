// Where a result was obtained (DESIGN.md section 2). A platform's short form,
// its tag, follows PEP 425 so that people and pip read it the same way:
// "cp311-linux_x86_64", "pp39-linux_x86_64", "cp27-win_amd64".
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace corral {

// The parsed short form; what the scheduler matches tasks against.
struct PlatformTag {
  std::string implementation;  // "cp" (CPython) or "pp" (PyPy)
  int major = 0;               // 3
  int minor = 0;               // 11
  std::string os;              // "linux", "windows", "macos"
  std::string arch;            // "x86_64", "amd64", "arm64"

  // "cp311-linux_x86_64"
  std::string ToString() const;
  // "3.11"
  std::string PythonVersion() const;
  bool operator==(const PlatformTag&) const = default;
};

// Parses "cp311-linux_x86_64". On failure returns false and says in *err what
// was wrong and what a tag looks like.
bool ParsePlatformTag(std::string_view tag, PlatformTag* out, std::string* err);

// The exact platform a volunteer reports with each result: everything needed
// to reproduce the environment elsewhere.
struct Platform {
  std::string implementation;     // "cpython" or "pypy"
  std::string python_version;     // full: "3.11.7"
  std::string interpreter_build;  // sys.version on one line
  std::string interpreter_path;   // "/root/.pyenv/versions/3.11.7/bin/python"
  std::string os;                 // "linux"
  std::string arch;               // "x86_64"
  std::string libc;               // "glibc 2.36"
  std::string kernel;             // "6.1.0-18-amd64"
  bool has_headers = false;       // Python.h present (C extensions buildable)

  PlatformTag Tag() const;
};

void to_json(nlohmann::json& j, const PlatformTag& t);
void to_json(nlohmann::json& j, const Platform& p);
void from_json(const nlohmann::json& j, Platform& p);

}  // namespace corral
