#include "demo/corpus.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "common/archive_error.h"
#include "common/crypto.h"
#include "common/outcome.h"

namespace fs = std::filesystem;

namespace corral {
namespace {

// ---------------------------------------------------------------------------
// The in-tree PEP 517 backend every demo sdist carries in _build/. It reads
// the core metadata from PKG-INFO and what to package from _build/layout.json,
// compiles C extensions with the running interpreter's sysconfig, and writes
// a wheel whose RECORD hashes its files. Python 2.7 to 3.13 and PyPy.
constexpr const char* kBackend = R"PY(# -*- coding: utf-8 -*-
"""An in-tree PEP 517 build backend for Corral's demo packages.

Core metadata comes from PKG-INFO at the root of the source tree; what goes
into the wheel comes from _build/layout.json:

  packages      top-level package names, found under package_dir
  package_dir   folder holding the packages ("src")
  package_data  extra files, relative to package_dir, that must be shipped
  extensions    [{"name": "pkg._mod", "sources": ["src/pkg/_mod.c"]}]
  python_tag    tag of a pure wheel ("py2.py3" or "py3")

Extensions are compiled with the running interpreter's own compiler settings
(sysconfig CC, CFLAGS, CCSHARED, LDSHARED, the include directory and the
extension suffix), so the wheel is tagged for that interpreter. Timestamps in
the wheel and the sdist come from SOURCE_DATE_EPOCH when it is set, which
makes builds reproducible. Compatible with Python 2.7 and 3.x, CPython and
PyPy.
"""
from __future__ import print_function

import base64
import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile

# PEP 517 runs hooks in the source tree, whether this file is in its
# _build/ folder or installed from the corral-demo-backend wheel.
ROOT = os.getcwd()
GENERATOR = "corral_demo_backend 1.0"
ZIP_EPOCH_MIN = 315532800  # 1980-01-01, the earliest time a zip can hold


class BuildError(Exception):
    """A build failure whose message says what to do about it."""


def _fail(message):
    print("corral_demo_backend: error: " + message, file=sys.stderr)
    raise BuildError(message)


def _read_text(path):
    with io.open(path, "r", encoding="utf-8") as f:
        return f.read()


def _makedirs(path):
    if not os.path.isdir(path):
        os.makedirs(path)


def _pkg_info():
    """The fields of PKG-INFO, in file order, as (key, value) pairs."""
    path = os.path.join(ROOT, "PKG-INFO")
    if not os.path.exists(path):
        _fail("PKG-INFO is missing from %s; the backend reads the core metadata from it" % ROOT)
    fields = []
    for line in _read_text(path).splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.append((key.strip(), value.strip()))
    return fields


def _field(fields, key):
    for k, v in fields:
        if k.lower() == key.lower():
            return v
    return None


def _layout():
    path = os.path.join(ROOT, "_build", "layout.json")
    try:
        return json.loads(_read_text(path))
    except (IOError, OSError, ValueError) as e:
        _fail("cannot read the build layout %s: %s" % (path, e))


def _dist_name(name):
    out = []
    for c in name.lower():
        out.append("_" if c in "-_." else c)
    text = "".join(out)
    while "__" in text:
        text = text.replace("__", "_")
    return text


def _epoch(default_paths):
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value:
        try:
            return max(int(value), ZIP_EPOCH_MIN)
        except ValueError:
            _fail("SOURCE_DATE_EPOCH must be an integer number of seconds, got %r" % value)
    newest = ZIP_EPOCH_MIN
    for p in default_paths:
        newest = max(newest, int(os.stat(p).st_mtime))
    return newest


def _is_pypy():
    return "__pypy__" in sys.builtin_module_names


def _platform_tag():
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _interpreter_tags():
    """(python tag, abi tag) of the running interpreter, as pip computes them."""
    major, minor = sys.version_info[:2]
    soabi = sysconfig.get_config_var("SOABI") or ""
    if _is_pypy():
        parts = soabi.split("-")
        abi = "_".join(parts[:2]) if len(parts) >= 2 else "pypy%d%d_pp73" % (major, minor)
        return "pp%d%d" % (major, minor), abi.replace(".", "_")
    if soabi.startswith("cpython-"):
        return "cp%d%d" % (major, minor), "cp" + soabi.split("-")[1]
    abi = "cp%d%d" % (major, minor)
    if hasattr(sys, "gettotalrefcount"):
        abi += "d"
    if sysconfig.get_config_var("WITH_PYMALLOC"):
        abi += "m"
    if major == 2 and sys.maxunicode == 0x10FFFF:
        abi += "u"
    return "cp%d%d" % (major, minor), abi


def _config_words(name, default=""):
    value = sysconfig.get_config_var(name)
    return shlex.split(value if value else default)


def _run(command, cwd):
    print("corral_demo_backend: " + " ".join(command))
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.communicate()[0]
    text = out.decode("utf-8", "replace")
    if text:
        print(text, end="" if text.endswith("\n") else "\n")
    return proc.returncode, text


def _compile_extension(ext, build_dir):
    """Compiles one extension; returns its path inside the wheel and on disk."""
    paths = sysconfig.get_paths()
    include = paths.get("include") or ""
    plat_include = paths.get("platinclude") or include
    header = os.path.join(include, "Python.h")
    if not os.path.exists(header):
        _fail("cannot build the C extension %s: Python.h was not found at %s. "
              "This interpreter (%s) has no development headers; install them "
              "(for example the python3-dev or pypy3-dev package) or use an "
              "interpreter that ships Python.h." % (ext["name"], header, sys.executable))
    for source in ext["sources"]:
        if not os.path.exists(os.path.join(ROOT, source)):
            _fail("the C source %s of extension %s is listed in _build/layout.json "
                  "but missing from the source tree" % (source, ext["name"]))
    env_cc = os.environ.get("CC")
    cc = shlex.split(env_cc) if env_cc else _config_words("CC", "cc")
    cflags = _config_words("CFLAGS") + shlex.split(os.environ.get("CFLAGS", ""))
    ccshared = _config_words("CCSHARED", "-fPIC")
    ldshared = _config_words("LDSHARED", "cc -shared")
    if env_cc:
        ldshared = cc + ["-shared"]
    ldshared += shlex.split(os.environ.get("LDFLAGS", ""))
    # Relative paths and a mapped prefix keep the build directory out of the
    # binary, so two builds in different places give the same bytes.
    prefix_map = ["-fdebug-prefix-map=%s=." % ROOT, "-fdebug-prefix-map=%s=." % build_dir]
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO") or ".so"
    objects = []
    for i, source in enumerate(ext["sources"]):
        obj = os.path.join(build_dir, "%d_%s.o" % (i, os.path.basename(source)))
        command = (cc + cflags + ccshared + prefix_map +
                   ["-I" + include, "-I" + plat_include, "-c", source, "-o", obj])
        code, text = _run(command, ROOT)
        if code != 0:
            _fail("compiling %s for extension %s failed (exit %d):\n%s" %
                  (source, ext["name"], code, text))
        objects.append(obj)
    parts = ext["name"].split(".")
    arcname = "/".join(parts[:-1] + [parts[-1] + suffix])
    target = os.path.join(build_dir, parts[-1] + suffix)
    code, text = _run(ldshared + objects + ["-o", target], ROOT)
    if code != 0:
        _fail("linking extension %s failed (exit %d):\n%s" % (ext["name"], code, text))
    return arcname, target


def _package_files(layout):
    """(path in the wheel, path on disk) for every module and data file."""
    base = os.path.join(ROOT, layout.get("package_dir", "src"))
    files = []
    for package in layout["packages"]:
        top = os.path.join(base, package)
        if os.path.isfile(top + ".py"):
            files.append((package + ".py", top + ".py"))
            continue
        if not os.path.isdir(top):
            _fail("package %s is listed in _build/layout.json but %s does not exist" %
                  (package, top))
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    rel = os.path.relpath(full, base).replace(os.sep, "/")
                    files.append((rel, full))
    for rel in layout.get("package_data", []):
        full = os.path.join(base, rel)
        if not os.path.isfile(full):
            _fail("%s/%s is listed in _build/layout.json (package_data) but is missing "
                  "from the source tree; it was probably left out of the sdist" %
                  (layout.get("package_dir", "src"), rel))
        files.append((rel, full))
    return files


def _metadata_text(fields):
    lines = ["Metadata-Version: 2.1"]
    for key in ("Name", "Version", "Summary", "Home-page", "Author", "License",
                "Requires-Python"):
        value = _field(fields, key)
        if value:
            lines.append("%s: %s" % (key, value))
    for key, value in fields:
        if key == "Classifier" or key == "Requires-Dist":
            lines.append("%s: %s" % (key, value))
    return "\n".join(lines) + "\n"


def _wheel_text(tag, pure):
    py, abi, plat = tag.split("-")
    lines = ["Wheel-Version: 1.0", "Generator: " + GENERATOR,
             "Root-Is-Purelib: " + ("true" if pure else "false")]
    for p in py.split("."):
        lines.append("Tag: %s-%s-%s" % (p, abi, plat))
    return "\n".join(lines) + "\n"


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _dist_info(fields, layout, tag, pure):
    """The dist-info files, except RECORD, as (name, bytes) pairs."""
    top_level = sorted(set(p.split(".")[0] for p in layout["packages"]))
    return [
        ("METADATA", _metadata_text(fields).encode("utf-8")),
        ("WHEEL", _wheel_text(tag, pure).encode("utf-8")),
        ("top_level.txt", ("\n".join(top_level) + "\n").encode("utf-8")),
    ]


def _tag(layout):
    if layout.get("extensions"):
        py, abi = _interpreter_tags()
        return "%s-%s-%s" % (py, abi, _platform_tag()), False
    return "%s-none-any" % layout.get("python_tag", "py2.py3"), True


def get_requires_for_build_wheel(config_settings=None):
    # What a package's layout asks for beyond [build-system] requires, as
    # real backends do (setuptools asks for wheel, some for cython...).
    return list(_layout().get("build_requires_dynamic", []))


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    fields = _pkg_info()
    layout = _layout()
    tag, pure = _tag(layout)
    name = "%s-%s.dist-info" % (_dist_name(_field(fields, "Name")), _field(fields, "Version"))
    target = os.path.join(metadata_directory, name)
    _makedirs(target)
    for filename, data in _dist_info(fields, layout, tag, pure):
        with open(os.path.join(target, filename), "wb") as f:
            f.write(data)
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    fields = _pkg_info()
    layout = _layout()
    for module in layout.get("build_imports", []):
        __import__(module)  # a build requirement this build really uses
    name, version = _field(fields, "Name"), _field(fields, "Version")
    if not name or not version:
        _fail("PKG-INFO must give Name and Version")
    tag, pure = _tag(layout)
    files = _package_files(layout)
    build_dir = tempfile.mkdtemp(prefix="corral-demo-build-")
    try:
        for ext in layout.get("extensions", []):
            files.append(_compile_extension(ext, build_dir))
        epoch = _epoch([disk for _, disk in files])
        date_time = time.gmtime(epoch)[:6]
        dist = _dist_name(name)
        info = "%s-%s.dist-info" % (dist, version)
        entries = []
        for arcname, disk in sorted(files):
            with open(disk, "rb") as f:
                data = f.read()
            mode = 0o755 if arcname.endswith((".so", ".pyd")) else 0o644
            entries.append((arcname, data, mode))
        for filename, data in _dist_info(fields, layout, tag, pure):
            entries.append((info + "/" + filename, data, 0o644))
        record = []
        for arcname, data, _ in entries:
            record.append("%s,%s,%d" % (arcname, _record_hash(data), len(data)))
        record.append("%s/RECORD,," % info)
        entries.append((info + "/RECORD", ("\n".join(record) + "\n").encode("utf-8"), 0o644))

