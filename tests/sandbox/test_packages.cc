#include "test_packages.h"
#include "common/archive_error.h"

#include <archive.h>
#include <archive_entry.h>

#include <stdlib.h>

#include <memory>
#include <system_error>

namespace corral::sandbox::testing {

namespace {

// Python 2.7-compatible PEP 517 backend; @NAME@ and @FAIL@ are substituted.
constexpr const char kBackend[] = R"PY(# Minimal PEP 517 backend for Corral's sandbox tests.
import base64, hashlib, os, zipfile

NAME = "@NAME@"
VERSION = "1.0"
FAIL = @FAIL@
REQUIRES_DIST = []  # tests replace this line: the wheel's Requires-Dist
BUILD_EXTRA = []  # tests replace this line: what get_requires_for_build_wheel asks for


def get_requires_for_build_wheel(config_settings=None):
    return list(BUILD_EXTRA)


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if FAIL:
        raise RuntimeError("mini backend: refusing to build " + NAME)
    c_source = os.path.join(NAME, "_speed.c")
    if os.path.exists(c_source):
        import subprocess, sysconfig
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO")
        out = os.path.join(NAME, "_speed" + suffix)
        cmd = ["cc", "-shared", "-fPIC", "-O1", "-I", sysconfig.get_paths()["include"],
               c_source, "-o", out]
        print(" ".join(cmd))
        if subprocess.call(cmd) != 0:
            raise RuntimeError("compiling %s failed" % c_source)
    files = []
    for root, dirs, names in os.walk(NAME):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(".pyc") or n.endswith(".c"):
                continue
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                files.append((p.replace(os.sep, "/"), f.read()))
    info = "%s-%s.dist-info" % (NAME, VERSION)
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION)
    meta += "".join("Requires-Dist: %s\n" % r for r in REQUIRES_DIST)
    wheel = "Wheel-Version: 1.0\nGenerator: corral-test-backend\nRoot-Is-Purelib: true\nTag: py2.py3-none-any\n"
    files.append((info + "/METADATA", meta.encode("utf-8")))
    files.append((info + "/WHEEL", wheel.encode("utf-8")))
    files.append((info + "/top_level.txt", (NAME + "\n").encode("utf-8")))
    record = "".join("%s,%s,%d\n" % (p, _record_hash(d), len(d)) for p, d in files)
    record += info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode("utf-8")))
    filename = "%s-%s-py2.py3-none-any.whl" % (NAME, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files:
            zi = zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, d)
    return filename
)PY";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/corral-sandbox-test-XXXXXX";
  char* made = mkdtemp(tmpl);
  path_ = made ? made : "/tmp/corral-sandbox-test-failed";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool WriteArchive(const std::filesystem::path& path, const std::vector<Entry>& entries,
                  std::string* err) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  bool zip = path.extension() == ".zip";
  if (zip) {
    archive_write_set_format_zip(a.get());
  } else if (path.extension() == ".bz2") {
    archive_write_add_filter_bzip2(a.get());
    archive_write_set_format_pax_restricted(a.get());
  } else {
    archive_write_add_filter_gzip(a.get());
    archive_write_set_format_pax_restricted(a.get());
  }
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    *err = std::string("cannot create ") + path.string() + ": " + ArchiveError(a.get());
    return false;
  }
  for (const Entry& e : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> ent(archive_entry_new(),
                                                                      &archive_entry_free);
    archive_entry_set_pathname(ent.get(), e.path.c_str());
    archive_entry_set_mtime(ent.get(), e.mtime, 0);
    if (!e.hardlink_target.empty()) {
      archive_entry_set_filetype(ent.get(), AE_IFREG);
      archive_entry_set_perm(ent.get(), 0644);
      archive_entry_set_hardlink(ent.get(), e.hardlink_target.c_str());
      archive_entry_set_size(ent.get(), 0);
    } else if (!e.symlink_target.empty()) {
      archive_entry_set_filetype(ent.get(), AE_IFLNK);
      archive_entry_set_symlink(ent.get(), e.symlink_target.c_str());
      archive_entry_set_perm(ent.get(), 0777);
      archive_entry_set_size(ent.get(), 0);
    } else {
      archive_entry_set_filetype(ent.get(), AE_IFREG);
      archive_entry_set_perm(ent.get(), e.mode);
      archive_entry_set_size(ent.get(), static_cast<la_int64_t>(e.content.size()));
    }
    if (archive_write_header(a.get(), ent.get()) != ARCHIVE_OK) {
      *err = "cannot add " + e.path + ": " + ArchiveError(a.get());
      return false;
    }
    if (e.symlink_target.empty() && e.hardlink_target.empty() && !e.content.empty() &&
        archive_write_data(a.get(), e.content.data(), e.content.size()) < 0) {
      *err = "cannot write " + e.path + ": " + ArchiveError(a.get());
      return false;
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    *err = "cannot finish " + path.string() + ": " + ArchiveError(a.get());
    return false;
  }
  return true;
}

