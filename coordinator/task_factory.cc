#include "coordinator/task_factory.h"

#include "common/crypto.h"
#include "common/pep440.h"
#include "coordinator/records.h"

namespace corral::coordinator {

namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t p = s.find(sep, pos);
    out.push_back(s.substr(pos, p == std::string::npos ? std::string::npos : p - pos));
    if (p == std::string::npos) break;
    pos = p + 1;
  }
  return out;
}

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool PythonTagFits(const std::string& t, const PlatformTag& tag) {
  std::string mm = std::to_string(tag.major) + std::to_string(tag.minor);
  if (t == "py" + std::to_string(tag.major) || t == "py" + mm) return true;
  return t == tag.implementation + mm;
}

bool PlatformPartFits(const std::string& p, const PlatformTag& tag) {
  if (p == "any") return true;
  if (tag.os == "linux")
    return (StartsWith(p, "manylinux") || StartsWith(p, "musllinux") || StartsWith(p, "linux")) &&
           EndsWith(p, "_" + tag.arch);
  if (tag.os == "windows")
    return (tag.arch == "amd64" && p == "win_amd64") || (tag.arch == "arm64" && p == "win_arm64") ||
           (tag.arch == "win32" && p == "win32");
  if (tag.os == "macos")
    return StartsWith(p, "macosx") && (EndsWith(p, "_" + tag.arch) || EndsWith(p, "_universal2"));
  return false;
}

}  // namespace

std::string TaskId(const std::string& project, const std::string& version,
                   const std::string& file_sha256, const std::string& platform) {
  std::string material = project;
  material.push_back('\0');
  material += version;
  material.push_back('\0');
  material += file_sha256;
  material.push_back('\0');
  material += platform;
  return Sha256Hex(material);
}

bool WheelFits(const std::string& filename, const PlatformTag& tag) {
  if (!EndsWith(filename, ".whl")) return false;
  auto parts = Split(filename.substr(0, filename.size() - 4), '-');
  if (parts.size() != 5 && parts.size() != 6) return false;
  const std::string& py = parts[parts.size() - 3];
  const std::string& plat = parts[parts.size() - 1];
  bool py_ok = false, plat_ok = false;
  for (const auto& t : Split(py, '.')) py_ok = py_ok || PythonTagFits(t, tag);
  for (const auto& p : Split(plat, '.')) plat_ok = plat_ok || PlatformPartFits(p, tag);
  return py_ok && plat_ok;
}

const FileRecord* ChooseInput(const std::vector<FileRecord>& files, const PlatformTag& tag) {
  const FileRecord* sdist = nullptr;
  for (const auto& f : files) {
    if (f.kind != "sdist") continue;
    if (!sdist || (EndsWith(f.filename, ".tar.gz") && !EndsWith(sdist->filename, ".tar.gz")))
      sdist = &f;
  }
  if (sdist) return sdist;
  const FileRecord* best = nullptr;
  for (const auto& f : files) {
    if (f.kind != "wheel" || !WheelFits(f.filename, tag)) continue;
    // A wheel made for this exact interpreter beats a generic one.
    bool specific = f.filename.find("-" + tag.implementation) != std::string::npos;
    if (!best || (specific && best->filename.find("-" + tag.implementation) == std::string::npos))
      best = &f;
  }
  return best;
}

bool RequiresPythonExcludes(const std::string& requires_python, const PlatformTag& tag,
                            bool* excluded, std::string* evidence, std::string* err) {
  *excluded = false;
  if (requires_python.find_first_not_of(" \t") == std::string::npos) return true;
  bool contains = true;
  std::string python = tag.PythonVersion();
  if (!SpecifierContains(requires_python, python, &contains, err)) return false;
  *excluded = !contains;
  if (*excluded) *evidence = "Requires-Python " + requires_python + " excludes Python " + python;
  return true;
}

}  // namespace corral::coordinator