        _makedirs(wheel_directory)
        filename = "%s-%s-%s.whl" % (dist, version, tag)
        partial = os.path.join(wheel_directory, filename + ".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for arcname, data, mode in entries:
                zi = zipfile.ZipInfo(arcname, date_time)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = (0o100000 | mode) << 16
                zi.create_system = 3
                zf.writestr(zi, data)
        os.rename(partial, os.path.join(wheel_directory, filename))
        print("corral_demo_backend: wrote %s" % filename)
        return filename
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def _sdist_members():
    members = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and d not in ("__pycache__", "build", "dist")
                             and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo", ".o", ".so")):
                continue
            full = os.path.join(dirpath, name)
            members.append((os.path.relpath(full, ROOT).replace(os.sep, "/"), full))
    return sorted(members)


def build_sdist(sdist_directory, config_settings=None):
    fields = _pkg_info()
    base = "%s-%s" % (_dist_name(_field(fields, "Name")), _field(fields, "Version"))
    members = _sdist_members()
    epoch = _epoch([full for _, full in members])
    _makedirs(sdist_directory)
    filename = base + ".tar.gz"
    partial = os.path.join(sdist_directory, filename + ".part")
    dirs = set()
    for rel, _ in members:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = [(base, None)] + [(base + "/" + d, None) for d in sorted(dirs)]
    entries += [(base + "/" + rel, full) for rel, full in members]
    with open(partial, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for arcname, full in sorted(entries):
                    ti = tarfile.TarInfo(arcname)
                    ti.mtime = epoch
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = ""
                    if full is None:
                        ti.type = tarfile.DIRTYPE
                        ti.mode = 0o755
                        tf.addfile(ti)
                    else:
                        with open(full, "rb") as f:
                            data = f.read()
                        ti.size = len(data)
                        ti.mode = 0o644
                        tf.addfile(ti, io.BytesIO(data))
    os.rename(partial, os.path.join(sdist_directory, filename))
    return filename
)PY";

// ---------------------------------------------------------------------------
// The packages.

// One file of an sdist, relative to its top folder.
struct SourceFile {
  std::string path;
  std::string content;
};

// One release to write: its metadata, what it contains and what is expected
// of it.
struct DemoRelease {
  std::string project;
  std::string version;
  std::string summary;
  std::string requires_python;  // "" when unbounded
  std::string behaviour;
  nlohmann::json rules;
  nlohmann::json layout;  // _build/layout.json
  std::vector<SourceFile> files;
  // How it is built: the in-tree backend (default), the same backend
  // installed from the corral-demo-backend wheel on the index, or a plain
  // setuptools setup.py (no pyproject.toml: the PEP 517 fallback).
  enum class Build { kInTree, kBackendWheel, kSetupPy } build = Build::kInTree;
  std::vector<std::string> build_requires;  // [build-system] requires besides the backend's
  std::vector<std::string> requires_dist;   // runtime dependencies (PKG-INFO Requires-Dist)
  int64_t mtime = 0;  // archive entries and the file itself
};

constexpr int64_t kDate2024Jan15 = 1705312800;  // 2024-01-15T10:00:00Z
constexpr int64_t kDate2024Mar01 = 1709287200;  // 2024-03-01T10:00:00Z

std::string PureInit(const std::string& version, bool with_mean) {
  std::string s = R"PY("""Small text and sequence helpers: the demo package that works everywhere."""

import re

__version__ = ")PY" + version + R"PY("


def slugify(text):
    """Lower-case words joined by single dashes: "Hello, World!" -> "hello-world"."""
    return "-".join(word.lower() for word in re.findall(r"[A-Za-z0-9]+", text))


def chunks(seq, size):
    """Consecutive slices of `seq`, each `size` long except perhaps the last."""
    if size < 1:
        raise ValueError("size must be at least 1, got %r" % (size,))
    return [seq[i:i + size] for i in range(0, len(seq), size)]
)PY";
  if (with_mean) {
    s += R"PY(

def mean(values):
    """The arithmetic mean of a non-empty iterable of numbers, as a float."""
    values = list(values)
    if not values:
        raise ValueError("mean() of an empty sequence")
    return float(sum(values)) / len(values)
)PY";
  }
  return s;
}

std::string PureTests(bool with_mean) {
  std::string s = R"PY(import unittest

import corral_demo_pure as pure


class SlugifyTest(unittest.TestCase):
    def test_words_are_joined_with_dashes(self):
        self.assertEqual(pure.slugify("Hello, World!"), "hello-world")

    def test_empty_text_gives_empty_slug(self):
        self.assertEqual(pure.slugify(""), "")


class ChunksTest(unittest.TestCase):
    def test_last_chunk_may_be_short(self):
        self.assertEqual(pure.chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])

    def test_size_must_be_positive(self):
        self.assertRaises(ValueError, pure.chunks, [1], 0)
)PY";
  if (with_mean) {
    s += R"PY(

class MeanTest(unittest.TestCase):
    def test_mean_of_integers_is_a_float(self):
        self.assertEqual(pure.mean([1, 2]), 1.5)

    def test_mean_of_nothing_is_an_error(self):
        self.assertRaises(ValueError, pure.mean, [])
)PY";
  }
  s += R"PY(

if __name__ == "__main__":
    unittest.main()
)PY";
  return s;
}

constexpr const char* kRefcountInit = R"PY("""Named handles that are released when their owner object goes away.

The release happens in __del__, which CPython runs the moment the last
reference disappears; other implementations (PyPy) run it at some later
garbage collection. Code that counts on the former is common and fragile.
"""

_open = set()


class Handle(object):
    """Registers `name` as open until close() or finalisation."""

    def __init__(self, name):
        self.name = name
        _open.add(name)

    def close(self):
        _open.discard(self.name)

    def __del__(self):
        self.close()


def open_handles():
    """The names of the handles still open, sorted."""
    return sorted(_open)
)PY";

constexpr const char* kRefcountTests = R"PY(import gc
import unittest

from corral_demo_refcount import Handle, open_handles


class HandleTest(unittest.TestCase):
    def test_open_handle_is_listed(self):
        h = Handle("listed")
        self.assertIn("listed", open_handles())
        h.close()

    def test_close_releases_the_handle(self):
        h = Handle("closed")
        h.close()
        self.assertNotIn("closed", open_handles())

    def test_released_when_last_reference_dropped(self):
        # Relies on reference counting: the handle must be gone right after
        # `del`, without waiting for a garbage collection. The collection
        # before `del` makes the object old, so that on PyPy no collection
        # can happen to finalise it before the check.
        h = Handle("dropped")
        gc.collect()
        del h
        self.assertNotIn("dropped", open_handles())


if __name__ == "__main__":
    unittest.main()
)PY";

constexpr const char* kBrokenBuildInit = R"PY("""Validates small JSON documents against a grammar shipped as grammar.json."""

import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_grammar():
    with open(os.path.join(_HERE, "grammar.json")) as f:
        return json.load(f)


def validate(document):
    """True when every key of `document` is one the grammar allows."""
    allowed = set(load_grammar()["keys"])
    return all(key in allowed for key in document)
)PY";

constexpr const char* kBrokenBuildTests = R"PY(import unittest

from corral_demo_broken_build import validate


class ValidateTest(unittest.TestCase):
    def test_known_keys_are_valid(self):
        self.assertTrue(validate({"name": "x"}))


if __name__ == "__main__":
    unittest.main()
)PY";

constexpr const char* kBadImportInit = R"PY("""Formats durations for humans: 3725 -> "1h 2m 5s".

The formatting lives in a helper module that the release forgot to ship, so
importing the package fails with ImportError on every platform.
"""

from ._formatting import format_duration  # noqa: F401  (never packaged)

__version__ = "1.0.0"
)PY";

constexpr const char* kBadImportTests = R"PY(import unittest

from corral_demo_badimport import format_duration


class FormatTest(unittest.TestCase):
    def test_hours_minutes_seconds(self):
        self.assertEqual(format_duration(3725), "1h 2m 5s")


if __name__ == "__main__":
    unittest.main()
)PY";

constexpr const char* kModernInit = R"PY("""Summaries of number series, written for Python 3.8 and later."""

__version__ = "2.0.0"


def describe(values):
    """A one-line summary such as "3 values, total 6, max 3"."""
    if (n := len(values)) == 0:
        return "no values"
    return f"{n} values, total {sum(values)}, max {max(values)}"


def running_totals(values):
    total = 0
    return [(total := total + v) for v in values]
)PY";

constexpr const char* kModernTests = R"PY(import unittest

from corral_demo_modern import describe, running_totals


class DescribeTest(unittest.TestCase):
    def test_summary_names_count_total_and_max(self):
        self.assertEqual(describe([1, 2, 3]), "3 values, total 6, max 3")

    def test_empty(self):
        self.assertEqual(describe([]), "no values")


class RunningTotalsTest(unittest.TestCase):
    def test_totals_accumulate(self):
        self.assertEqual(running_totals([1, 2, 3]), [1, 3, 6])


if __name__ == "__main__":
    unittest.main()
)PY";

constexpr const char* kNoTestsInit = R"PY("""Clamps numbers into a range. Ships without any test suite."""

__version__ = "1.0.0"


def clamp(value, low, high):
    if low > high:
        raise ValueError("low (%r) is above high (%r)" % (low, high))
    return max(low, min(high, value))
)PY";

constexpr const char* kCextInit = R"PY("""Fletcher-16 checksums, computed by a C extension.

fletcher16_reference is the same algorithm in pure Python, for comparison.
"""

from ._speedups import fletcher16

__version__ = "1.0.0"


def fletcher16_reference(data):
    sum1 = sum2 = 0
    for byte in bytearray(data):
        sum1 = (sum1 + byte) % 255
        sum2 = (sum2 + sum1) % 255
    return (sum2 << 8) | sum1
)PY";

constexpr const char* kCextSource = R"C(/* Fletcher-16 checksum of a bytes object; builds against Python 2.7 and 3.x. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_MAJOR_VERSION >= 3
#define BYTES_FORMAT "y#"
#else
#define BYTES_FORMAT "s#"
#endif

static PyObject *fletcher16(PyObject *self, PyObject *args) {
  const char *data;
  Py_ssize_t length, i;
  unsigned int sum1 = 0, sum2 = 0;
  if (!PyArg_ParseTuple(args, BYTES_FORMAT ":fletcher16", &data, &length)) return NULL;
  for (i = 0; i < length; ++i) {
    sum1 = (sum1 + (unsigned char)data[i]) % 255;
    sum2 = (sum2 + sum1) % 255;
  }
  return Py_BuildValue("i", (int)((sum2 << 8) | sum1));
}

static PyMethodDef methods[] = {
    {"fletcher16", fletcher16, METH_VARARGS, "fletcher16(data: bytes) -> int"},
    {NULL, NULL, 0, NULL},
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "Fletcher-16 in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
#else
PyMODINIT_FUNC init_speedups(void) { Py_InitModule3("_speedups", methods, "Fletcher-16 in C."); }
#endif
)C";

constexpr const char* kCextTests = R"PY(import unittest

from corral_demo_cext import fletcher16, fletcher16_reference


class Fletcher16Test(unittest.TestCase):
    def test_known_value(self):
        # The textbook example: Fletcher-16 of "abcde" is 0xC8F0.
        self.assertEqual(fletcher16(b"abcde"), 0xC8F0)

    def test_empty_input(self):
        self.assertEqual(fletcher16(b""), 0)

    def test_matches_the_pure_python_reference(self):
        data = bytes(bytearray(range(256))) * 3
        self.assertEqual(fletcher16(data), fletcher16_reference(data))


if __name__ == "__main__":
    unittest.main()
)PY";

nlohmann::json Layout(const std::string& package, const std::string& python_tag) {
  return {{"packages", {package}},
          {"package_dir", "src"},
          {"package_data", nlohmann::json::array()},
          {"extensions", nlohmann::json::array()},
          {"python_tag", python_tag}};
}

nlohmann::json Always(const std::string& outcome) { return {{{"outcome", outcome}}}; }

std::string DistName(const std::string& project);
bool SetMtime(const fs::path& p, int64_t unix_seconds, std::string* err);

std::vector<DemoRelease> Releases() {
  std::vector<DemoRelease> out;
  for (bool v1 : {false, true}) {
    DemoRelease r;
    r.project = "corral-demo-pure";
    r.version = v1 ? "1.0.0" : "0.9.0";
    r.summary = "Small text and sequence helpers (pure Python, works everywhere)";
    r.behaviour = "Pure Python with a unittest suite that passes on every interpreter.";
    r.rules = Always("passed");
    r.layout = Layout("corral_demo_pure", "py2.py3");
    r.files = {{"src/corral_demo_pure/__init__.py", PureInit(r.version, v1)},
               {"tests/__init__.py", ""},
               {"tests/test_pure.py", PureTests(v1)}};
    r.mtime = v1 ? kDate2024Mar01 : kDate2024Jan15;
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-refcount";
    r.version = "1.0.0";
    r.summary = "Handles released by __del__ (tests assume reference counting)";
    r.behaviour =
        "One test expects __del__ to run the moment the last reference is dropped, which only "
        "CPython's reference counting guarantees: it fails on PyPy.";
    r.rules = {{{"when", {{"implementation", "pypy"}}}, {"outcome", "tests_failed"}},
               {{"outcome", "passed"}}};
    r.layout = Layout("corral_demo_refcount", "py2.py3");
    r.files = {{"src/corral_demo_refcount/__init__.py", kRefcountInit},
               {"tests/__init__.py", ""},
               {"tests/test_refcount.py", kRefcountTests}};
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-broken-build";
    r.version = "1.0.0";
    r.summary = "A JSON validator whose sdist forgot its grammar file";
    r.behaviour =
        "The build layout lists src/corral_demo_broken_build/grammar.json as package data, but "
        "the file was left out of the sdist: the backend refuses to build on every platform.";
    r.rules = Always("build_failed");
    r.layout = Layout("corral_demo_broken_build", "py2.py3");
    r.layout["package_data"] = {"corral_demo_broken_build/grammar.json"};
    r.files = {{"src/corral_demo_broken_build/__init__.py", kBrokenBuildInit},
               {"tests/__init__.py", ""},
               {"tests/test_validate.py", kBrokenBuildTests}};
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-badimport";
    r.version = "1.0.0";
    r.summary = "Duration formatting whose helper module was never packaged";
    r.behaviour =
        "Builds and installs, but the package imports a submodule (_formatting) that is not in "
        "the release: importing it raises ImportError everywhere.";
    r.rules = Always("import_failed");
    r.layout = Layout("corral_demo_badimport", "py2.py3");
    r.files = {{"src/corral_demo_badimport/__init__.py", kBadImportInit},
               {"tests/__init__.py", ""},
               {"tests/test_format.py", kBadImportTests}};
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-modern";
    r.version = "2.0.0";
    r.summary = "Number series summaries using f-strings and assignment expressions";
    r.requires_python = ">=3.8";
    r.behaviour =
        "Uses f-strings and the walrus operator and declares Requires-Python >=3.8: unsupported "
        "below 3.8, passes on 3.8 and later including PyPy 3.9.";
    r.rules = {{{"when", {{"python_below", "3.8"}}}, {"outcome", "unsupported"}},
               {{"outcome", "passed"}}};
    r.layout = Layout("corral_demo_modern", "py3");
    r.files = {{"src/corral_demo_modern/__init__.py", kModernInit},
               {"tests/__init__.py", ""},
               {"tests/test_modern.py", kModernTests}};
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-notests";
    r.version = "1.0.0";
    r.summary = "Clamps numbers into a range (no test suite)";
    r.behaviour = "Builds, installs and imports everywhere, but ships no tests at all.";
    r.rules = Always("no_tests");
    r.layout = Layout("corral_demo_notests", "py2.py3");
    r.files = {{"src/corral_demo_notests/__init__.py", kNoTestsInit}};
    out.push_back(r);
  }
  {
    DemoRelease r;
    r.project = "corral-demo-cext";
    r.version = "1.0.0";
    r.summary = "Fletcher-16 checksums in a C extension";
    r.behaviour =
        "A C extension compiled with the interpreter's own settings: passes where Python.h is "
        "installed. Where the interpreter has no development headers (Debian's "
        "/usr/bin/python3.11 without python3-dev, PyPy without pypy3-dev) the machine cannot "
        "build it, which is not the package's fault: the volunteer reports infra_error, which "
        "never votes, and the task waits for a volunteer whose interpreter has headers.";
    r.rules = {{{"when", {{"has_headers", false}}}, {"outcome", "infra_error"}},
               {{"outcome", "passed"}}};
    r.layout = Layout("corral_demo_cext", "py2.py3");
    r.layout["extensions"] = {
        {{"name", "corral_demo_cext._speedups"},
         {"sources", {"src/corral_demo_cext/_speedups.c"}}}};
    r.files = {{"src/corral_demo_cext/__init__.py", kCextInit},
               {"src/corral_demo_cext/_speedups.c", kCextSource},
               {"tests/__init__.py", ""},
               {"tests/test_fletcher16.py", kCextTests}};
    out.push_back(r);
  }
  // Packages shaped like real ones: their build backends, dependencies
  // and build requirements come from the index, through the volunteers'
  // prepare phase.
  auto simple = [](const std::string& project, const std::string& module, const std::string& summary,
                   const std::string& body, const std::string& test) {
    DemoRelease r;
    r.project = project;
    r.version = "1.0.0";
    r.summary = summary;
    r.layout = Layout(module, "py2.py3");
    r.files = {{"src/" + module + "/__init__.py", body},
               {"tests/__init__.py", ""},
               {"tests/test_" + module + ".py", "import unittest\n\nimport " + module + "\n\n\n"
                                                "class BehaviourTest(unittest.TestCase):\n"
                                                "    def test_behaviour(self):\n        " + test + "\n"}};
    return r;
  };
  {
    DemoRelease r = simple("corral-demo-wheelbackend", "corral_demo_wheelbackend",
                           "Doubles numbers; built by a backend installed from the index",
                           "def double(x):\n    return 2 * x\n",
                           "self.assertEqual(corral_demo_wheelbackend.double(21), 42)");
    r.build = DemoRelease::Build::kBackendWheel;
    r.behaviour = "Its pyproject.toml names a build backend that is not in the sdist: the "
                  "corral-demo-backend wheel, which the prepare phase fetches from the index. "
                  "Passes everywhere.";
    r.rules = Always("passed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-app", "corral_demo_app",
                           "Greets people loudly, with corral-demo-textlib and corral-demo-numlib",
                           "from corral_demo_numlib import clamp\nfrom corral_demo_textlib import shout\n\n\n"
                           "def greet(name, times=1):\n"
                           "    return \" \".join([shout(\"hello \" + name)] * clamp(times, 1, 3))\n",
                           "self.assertEqual(corral_demo_app.greet(\"bob\", 9), \"HELLO BOB! HELLO BOB! HELLO BOB!\")");
    r.requires_dist = {"corral-demo-textlib>=1.0", "corral-demo-numlib>=1.0"};
    r.behaviour = "Depends at run time on corral-demo-textlib and corral-demo-numlib, wheels on the "
                  "index: the built wheel's Requires-Dist is fetched after the build and installed "
                  "with it. Passes everywhere.";
    r.rules = Always("passed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-dynreq", "corral_demo_dynreq",
                           "Counts vowels; its backend asks for a build requirement on the fly",
                           "def vowels(text):\n    return sum(1 for c in text.lower() if c in \"aeiou\")\n",
                           "self.assertEqual(corral_demo_dynreq.vowels(\"Corral\"), 2)");
    r.layout["build_requires_dynamic"] = {"corral-demo-textlib"};
    r.layout["build_imports"] = {"corral_demo_textlib"};
    r.behaviour = "Its backend's get_requires_for_build_wheel asks for corral-demo-textlib, "
                  "which the build imports: fetched in a further prepare round. Passes everywhere.";
    r.rules = Always("passed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-sdistdep", "corral_demo_sdistdep",
                           "Makes file names from titles, with corral-demo-pure",
                           "from corral_demo_pure import slugify\n\n\ndef filename(title):\n"
                           "    return slugify(title) + \".txt\"\n",
                           "self.assertEqual(corral_demo_sdistdep.filename(\"Hello World\"), \"hello-world.txt\")");
    r.requires_dist = {"corral-demo-pure>=1.0"};
    r.behaviour = "Depends on corral-demo-pure, which the index has only as an sdist: the sdist is "
                  "downloaded (not built) while online and built offline in the sandbox. Passes "
                  "everywhere.";
    r.rules = Always("passed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-flaky", "corral_demo_flaky",
                           "Reverses words, with corral-demo-flakylib (behind a flaky index)",
                           "from corral_demo_flakylib import backwards\n\n\ndef mirror(text):\n"
                           "    return \" \".join(backwards(w) for w in text.split())\n",
                           "self.assertEqual(corral_demo_flaky.mirror(\"ab cd\"), \"ba dc\")");
    r.requires_dist = {"corral-demo-flakylib>=1.0"};
    r.behaviour = "Depends on corral-demo-flakylib, whose index page the demo's index refuses (503, "
                  "as an index in maintenance) for its first " + std::to_string(kFlakyIndexRefusals) +
                  " requests: the volunteer that meets the refusal reports infra_error, which never "
                  "votes; the task is retried and passes everywhere.";
    r.rules = Always("passed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-missingtool", "corral_demo_missingtool",
                           "Needs a build tool nobody published",
                           "VALUE = 1\n", "self.assertEqual(corral_demo_missingtool.VALUE, 1)");
    r.build_requires = {"corral-demo-no-such-tool>=1"};
    r.behaviour = "Its [build-system] requires names corral-demo-no-such-tool, which the index "
                  "does not have: build_failed everywhere, naming the requirement.";
    r.rules = Always("build_failed");
    out.push_back(r);
  }
  {
    DemoRelease r = simple("corral-demo-setuppy", "corral_demo_setuppy",
                           "Title-cases words; a classic setuptools setup.py project",
                           "def title(text):\n    return \" \".join(w.capitalize() for w in text.split())\n",
                           "self.assertEqual(corral_demo_setuppy.title(\"a b\"), \"A B\")");
    r.build = DemoRelease::Build::kSetupPy;
    r.behaviour =
        "A setup.py with no pyproject.toml: built with setuptools' legacy backend, setuptools and "
        "wheel coming from the index (the newest the machine has: setuptools 65.5, wheel 0.38, "
        "for Python 3.7 and later only). So: passes on 3.7 to 3.11 and PyPy; build_failed "
        "before 3.7 (the index has no setuptools or wheel for them: named in the summary) and "
        "from 3.12 (setuptools 65.5 imports pkgutil.ImpImporter, which 3.12 removed).";
    r.rules = {{{"when", {{"implementation", "pypy"}}}, {"outcome", "passed"}},
               {{"when", {{"python_below", "3.7"}}}, {"outcome", "build_failed"}},
               {{"when", {{"python_at_least", "3.12"}}}, {"outcome", "build_failed"}},
               {{"outcome", "passed"}}};
    out.push_back(r);
  }
  for (DemoRelease& r : out)
    if (r.mtime == 0) r.mtime = kDate2024Mar01;
  return out;
}

// A wheel the demo index serves next to the sdists (projects published as
// wheels only): pure Python, py2.py3, its RECORD hashing every file.
struct DemoWheel {
  std::string project, version, summary, behaviour;
  std::vector<SourceFile> files;  // paths inside the wheel, dist-info excluded
};

std::vector<DemoWheel> Wheels() {
  return {
      {"corral-demo-backend", "1.0.0",
       "The demo's PEP 517 build backend, as a wheel",
       "The build backend the corral-demo-wheelbackend sdist names, published as a wheel only: "
       "installs and imports everywhere; a wheel carries no tests.",
       {{"corral_demo_backend.py", kBackend}}},
      {"corral-demo-textlib", "1.0.0", "Shouting text helpers (published as a wheel only)",
       "A dependency of other demo packages, published as a wheel only: installs and imports "
       "everywhere; a wheel carries no tests.",
       {{"corral_demo_textlib/__init__.py", "def shout(text):\n    return text.upper() + \"!\"\n"}}},
      {"corral-demo-flakylib", "1.0.0", "Word helpers behind a flaky index page (published as a wheel only)",
       "The dependency of corral-demo-flaky; its index page is refused for a while (503). "
       "Installs and imports everywhere; a wheel carries no tests.",
       {{"corral_demo_flakylib/__init__.py", "def backwards(word):\n    return word[::-1]\n"}}},
      {"corral-demo-numlib", "1.0.0", "Number helpers (published as a wheel only)",
       "A dependency of corral-demo-app, published as a wheel only: installs and imports "
       "everywhere; a wheel carries no tests.",
       {{"corral_demo_numlib/__init__.py",
         "def clamp(x, low, high):\n    return max(low, min(high, x))\n"}}},
  };
}

// "sha256=" + urlsafe base64 without padding, as RECORD wants.
std::string RecordHash(const std::string& data) {
  std::string raw;
  HexDecode(Sha256Hex(data), &raw);
  std::string b = Base64Encode(raw);
  for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b.empty() && b.back() == '=') b.pop_back();
  return "sha256=" + b;
}

// Writes a deterministic wheel (zip, entries in order, fixed times).
bool WriteWheel(const fs::path& dir, const DemoWheel& w, int64_t mtime, std::string* err) {
  std::string dist = DistName(w.project) + "-" + w.version;
  std::string info = dist + ".dist-info/";
  std::vector<SourceFile> files = w.files;
  files.push_back({info + "METADATA", "Metadata-Version: 2.1\nName: " + w.project + "\nVersion: " + w.version +
                                          "\nSummary: " + w.summary + "\n"});
  files.push_back({info + "WHEEL", "Wheel-Version: 1.0\nGenerator: corral-demo-corpus\nRoot-Is-Purelib: true\n"
                                   "Tag: py2-none-any\nTag: py3-none-any\n"});
  std::string record;
  for (const SourceFile& f : files)
    record += f.path + "," + RecordHash(f.content) + "," + std::to_string(f.content.size()) + "\n";
  files.push_back({info + "RECORD", record + info + "RECORD,,\n"});
  fs::path target = dir / (dist + "-py2.py3-none-any.whl");
  fs::path partial = target;
  partial += ".part";
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  bool ok = archive_write_open_filename(a, partial.c_str()) == ARCHIVE_OK;
  archive_entry* e = archive_entry_new();
  for (const SourceFile& f : files) {
    if (!ok) break;
    archive_entry_clear(e);
    archive_entry_set_pathname(e, f.path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(f.content.size()));
    ok = archive_write_header(a, e) == ARCHIVE_OK &&
         archive_write_data(a, f.content.data(), f.content.size()) == static_cast<la_ssize_t>(f.content.size());
  }
  archive_entry_free(e);
  ok = archive_write_close(a) == ARCHIVE_OK && ok;
  if (!ok) *err = "writing the demo wheel " + target.string() + ": " +
                  ArchiveError(a);
  archive_write_free(a);
  std::error_code ec;
  if (ok) fs::rename(partial, target, ec);
  if (ok && ec) {
    *err = "renaming " + partial.string() + ": " + ec.message();
    ok = false;
  }
  return ok && SetMtime(target, mtime, err);
}

// PEP 503 normalisation with '_' as separator: the PEP 625 file name stem.
std::string DistName(const std::string& project) {
  std::string out;
  for (char c : project) {
    bool sep = c == '-' || c == '_' || c == '.';
    if (sep) {
      if (out.empty() || out.back() != '_') out += '_';
    } else {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string PkgInfo(const DemoRelease& r) {
  std::string s = "Metadata-Version: 2.1\nName: " + r.project + "\nVersion: " + r.version +
                  "\nSummary: " + r.summary + "\n";
  if (!r.requires_python.empty()) s += "Requires-Python: " + r.requires_python + "\n";
  for (const std::string& d : r.requires_dist) s += "Requires-Dist: " + d + "\n";
  return s;
}

std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A plain setuptools setup.py, as most of PyPI's older sdists have: no
// pyproject.toml, so frontends fall back to setuptools' legacy backend.
std::string SetupPy(const DemoRelease& r) {
  std::string packages, deps;
  for (const auto& p : r.layout["packages"]) packages += (packages.empty() ? "" : ", ") + TomlString(p.get<std::string>());
  for (const std::string& d : r.requires_dist) deps += (deps.empty() ? "" : ", ") + TomlString(d);
  return "from setuptools import setup\n\n"
         "setup(\n"
         "    name=" + TomlString(r.project) + ",\n"
         "    version=" + TomlString(r.version) + ",\n"
         "    description=" + TomlString(r.summary) + ",\n"
         "    package_dir={\"\": \"src\"},\n"
         "    packages=[" + packages + "],\n"
         "    install_requires=[" + deps + "],\n"
         ")\n";
}

std::string PyProject(const DemoRelease& r) {
  std::vector<std::string> reqs = r.build_requires;
  if (r.build == DemoRelease::Build::kBackendWheel) reqs.insert(reqs.begin(), "corral-demo-backend>=1.0");
  std::string list;
  for (const std::string& q : reqs) list += (list.empty() ? "" : ", ") + TomlString(q);
  std::string s =
      "[build-system]\n"
      "requires = [" + list + "]\n"
      "build-backend = \"corral_demo_backend\"\n" +
      std::string(r.build == DemoRelease::Build::kInTree ? "backend-path = [\"_build\"]\n" : "") +
      "\n"
      "[project]\n"
      "name = " + TomlString(r.project) + "\n"
      "version = " + TomlString(r.version) + "\n"
      "description = " + TomlString(r.summary) + "\n";
  if (!r.requires_python.empty()) s += "requires-python = " + TomlString(r.requires_python) + "\n";
  return s;
}

// Writes one deterministic .tar.gz: pax (restricted) entries sorted by path,
// owned by 0:0, all with `mtime`, gzip header without a timestamp.
bool WriteTarGz(const fs::path& target, std::vector<SourceFile> files, int64_t mtime,
                std::string* err) {
  std::set<std::string> dirs;
  for (const SourceFile& f : files) {
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1))
      dirs.insert(f.path.substr(0, slash));
  }
  struct Entry {
    std::string path;
    const std::string* content;  // null for a directory
  };
  std::vector<Entry> entries;
  for (const std::string& d : dirs) entries.push_back({d, nullptr});
  for (const SourceFile& f : files) entries.push_back({f.path, &f.content});
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });

  fs::path partial = target;
  partial += ".part";
  archive* a = archive_write_new();
  auto fail = [&](const std::string& what) {
    *err = "writing the demo sdist " + target.string() + ": " + what + ": " +
           ArchiveError(a);
    archive_write_free(a);
    std::error_code ec;
    fs::remove(partial, ec);
    return false;
  };
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) return fail("pax format");
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK) return fail("gzip filter");
  // "!timestamp": no time in the gzip header, so the bytes never vary.
  if (archive_write_set_filter_option(a, "gzip", "timestamp", nullptr) != ARCHIVE_OK)
    return fail("gzip timestamp option");
  if (archive_write_open_filename(a, partial.c_str()) != ARCHIVE_OK) return fail("open");
  archive_entry* e = archive_entry_new();
  for (const Entry& en : entries) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, en.path.c_str());
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, mtime, 0);
    if (en.content == nullptr) {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_size(e, static_cast<la_int64_t>(en.content->size()));
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) {
      archive_entry_free(e);
      return fail("header of " + en.path);
    }
    if (en.content != nullptr && !en.content->empty() &&
        archive_write_data(a, en.content->data(), en.content->size()) < 0) {
      archive_entry_free(e);
      return fail("data of " + en.path);
    }
  }
  archive_entry_free(e);
  if (archive_write_close(a) != ARCHIVE_OK) return fail("close");
  archive_write_free(a);
  std::error_code ec;
  fs::rename(partial, target, ec);
  if (ec) {
    *err = "writing the demo sdist " + target.string() + ": cannot move it into place: " +
           ec.message();
    return false;
  }
  return true;
}

bool SetMtime(const fs::path& p, int64_t unix_seconds, std::string* err) {
  using namespace std::chrono;
  auto sys = system_clock::time_point(seconds(unix_seconds));
  std::error_code ec;
  fs::last_write_time(p, file_clock::from_sys(sys), ec);
  if (ec) {
    *err = "setting the modification time of " + p.string() + ": " + ec.message();
    return false;
  }
  return true;
}

bool WriteFileAtomically(const fs::path& target, const std::string& content, std::string* err) {
  fs::path partial = target;
  partial += ".part";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) {
      *err = "writing " + partial.string() + ": " + std::strerror(errno);
      return false;
    }
  }
  std::error_code ec;
  fs::rename(partial, target, ec);
  if (ec) {
    *err = "moving " + partial.string() + " to " + target.string() + ": " + ec.message();
    return false;
  }
  return true;
}

// "3.11.7" -> {3, 11}; false when it does not start with digits.dot.digits.
bool MajorMinor(std::string_view v, int* major, int* minor) {
  *major = *minor = 0;
  auto r1 = std::from_chars(v.data(), v.data() + v.size(), *major);
  if (r1.ec != std::errc() || r1.ptr == v.data() + v.size() || *r1.ptr != '.') return false;
  auto r2 = std::from_chars(r1.ptr + 1, v.data() + v.size(), *minor);
  return r2.ec == std::errc();
}

// -1, 0, 1 comparing the X.Y of a platform's version with "X.Y".
int CompareMajorMinor(const std::string& platform_version, const std::string& bound) {
  int pm, pn, bm, bn;
  MajorMinor(platform_version, &pm, &pn);
  MajorMinor(bound, &bm, &bn);
  if (pm != bm) return pm < bm ? -1 : 1;
  if (pn != bn) return pn < bn ? -1 : 1;
  return 0;
}

}  // namespace

bool ExpectedRule::Matches(const Platform& platform) const {
  if (implementation && *implementation != platform.implementation) return false;
  if (python_below && CompareMajorMinor(platform.python_version, *python_below) >= 0)
    return false;
  if (python_at_least && CompareMajorMinor(platform.python_version, *python_at_least) < 0)
    return false;
  if (has_headers && *has_headers != platform.has_headers) return false;
  return true;
}

bool WriteDemoCorpus(const fs::path& dir, std::string* err) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *err = "creating the demo corpus folder " + dir.string() + ": " + ec.message();
    return false;
  }
  nlohmann::json packages = nlohmann::json::array();
  for (const DemoRelease& r : Releases()) {
    std::string top = DistName(r.project) + "-" + r.version;
    std::string filename = top + ".tar.gz";
    std::vector<SourceFile> files = {{top + "/PKG-INFO", PkgInfo(r)}};
    if (r.build == DemoRelease::Build::kSetupPy) {
      files.push_back({top + "/setup.py", SetupPy(r)});
    } else {
      files.push_back({top + "/pyproject.toml", PyProject(r)});
      files.push_back({top + "/_build/layout.json", r.layout.dump(2) + "\n"});
      if (r.build == DemoRelease::Build::kInTree)
        files.push_back({top + "/_build/corral_demo_backend.py", kBackend});
    }
    for (const SourceFile& f : r.files) files.push_back({top + "/" + f.path, f.content});
    fs::path target = dir / filename;
    if (!WriteTarGz(target, std::move(files), r.mtime, err)) return false;
    if (!SetMtime(target, r.mtime, err)) return false;
    packages.push_back({{"project", r.project},
                        {"version", r.version},
                        {"file", filename},
                        {"requires_python", r.requires_python},
                        {"behaviour", r.behaviour},
                        {"rules", r.rules}});
  }
  for (const DemoWheel& w : Wheels()) {
    if (!WriteWheel(dir, w, kDate2024Mar01, err)) return false;
    packages.push_back({{"project", w.project},
                        {"version", w.version},
                        {"file", DistName(w.project) + "-" + w.version + "-py2.py3-none-any.whl"},
                        {"requires_python", ""},
                        {"behaviour", w.behaviour},
                        {"rules", Always("no_tests")}});
  }
  nlohmann::json doc = {{"packages", packages}};
  if (!WriteFileAtomically(dir / "expected.json", doc.dump(2) + "\n", err)) return false;
  return SetMtime(dir / "expected.json", kDate2024Mar01, err);
}

bool CopyBuildToolWheels(const fs::path& dir, std::string* err) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *err = "creating the wheel folder " + dir.string() + ": " + ec.message();
    return false;
  }
  // Sources in order of preference; each folder's wheels sorted by name.
  std::vector<fs::path> folders = {"/usr/share/python-wheels"};
  fs::path pyenv;
  if (const char* root = std::getenv("PYENV_ROOT"); root && *root) {
    pyenv = root;
  } else if (const char* home = std::getenv("HOME"); home && *home &&
             fs::is_directory(fs::path(home) / ".pyenv", ec)) {
    pyenv = fs::path(home) / ".pyenv";
  } else {
    pyenv = "/root/.pyenv";
  }
  std::vector<fs::path> versions;
  for (const auto& v : fs::directory_iterator(pyenv / "versions", ec)) versions.push_back(v.path());
  std::sort(versions.begin(), versions.end());
  for (const fs::path& v : versions) {
    std::vector<fs::path> libs;
    for (const auto& l : fs::directory_iterator(v / "lib", ec))
      if (l.path().filename().string().rfind("python", 0) == 0) libs.push_back(l.path());
    std::sort(libs.begin(), libs.end());
    for (const fs::path& l : libs) folders.push_back(l / "ensurepip" / "_bundled");
  }
  std::set<std::string> seen;
  for (const fs::path& folder : folders) {
    std::vector<fs::path> wheels;
    for (const auto& f : fs::directory_iterator(folder, ec))
      if (f.path().extension() == ".whl" && f.is_regular_file(ec)) wheels.push_back(f.path());
    std::sort(wheels.begin(), wheels.end());
    for (const fs::path& w : wheels) {
      std::string name = w.filename().string();
      // Debian's setuptools wheel is patched for Debian's own Python (its
      // install_layout breaks every other interpreter's builds): not served.
      if (folder == "/usr/share/python-wheels" && name.rfind("setuptools-", 0) == 0) continue;
      if (!seen.insert(name).second) continue;
      fs::path target = dir / name;
      if (fs::exists(target, ec)) continue;
      fs::path partial = target;
      partial += ".part";
      fs::copy_file(w, partial, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(partial, target, ec);
      if (ec) {
        *err = "copying the build tool wheel " + w.string() + " to " + dir.string() + ": " +
               ec.message();
        return false;
      }
    }
  }
  return true;
}

bool LoadExpected(const fs::path& path, std::vector<ExpectedPackage>* out, std::string* err) {
  fs::path file = fs::is_directory(path) ? path / "expected.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *err = "reading the expected outcomes " + file.string() + ": " + std::strerror(errno) +
           " (write the demo corpus first)";
    return false;
  }
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& where, const std::string& what) {
    *err = "reading the expected outcomes " + file.string() + ": " + where + ": " + what;
    return false;
  };
  if (doc.is_discarded()) return bad("the file", "is not valid JSON");
  if (!doc.is_object() || !doc.contains("packages") || !doc["packages"].is_array())
    return bad("the file", "has no \"packages\" array");
  std::vector<ExpectedPackage> result;
  for (size_t i = 0; i < doc["packages"].size(); ++i) {
    const nlohmann::json& p = doc["packages"][i];
    std::string where = "packages[" + std::to_string(i) + "]";
    ExpectedPackage pkg;
    for (auto [key, field] : {std::pair{"project", &pkg.project},
                              std::pair{"version", &pkg.version}, std::pair{"file", &pkg.file},
                              std::pair{"behaviour", &pkg.behaviour}}) {
      if (!p.contains(key) || !p[key].is_string())
        return bad(where, std::string("missing string \"") + key + "\"");
      *field = p[key].get<std::string>();
    }
    where += " (" + pkg.project + " " + pkg.version + ")";
    if (!p.contains("rules") || !p["rules"].is_array() || p["rules"].empty())
      return bad(where, "missing non-empty \"rules\" array");
    for (size_t j = 0; j < p["rules"].size(); ++j) {
      const nlohmann::json& r = p["rules"][j];
      std::string rwhere = where + ".rules[" + std::to_string(j) + "]";
      ExpectedRule rule;
      if (!r.is_object() || !r.contains("outcome") || !r["outcome"].is_string())
        return bad(rwhere, "missing string \"outcome\"");
      rule.outcome = r["outcome"].get<std::string>();
      if (!ParseOutcome(rule.outcome))
        return bad(rwhere, "unknown outcome \"" + rule.outcome + "\"");
      if (r.contains("when")) {
        if (!r["when"].is_object()) return bad(rwhere, "\"when\" must be an object");
        for (const auto& [key, value] : r["when"].items()) {
          if (key == "has_headers") {
            if (!value.is_boolean()) return bad(rwhere, "has_headers must be true or false");
            rule.has_headers = value.get<bool>();
            continue;
          }
          if (!value.is_string()) return bad(rwhere, "condition " + key + " must be a string");
          std::string s = value.get<std::string>();
          int major, minor;
          if (key == "implementation") {
            if (s != "cpython" && s != "pypy")
              return bad(rwhere, "implementation must be \"cpython\" or \"pypy\", not \"" + s +
                                     "\"");
            rule.implementation = s;
          } else if (key == "python_below" || key == "python_at_least") {
            if (!MajorMinor(s, &major, &minor))
              return bad(rwhere, key + " must look like \"3.8\", not \"" + s + "\"");
            (key == "python_below" ? rule.python_below : rule.python_at_least) = s;
          } else {
            return bad(rwhere, "unknown condition \"" + key +
                                   "\" (known: implementation, python_below, "
                                   "python_at_least, has_headers)");
          }
        }
      }
      pkg.rules.push_back(rule);
    }
    result.push_back(std::move(pkg));
  }
  *out = std::move(result);
  return true;
}

std::string ExpectedOutcome(const ExpectedPackage& package, const Platform& platform) {
  for (const ExpectedRule& rule : package.rules)
    if (rule.Matches(platform)) return rule.outcome;
  return "";
}

}  // namespace corral