std::vector<Entry> SdistEntries(const std::string& name, PackageKind kind) {
  std::string root = name + "-1.0/";
  std::vector<Entry> e;
  bool needs = kind == PackageKind::kNeedsBuildRequirement;
  e.push_back({root + "pyproject.toml",
               std::string("[build-system]\nrequires = [") + (needs ? "\"demo_none\"" : "") +
                   "]\nbuild-backend = \"mini_backend\"\nbackend-path = [\"_build\"]\n"});
  e.push_back({root + "PKG-INFO", "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"});
  e.push_back({root + "_build/mini_backend.py",
               (needs ? "import demo_none  # a build requirement from the wheelhouse\n" : "") +
                   Replace(Replace(kBackend, "@NAME@", name), "@FAIL@",
                           kind == PackageKind::kBuildError ? "True" : "False")});
  std::string init = "VERSION = '1.0'\n\ndef add(a, b):\n    return a + b\n";
  if (kind == PackageKind::kImportError)
    init = "import corral_module_that_does_not_exist\n" + init;
  e.push_back({root + name + "/__init__.py", init});
  e.push_back({root + name + "/util.py", "def double(x):\n    return 2 * x\n"});
  if (kind == PackageKind::kCExtension) {
    e.push_back({root + name + "/_speed.c",
                 "#include <Python.h>\n"
                 "static PyObject* triple(PyObject* self, PyObject* arg) {\n"
                 "  long v = PyLong_AsLong(arg);\n"
                 "  return PyLong_FromLong(3 * v);\n}\n"
                 "static PyMethodDef methods[] = {{\"triple\", triple, METH_O, 0}, {0, 0, 0, 0}};\n"
                 "#if PY_MAJOR_VERSION >= 3\n"
                 "static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, \"_speed\", 0, -1, methods};\n"
                 "PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&mod); }\n"
                 "#else\n"
                 "PyMODINIT_FUNC init_speed(void) { Py_InitModule(\"_speed\", methods); }\n"
                 "#endif\n"});
    e[3].content = "from ._speed import triple\n" + init;
    e.push_back({root + "tests/test_speed.py",
                 "import unittest\nimport " + name + "\n\n"
                 "class TestSpeed(unittest.TestCase):\n"
                 "    def test_triple(self):\n"
                 "        self.assertEqual(" + name + ".triple(14), 42)\n"});
    return e;
  }
  if (kind == PackageKind::kNoTests) return e;
  std::string tests =
      "import unittest\n"
      "import " + name + "\n"
      "from " + name + ".util import double\n\n\n"
      "class TestAdd(unittest.TestCase):\n"
      "    def test_add(self):\n"
      "        self.assertEqual(" + name + ".add(2, 3), 5)\n\n"
      "    def test_double(self):\n"
      "        self.assertEqual(double(4), 8)\n\n"
      "    @unittest.skip('not today')\n"
      "    def test_skipped(self):\n"
      "        pass\n";
  if (kind == PackageKind::kFailingTest)
    tests +=
        "\n    def test_wrong(self):\n"
        "        self.assertEqual(" + name + ".add(2, 2), 5)\n";
  e.push_back({root + "tests/test_add.py", tests});
  e.push_back({root + "tests/test_more.py",
               "import unittest\n\nclass TestMore(unittest.TestCase):\n"
               "    def test_truth(self):\n        self.assertTrue(True)\n"});
  return e;
}

std::vector<Entry> SdistWithTests(const std::string& name, const std::string& test_source) {
  std::vector<Entry> e = SdistEntries(name, PackageKind::kNoTests);
  e.push_back({name + "-1.0/tests/test_" + name + ".py", test_source});
  return e;
}

}  // namespace corral::sandbox::testing
