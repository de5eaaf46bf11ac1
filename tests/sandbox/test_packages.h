// Small sdists and wheels for the sandbox tests, made here with libarchive
// so the tests depend on no other component. Each sdist carries a tiny
// in-tree PEP 517 backend (backend-path = ["_build"]) that writes a valid
// wheel (METADATA, WHEEL, RECORD) on Python 2.7..3.13 and PyPy.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace corral::sandbox::testing {

// A fresh folder under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// One archive entry; an empty `symlink_target` means a regular file.
struct Entry {
  Entry(std::string p, std::string c, std::string link = "", int m = 0644, long t = 1700000000)
      : path(std::move(p)), content(std::move(c)), symlink_target(std::move(link)), mode(m),
        mtime(t) {}
  std::string path;
  std::string content;
  std::string symlink_target;
  int mode = 0644;
  long mtime = 1700000000;
  std::string hardlink_target;  // when set: a hard link to this name (content ignored)
};

// A hard-link entry `path` -> `target`.
inline Entry HardLink(std::string path, std::string target) {
  Entry e(std::move(path), "");
  e.hardlink_target = std::move(target);
  return e;
}

// Writes a .tar.gz (a .zip when `path` ends with .zip, a .tar.bz2 when it
// ends with .bz2) holding `entries`
// verbatim (names are not checked: tests need hostile ones). Returns false
// with *err on I/O failure.
bool WriteArchive(const std::filesystem::path& path, const std::vector<Entry>& entries,
                  std::string* err);

// What a generated test package does.
// kCExtension compiles NAME/_speed.c with the interpreter's headers (cc,
// sysconfig), like the demo corpus. kNeedsBuildRequirement declares requires = ["demo_none"] and its backend
// imports demo_none while building.
enum class PackageKind {
  kPassing, kFailingTest, kImportError, kBuildError, kNoTests, kNeedsBuildRequirement, kCExtension
};

// Entries of an sdist "NAME-1.0/..." of the given kind, module `name`.
std::vector<Entry> SdistEntries(const std::string& name, PackageKind kind);

// Entries of a kNoTests sdist plus tests/test_NAME.py holding `test_source`.
std::vector<Entry> SdistWithTests(const std::string& name, const std::string& test_source);

}  // namespace corral::sandbox::testing
