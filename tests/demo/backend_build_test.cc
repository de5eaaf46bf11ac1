// Builds corpus sdists for real with the in-tree backend and the machine's
// interpreters: the corpus is only worth something if its packages behave
// as expected.json says.
#include <catch2/catch.hpp>

#include "demo/corpus.h"
#include "demo_test_util.h"

namespace fs = std::filesystem;
using corral::demo_test::RunShell;
using corral::demo_test::ScratchDir;

namespace {

constexpr const char* kPy312 = "/root/.pyenv/versions/3.12.1/bin/python";
constexpr const char* kPy27 = "/root/.pyenv/versions/2.7.18/bin/python";
constexpr const char* kDebianPy311 = "/usr/bin/python3.11";

// Unpacks `sdist` from the corpus into `work` and runs the backend's
// build_wheel with `python`, in a cleared environment. Returns the exit
// status; *output holds what the build printed.
int BuildWheel(const fs::path& corpus, const std::string& stem, const std::string& python,
               const fs::path& work, std::string* output) {
  std::string out;
  int rc = RunShell("tar xzf '" + (corpus / (stem + ".tar.gz")).string() + "' -C '" +
                        work.string() + "'",
                    &out);
  if (rc != 0) {
    *output = out;
    return rc;
  }
  return RunShell("cd '" + (work / stem).string() +
                      "' && env -i PATH=/usr/bin:/bin SOURCE_DATE_EPOCH=1709287200 '" + python +
                      "' -c 'import sys; sys.path.insert(0, \"_build\"); "
                      "import corral_demo_backend as b; print(b.build_wheel(sys.argv[1]))' '" +
                      (work / "wheels").string() + "'",
                  output);
}

std::vector<std::string> Wheels(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".whl") names.push_back(e.path().filename().string());
  return names;
}

bool Have(const char* python) {
  if (fs::exists(python)) return true;
  WARN(python << " is not installed here; this check needs it");
  return false;
}

}  // namespace

TEST_CASE("the pure and C extension sdists build wheels on CPython 3.12 and 2.7") {
  ScratchDir corpus;
  std::string err;
  REQUIRE(corral::WriteDemoCorpus(corpus.path(), &err));
  // One interpreter building one sdist, and the wheel it must produce.
  struct Case {
    const char* python;
    const char* stem;
    const char* wheel;
  };
  for (const Case& c : {Case{kPy312, "corral_demo_pure-1.0.0",
                             "corral_demo_pure-1.0.0-py2.py3-none-any.whl"},
                        Case{kPy27, "corral_demo_pure-1.0.0",
                             "corral_demo_pure-1.0.0-py2.py3-none-any.whl"},
                        Case{kPy312, "corral_demo_cext-1.0.0",
                             "corral_demo_cext-1.0.0-cp312-cp312-linux_x86_64.whl"},
                        Case{kPy27, "corral_demo_cext-1.0.0",
                             "corral_demo_cext-1.0.0-cp27-cp27mu-linux_x86_64.whl"}}) {
    if (!Have(c.python)) continue;
    INFO(c.python << " building " << c.stem);
    ScratchDir work;
    std::string output;
    int rc = BuildWheel(corpus.path(), c.stem, c.python, work.path(), &output);
    INFO(output);
    CHECK(rc == 0);
    CHECK(Wheels(work.path() / "wheels") == std::vector<std::string>{c.wheel});
  }
}

TEST_CASE("the C extension fails to build cleanly where Python.h is missing") {
  if (!Have(kDebianPy311)) return;
  if (fs::exists("/usr/include/python3.11/Python.h")) {
    WARN("python3.11 development headers are installed; nothing to check");
    return;
  }
  ScratchDir corpus, work;
  std::string err, output;
  REQUIRE(corral::WriteDemoCorpus(corpus.path(), &err));
  int rc = BuildWheel(corpus.path(), "corral_demo_cext-1.0.0", kDebianPy311, work.path(), &output);
  INFO(output);
  CHECK(rc != 0);
  CHECK(output.find("Python.h was not found") != std::string::npos);
  CHECK(Wheels(work.path() / "wheels").empty());
}

TEST_CASE("the broken build fails on its missing file, and the same build twice is identical") {
  if (!Have(kPy312)) return;
  ScratchDir corpus;
  std::string err;
  REQUIRE(corral::WriteDemoCorpus(corpus.path(), &err));
  {
    ScratchDir work;
    std::string output;
    int rc = BuildWheel(corpus.path(), "corral_demo_broken_build-1.0.0", kPy312, work.path(),
                        &output);
    INFO(output);
    CHECK(rc != 0);
    CHECK(output.find("grammar.json is listed in _build/layout.json") != std::string::npos);
  }
  // SOURCE_DATE_EPOCH is fixed by BuildWheel: two builds in different
  // folders must give the same bytes, C extension included.
  ScratchDir a, b;
  std::string out_a, out_b;
  REQUIRE(BuildWheel(corpus.path(), "corral_demo_cext-1.0.0", kPy312, a.path(), &out_a) == 0);
  REQUIRE(BuildWheel(corpus.path(), "corral_demo_cext-1.0.0", kPy312, b.path(), &out_b) == 0);
  auto wa = Wheels(a.path() / "wheels");
  REQUIRE(wa.size() == 1);
  CHECK(corral::demo_test::Slurp(a.path() / "wheels" / wa[0]) ==
        corral::demo_test::Slurp(b.path() / "wheels" / wa[0]));
}
