#include "sandbox/build_system.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "test_packages.h"

using namespace corral::sandbox;
using corral::sandbox::testing::TempDir;

namespace {
void Write(const std::filesystem::path& p, const std::string& s) { std::ofstream(p) << s; }
}  // namespace

TEST_CASE("ReadBuildSystem reads [build-system] and falls back per PEP 517") {
  TempDir tmp;
  BuildSystem bs;
  std::string err;
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK_FALSE(bs.from_pyproject);
  CHECK(bs.backend == "setuptools.build_meta:__legacy__");
  CHECK(bs.requirements == std::vector<std::string>{"setuptools>=40.8.0", "wheel"});

  Write(tmp.path() / "pyproject.toml", "[tool.black]\nline-length = 88\n");
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK_FALSE(bs.from_pyproject);

  Write(tmp.path() / "pyproject.toml",
        "[build-system]\nrequires = [\"flit_core >=3.2,<4\"]\nbuild-backend = \"flit_core.buildapi\"\n");
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(bs.from_pyproject);
  CHECK(bs.backend == "flit_core.buildapi");
  CHECK(bs.requirements == std::vector<std::string>{"flit_core >=3.2,<4"});

  Write(tmp.path() / "pyproject.toml",
        "[build-system]\nrequires = []\nbuild-backend = \"b\"\nbackend-path = [\"_build\", \".\"]\n");
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(bs.backend_path == std::vector<std::string>{"_build", "."});
  CHECK(bs.requirements.empty());

  Write(tmp.path() / "pyproject.toml", "[build-system]\nrequires = [\"setuptools\"]\n");
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(bs.backend == "setuptools.build_meta:__legacy__");
  CHECK(bs.requirements == std::vector<std::string>{"setuptools"});
}

TEST_CASE("ReadBuildSystem rejects invalid TOML and wrong types and an escaping backend-path") {
  TempDir tmp;
  BuildSystem bs;
  std::string err;
  Write(tmp.path() / "pyproject.toml", "[build-system\nrequires = [");
  CHECK_FALSE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(err.find("not valid TOML (line 1") != std::string::npos);

  Write(tmp.path() / "pyproject.toml", "[build-system]\nrequires = \"setuptools\"\n");
  CHECK_FALSE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(err.find("requires must be an array") != std::string::npos);

  Write(tmp.path() / "pyproject.toml", "[build-system]\nbuild-backend = \"x\"\n");
  CHECK_FALSE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(err.find("no 'requires'") != std::string::npos);

  for (const char* bad : {"../outside", "/abs", "a/../../b"}) {
    Write(tmp.path() / "pyproject.toml",
          std::string("[build-system]\nrequires = []\nbuild-backend = \"b\"\nbackend-path = [\"") +
              bad + "\"]\n");
    INFO(bad);
    CHECK_FALSE(ReadBuildSystem(tmp.path(), &bs, &err));
    CHECK(err.find("leaves the source tree") != std::string::npos);
  }
}

TEST_CASE("test requirements are read as data from everywhere projects declare them") {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "requirements");
  Write(tmp.path() / "pyproject.toml",
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n"
        "[project]\nname = \"x\"\n[project.optional-dependencies]\ntest = [\"pytest>=7\", \"hypothesis\"]\n"
        "docs = [\"sphinx\"]\n"
        "[dependency-groups]\nlint = [\"ruff\"]\ndev = [{include-group = \"lint\"}, \"coverage[toml]\"]\n");
  Write(tmp.path() / "tox.ini",
        "[tox]\nenvlist = py3\n[testenv]\ndeps =\n    pytest\n    mock>=4  # for py2\n    -rrequirements/test.txt\n"
        "    {env:EXTRA:}\n    coverage: coverage\n    py37,py38: importlib_metadata; python_version < \"3.8\"\n"
        "commands = pytest\n[testenv:docs]\ndeps = sphinx\n");
  Write(tmp.path() / "requirements" / "test.txt", "# tests\nfreezegun==1.2\n-e .\n");
  Write(tmp.path() / "requirements-dev.txt", "black\n");
  Write(tmp.path() / "requirements.txt", "requests\n");  // runtime: not a test list
  BuildSystem bs;
  std::string err;
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK(bs.test_requirements == std::vector<std::string>{"pytest>=7", "hypothesis", "ruff", "coverage[toml]",
                                                         "pytest", "mock>=4", "freezegun==1.2", "black"});
  // A setup.py project: no pyproject.toml, its tox.ini still read.
  std::filesystem::remove(tmp.path() / "pyproject.toml");
  REQUIRE(ReadBuildSystem(tmp.path(), &bs, &err));
  CHECK_FALSE(bs.from_pyproject);
  CHECK(std::find(bs.test_requirements.begin(), bs.test_requirements.end(), "mock>=4") !=
        bs.test_requirements.end());
}
