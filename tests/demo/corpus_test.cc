#include "demo/corpus.h"

#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/archive_error.h"
#include "demo_test_util.h"

namespace fs = std::filesystem;
using corral::demo_test::ScratchDir;
using corral::demo_test::Slurp;

namespace {

// What a test needs to know of one sdist's entries.
struct TarEntry {
  std::string path;
  int type = 0;
  int64_t uid = -1, gid = -1, mtime = 0;
  std::string content;
};

// Reads a .tar.gz with libarchive, refusing anything that is not gzip + tar.
bool ReadTarGz(const fs::path& file, std::vector<TarEntry>* out, std::string* why) {
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
    *why = corral::ArchiveError(a);
    archive_read_free(a);
    return false;
  }
  archive_entry* e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    TarEntry t;
    t.path = archive_entry_pathname(e);
    t.type = archive_entry_filetype(e);
    t.uid = archive_entry_uid(e);
    t.gid = archive_entry_gid(e);
    t.mtime = archive_entry_mtime(e);
    char buf[8192];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) t.content.append(buf, n);
    out->push_back(t);
  }
  bool gzip = archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP;
  if (r != ARCHIVE_EOF) *why = corral::ArchiveError(a);
  if (!gzip) *why = "not gzip-compressed";
  archive_read_free(a);
  return r == ARCHIVE_EOF && gzip;
}

std::map<std::string, std::string> Fields(const std::string& pkg_info) {
  std::map<std::string, std::string> f;
  std::istringstream in(pkg_info);
  std::string line;
  while (std::getline(in, line) && !line.empty()) {
    size_t colon = line.find(": ");
    if (colon != std::string::npos) f[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return f;
}

corral::Platform MakePlatform(const std::string& impl, const std::string& version, bool headers) {
  corral::Platform p;
  p.implementation = impl;
  p.python_version = version;
  p.os = "linux";
  p.arch = "x86_64";
  p.has_headers = headers;
  return p;
}

const corral::ExpectedPackage& Find(const std::vector<corral::ExpectedPackage>& pkgs,
                                    const std::string& project) {
  for (const auto& p : pkgs)
    if (p.project == project) return p;
  FAIL("no package " << project << " in expected.json");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("every corpus sdist is a gzip tar under NAME-VERSION/ with right PKG-INFO") {
  ScratchDir dir;
  std::string err;
  REQUIRE(corral::WriteDemoCorpus(dir.path(), &err));
  std::vector<corral::ExpectedPackage> pkgs;
  REQUIRE(corral::LoadExpected(dir.path() / "expected.json", &pkgs, &err));
  REQUIRE(pkgs.size() == 19);  // 15 sdists, 4 wheel-only projects

  std::set<std::string> projects;
  for (const auto& pkg : pkgs) {
    INFO(pkg.file);
    projects.insert(pkg.project);
    if (pkg.file.size() > 4 && pkg.file.substr(pkg.file.size() - 4) == ".whl") continue;
    std::string stem = pkg.file.substr(0, pkg.file.size() - std::strlen(".tar.gz"));
    // PEP 625: normalised name with underscores, then the version.
    std::string dist = pkg.project;
    std::replace(dist.begin(), dist.end(), '-', '_');
    CHECK(stem == dist + "-" + pkg.version);

    std::vector<TarEntry> entries;
    std::string why;
    REQUIRE(ReadTarGz(dir.path() / pkg.file, &entries, &why));
    std::map<std::string, std::string> files;
    std::vector<std::string> order;
    for (const TarEntry& e : entries) {
      INFO(e.path);
      CHECK((e.path == stem + "/" || e.path.rfind(stem + "/", 0) == 0));
      CHECK(e.path.find("..") == std::string::npos);
      CHECK(e.uid == 0);
      CHECK(e.gid == 0);
      CHECK((e.type == AE_IFREG || e.type == AE_IFDIR));
      order.push_back(e.path);
      if (e.type == AE_IFREG) files[e.path.substr(stem.size() + 1)] = e.content;
    }
    CHECK(std::is_sorted(order.begin(), order.end()));
    CHECK(files.count("PKG-INFO") == 1);
    if (pkg.project == "corral-demo-setuppy") {
      // The classic shape: setup.py, no pyproject.toml (the PEP 517 fallback).
      CHECK(files.count("setup.py") == 1);
      CHECK(files.count("pyproject.toml") == 0);
      continue;
    }
    CHECK(files.count("_build/layout.json") == 1);
    // One project's backend comes from the index, as a wheel; the others carry it.
    bool in_tree = pkg.project != "corral-demo-wheelbackend";
    CHECK(files.count("_build/corral_demo_backend.py") == (in_tree ? 1u : 0u));

    auto fields = Fields(files["PKG-INFO"]);
    CHECK(fields["Metadata-Version"] == "2.1");
    CHECK(fields["Name"] == pkg.project);
    CHECK(fields["Version"] == pkg.version);
    CHECK(!fields["Summary"].empty());
    const std::string& pyproject = files["pyproject.toml"];
    CHECK(pyproject.find("build-backend = \"corral_demo_backend\"") != std::string::npos);
    CHECK((pyproject.find("backend-path = [\"_build\"]") != std::string::npos) == in_tree);
    CHECK(pyproject.find("name = \"" + pkg.project + "\"") != std::string::npos);
    if (pkg.project == "corral-demo-modern") {
      CHECK(fields["Requires-Python"] == ">=3.8");
      CHECK(pyproject.find("requires-python = \">=3.8\"") != std::string::npos);
    } else {
      CHECK(fields.count("Requires-Python") == 0);
    }
    bool has_tests = false;
    for (const auto& [path, _] : files)
      if (path.rfind("tests/test_", 0) == 0) has_tests = true;
    CHECK(has_tests == (pkg.project != "corral-demo-notests"));
    // The in-tree backend must stay importable by Python 2.7.
    if (in_tree) CHECK(files["_build/corral_demo_backend.py"].find("f\"") == std::string::npos);
  }
  CHECK(projects == std::set<std::string>{
                        "corral-demo-pure", "corral-demo-refcount", "corral-demo-broken-build",
                        "corral-demo-badimport", "corral-demo-modern", "corral-demo-notests",
                        "corral-demo-cext", "corral-demo-wheelbackend", "corral-demo-app",
                        "corral-demo-dynreq", "corral-demo-sdistdep", "corral-demo-missingtool",
                        "corral-demo-setuppy", "corral-demo-backend", "corral-demo-textlib",
                        "corral-demo-numlib", "corral-demo-flaky", "corral-demo-flakylib"});
}

TEST_CASE("the corpus is deterministic: two runs write byte-identical files") {
  ScratchDir a, b;
  std::string err;
  REQUIRE(corral::WriteDemoCorpus(a.path(), &err));
  REQUIRE(corral::WriteDemoCorpus(b.path(), &err));
  int compared = 0;
  for (const auto& entry : fs::directory_iterator(a.path())) {
    INFO(entry.path().filename().string());
    fs::path other = b.path() / entry.path().filename();
    REQUIRE(fs::exists(other));
    CHECK(Slurp(entry.path()) == Slurp(other));
    CHECK(fs::last_write_time(other) == fs::last_write_time(entry.path()));
    ++compared;
  }
  CHECK(compared == 20);  // 15 sdists, 4 wheels and expected.json
  // Rewriting over an existing corpus gives the same bytes again.
  std::string before = Slurp(a.path() / "corral_demo_cext-1.0.0.tar.gz");
  REQUIRE(corral::WriteDemoCorpus(a.path(), &err));
  CHECK(Slurp(a.path() / "corral_demo_cext-1.0.0.tar.gz") == before);
}

TEST_CASE("expected.json rules give each package's outcome per platform") {
  ScratchDir dir;
  std::string err;
  REQUIRE(corral::WriteDemoCorpus(dir.path(), &err));
  std::vector<corral::ExpectedPackage> pkgs;
  REQUIRE(corral::LoadExpected(dir.path(), &pkgs, &err));  // the folder works too

  auto cp312 = MakePlatform("cpython", "3.12.1", true);
  auto cp27 = MakePlatform("cpython", "2.7.18", true);
  auto cp37 = MakePlatform("cpython", "3.7.16", true);
  auto cp38 = MakePlatform("cpython", "3.8.18", true);
  auto debian311 = MakePlatform("cpython", "3.11.2", false);
  auto pypy39 = MakePlatform("pypy", "3.9.16", false);

  using corral::ExpectedOutcome;
  for (const auto* p : {&cp312, &cp27, &debian311, &pypy39}) {
    CHECK(ExpectedOutcome(Find(pkgs, "corral-demo-pure"), *p) == "passed");
    CHECK(ExpectedOutcome(Find(pkgs, "corral-demo-broken-build"), *p) == "build_failed");
    CHECK(ExpectedOutcome(Find(pkgs, "corral-demo-badimport"), *p) == "import_failed");
    CHECK(ExpectedOutcome(Find(pkgs, "corral-demo-notests"), *p) == "no_tests");
  }
  const auto& refcount = Find(pkgs, "corral-demo-refcount");
  CHECK(ExpectedOutcome(refcount, pypy39) == "tests_failed");
  CHECK(ExpectedOutcome(refcount, cp27) == "passed");
  const auto& modern = Find(pkgs, "corral-demo-modern");
  CHECK(ExpectedOutcome(modern, cp27) == "unsupported");
  CHECK(ExpectedOutcome(modern, cp37) == "unsupported");
  CHECK(ExpectedOutcome(modern, cp38) == "passed");
  CHECK(ExpectedOutcome(modern, pypy39) == "passed");
  const auto& cext = Find(pkgs, "corral-demo-cext");
  CHECK(ExpectedOutcome(cext, cp312) == "passed");
  CHECK(ExpectedOutcome(cext, cp27) == "passed");
  CHECK(ExpectedOutcome(cext, debian311) == "infra_error");
  CHECK(ExpectedOutcome(cext, pypy39) == "infra_error");

  // Both releases of corral-demo-pure are listed, for the versions x platforms matrix.
  int pure = 0;
  for (const auto& p : pkgs) pure += p.project == "corral-demo-pure";
  CHECK(pure == 2);
}

TEST_CASE("LoadExpected names what is wrong in a bad file") {
  ScratchDir dir;
  std::string err;
  std::vector<corral::ExpectedPackage> pkgs;
  auto write = [&](const nlohmann::json& j) {
    std::ofstream(dir.path() / "expected.json") << j.dump();
  };
  nlohmann::json base = {{"project", "x"}, {"version", "1"}, {"file", "x-1.tar.gz"},
                         {"behaviour", "b"}};

  nlohmann::json p = base;
  p["rules"] = {{{"outcome", "exploded"}}};
  write({{"packages", {p}}});
  CHECK_FALSE(corral::LoadExpected(dir.path(), &pkgs, &err));
  CHECK(err.find("exploded") != std::string::npos);

  p["rules"] = {{{"when", {{"os", "windows"}}}, {"outcome", "passed"}}};
  write({{"packages", {p}}});
  CHECK_FALSE(corral::LoadExpected(dir.path(), &pkgs, &err));
  CHECK(err.find("unknown condition \"os\"") != std::string::npos);

  p["rules"] = {{{"when", {{"python_below", "three"}}}, {"outcome", "passed"}}};
  write({{"packages", {p}}});
  CHECK_FALSE(corral::LoadExpected(dir.path(), &pkgs, &err));
  CHECK(err.find("python_below") != std::string::npos);

  write({{"packages", {base}}});
  CHECK_FALSE(corral::LoadExpected(dir.path(), &pkgs, &err));
  CHECK(err.find("rules") != std::string::npos);

  CHECK_FALSE(corral::LoadExpected(dir.path() / "missing.json", &pkgs, &err));
  CHECK(err.find("missing.json") != std::string::npos);
}

TEST_CASE("CopyBuildToolWheels copies the machine's bundled wheels, once each") {
  ScratchDir dir;
  std::string err;
  REQUIRE(corral::CopyBuildToolWheels(dir.path(), &err));
  std::set<std::string> copied;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    CHECK(e.path().extension() == ".whl");
    copied.insert(e.path().filename().string());
  }
  // Debian's wheels come first, byte for byte.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/python-wheels", ec)) {
    if (e.path().extension() != ".whl") continue;
    INFO(e.path());
    if (e.path().filename().string().rfind("setuptools-", 0) == 0) {
      CHECK(copied.count(e.path().filename().string()) == 0);  // Debian-patched: not served
      continue;
    }
    REQUIRE(copied.count(e.path().filename().string()) == 1);
    CHECK(Slurp(dir.path() / e.path().filename()) == Slurp(e.path()));
  }
  // Every pyenv ensurepip wheel is there by name.
  for (const auto& v : fs::directory_iterator("/root/.pyenv/versions", ec))
    for (const auto& l : fs::directory_iterator(v.path() / "lib", ec))
      for (const auto& w : fs::directory_iterator(l.path() / "ensurepip" / "_bundled", ec))
        if (w.path().extension() == ".whl")
          CHECK(copied.count(w.path().filename().string()) == 1);
  // A second call keeps what is there and adds nothing.
  REQUIRE(corral::CopyBuildToolWheels(dir.path(), &err));
  size_t again = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) again += e.is_regular_file();
  CHECK(again == copied.size());
}
