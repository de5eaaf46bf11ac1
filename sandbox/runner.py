# -*- coding: utf-8 -*-
# Corral's in-sandbox runner. The C++ sandbox (sandbox/sandbox.cc) writes this
# file and a job description (job.json) into /job/.corral, read-only, then
# runs it inside bubblewrap with the task's base interpreter:
#
#   python runner.py /job/.corral/job.json          one job, or a venv template
#   python runner.py _hook HOOK OUT BACKEND PATHS    a PEP 517 hook (build env)
#   python runner.py _import OUT MODULE...           import check (test env)
#   python runner.py _unittest JUNIT START_DIR [IDS] unittest with JUnit XML (IDS: re-run those)
#
# It must run unchanged on CPython 2.7, 3.6..3.13 and PyPy: no f-strings, no
# subprocess.run, no pathlib, no pipes module (gone in 3.13).
#
# It decides only the outcomes that are the package's fault (build_failed,
# install_failed, import_failed, no_tests) or the runner's own failure to set
# up (infra_error); test counts are read by the C++ side from the JUnit XML.
# Everything it learns goes to /job/result.json.
from __future__ import print_function

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import zipfile

try:
    from shlex import quote as _quote
except ImportError:  # Python 2.7
    from pipes import quote as _quote

RESULT_VERSION = 1
# /job inside the sandbox. Only `corral`'s overhead benchmark runs the
# runner bare (no sandbox), on trusted packages, with CORRAL_JOB_DIR set.
JOB = os.environ.get("CORRAL_JOB_DIR") or "/job"
ENV_PY = JOB + "/env/bin/python"
BUILD_ENV = JOB + "/buildenv"
RUNNER = os.path.abspath(__file__)


def _now():
    return time.time()


def _out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


class Job(object):
    """The state of one run: the result document and the step bookkeeping."""

    def __init__(self, spec):
        self.spec = spec
        self.result = {
            "version": RESULT_VERSION,
            "mode": spec.get("mode"),
            "outcome": None,
            "summary": "",
            "failed_step": "",
            "steps": [],
            "commands": [],
            "wheel": "",
            "build_seconds": 0.0,
            "test_seconds": 0.0,
            "tests": {"runner": "none", "rc": None, "junit": ""},
            "probe": probe_isolation(),
        }

    def header(self, name, what):
        _out("\n==> [corral] %s: %s\n" % (name, what))

    def run(self, argv, cwd=None, keep_tail=16384, env=None):
        """Runs argv with output teed to our stdout; returns (rc, tail text)."""
        line = " ".join(_quote(a) for a in argv)
        if cwd:
            line = "cd %s && %s" % (_quote(cwd), line)
        self.result["commands"].append(line)
        _out("$ %s\n" % line)
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, env=env,
                                    stderr=subprocess.STDOUT, close_fds=True)
        except OSError as e:
            return 127, "cannot start %s: %s" % (argv[0], e)
        tail = b""
        out = getattr(sys.stdout, "buffer", sys.stdout)
        for chunk in iter(lambda: proc.stdout.read1(4096) if hasattr(proc.stdout, "read1")
                          else proc.stdout.readline(), b""):
            out.write(chunk)
            out.flush()
            tail = (tail + chunk)[-keep_tail:]
        proc.stdout.close()
        rc = proc.wait()
        if rc != 0:
            _out("[corral] exit status %d\n" % rc)
        return rc, _text(tail)

    def step(self, name, seconds, ok):
        self.result["steps"].append({"name": name, "seconds": round(seconds, 3), "ok": ok})

    def fail(self, outcome, step, summary):
        self.result["outcome"] = outcome
        self.result["failed_step"] = step
        self.result["summary"] = summary[:500]
        _out("[corral] %s: %s\n" % (outcome, summary))

    def write(self):
        path = os.path.join(JOB, "result.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.result, f, indent=1, sort_keys=True)
        os.rename(tmp, path)


def probe_isolation():
    """What the sandbox looks like from inside: the C++ side reports it."""
    ifaces = []
    try:
        with open("/proc/net/dev") as f:
            for line in f.readlines()[2:]:
                ifaces.append(line.split(":")[0].strip())
    except (IOError, OSError):
        pass
    root_writable = os.access("/usr", os.W_OK)
    # The seccomp mode and filter count this process runs under (-1: unknown).
    seccomp = {"Seccomp": -1, "Seccomp_filters": -1}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in seccomp:
                    seccomp[key] = int(value.strip())
    except (IOError, OSError, ValueError):
        pass
    return {"net_interfaces": sorted(ifaces), "pid": os.getpid(), "uid": os.getuid(),
            "usr_writable": root_writable, "seccomp_mode": seccomp["Seccomp"],
            "seccomp_filters": seccomp["Seccomp_filters"], "net_connect": probe_connect()}


def probe_connect():
    """Tries a TCP connection out (to a literal address: no DNS). In an empty
    network namespace this fails at once with ENETUNREACH."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(("1.1.1.1", 53))
        return "connected"
    except socket.timeout:
        return "timeout"
    except (IOError, OSError) as e:
        return "refused: %s" % (e,)
    finally:
        s.close()


def last_line(text, prefer=None):
    """The most telling line of a tool's output, for a one-line summary."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if prefer:
        for l in reversed(lines):
            for p in prefer:
                if p in l:
                    return l
    return lines[-1] if lines else ""


def compile_error_summary(text):
    for l in text.splitlines():
        if "Python.h" in l and "No such file" in l:
            return "Python.h not found (the interpreter has no development headers)"
    for l in text.splitlines():
        if "error:" in l and (".c:" in l or ".cpp:" in l or ".h:" in l):
            return l.strip()
    return ""


# ---------------------------------------------------------------- templates

def make_env(job):
    spec = job.spec
    python = spec["python"]
    t0 = _now()
    if spec.get("major", 3) == 2:
        job.header("venv", "virtualenv for Python 2 at %s/env" % JOB)
        host = spec.get("virtualenv_python") or "/usr/bin/python3"
        rc, tail = job.run([host, "-m", "virtualenv", "--no-seed", "--no-periodic-update",
                            "-p", python, JOB + "/env"])
        if rc == 0:
            rc, tail = job.run([ENV_PY, "-m", "ensurepip"])
    else:
        job.header("venv", "python -m venv %s/env" % JOB)
        rc, tail = job.run([python, "-m", "venv", JOB + "/env"])
    if rc == 0:
        rc, tail = job.run([ENV_PY, "-m", "pip", "--version"])
    job.step("venv", _now() - t0, rc == 0)
    if rc != 0:
        job.fail("infra_error", "venv", "cannot create a virtual environment with %s: %s"
                 % (python, last_line(tail, ["Error", "error"])))


# ---------------------------------------------------------------- prepare

def start_relay(socket_path):
    """A loopback TCP port inside the sandbox relaying each connection to the
    volunteer's index proxy, a unix socket bound in (sandbox/index_proxy.h):
    pip speaks HTTP to 127.0.0.1, the proxy decides what may pass."""
    import select
    import socket
    import threading
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def pump(a, b):
        try:
            while True:
                ready = select.select([a, b], [], [], 120)[0]
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except (IOError, OSError):
            pass
        finally:
            a.close()
            b.close()

    def serve():
        while True:
            client = server.accept()[0]
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(socket_path)
            except (IOError, OSError):
                client.close()
                continue
            t = threading.Thread(target=pump, args=(client, upstream))
            t.daemon = True
            t.start()

    t = threading.Thread(target=serve)
    t.daemon = True
    t.start()
    return server.getsockname()[1]


def pip_env():
    env = dict(os.environ)
    env.pop("PIP_NO_INDEX", None)
    return env


def missing_requirements(text):
    """What pip could not find, as [(requirement, what the index offers)]."""
    found, ignored = [], ""
    marker = "satisfies the requirement "
    for line in text.splitlines():
        if "require a different python version" in line:
            ignored = line.split(":", 1)[-1].strip()
        at = line.find(marker)
        if at >= 0:
            rest = line[at + len(marker):].strip()
            req, offers = rest, "none"
            if " (from versions:" in rest:
                req, _, offers = rest.partition(" (from versions:")
                offers = offers.rstrip(")").strip() or "none"
            if " (from " in req:  # pip 18-19: "six>=2 (from foo==1.0)"
                req = req.split(" (from ")[0]
            found.append([req.strip(), offers])
    if not found:
        for line in text.splitlines():
            if "No matching distribution found for " in line:
                found.append([line.split("No matching distribution found for ")[-1].strip(), "none"])
    for f in found:
        if ignored:
            f[1] = "%s; for other Pythons only: %s" % (f[1], ignored)
    return [tuple(f) for f in found[:1]]


def prepare(job):
    """An online round, the only kind with egress: downloads what `fetch`
    lists, as files, with pip's own resolver, tags, markers and hash checks,
    into the job's wheelhouse. Runs no code of the package or its
    dependencies. A requirement with no usable wheel but an sdist on the
    index has the sdist downloaded (not built) with its own static build
    requirements. The C++ side judges the result (sandbox.cc, PrepareRound)."""
    spec = job.spec
    t0 = _now()
    dest = spec["wheelhouse_out"]
    sdists = os.path.join(dest, "sdists")
    for d in (dest, sdists):
        if not os.path.isdir(d):
            os.makedirs(d)
    port = start_relay(spec["proxy_socket"])
    index = "http://127.0.0.1:%d%s" % (port, spec.get("index_path") or "/simple/")
    base = [ENV_PY, "-m", "pip", "download", "--only-binary", ":all:", "--no-cache-dir",
            "--disable-pip-version-check", "--dest", dest, "--index-url", index]
    for wh in wheelhouses(job):
        base += ["--find-links", wh]
    missing, errors = [], []
    queue = list(spec.get("fetch") or [])
    while queue:
        item = queue.pop(0)
        kind = item.get("kind") or "build"
        targets = [item["wheel"]] if item.get("wheel") else list(item.get("reqs") or [])
        if not targets:
            continue
        job.header("prepare", "%s: %s" % (kind, ", ".join(os.path.basename(t) for t in targets)))
        rc, tail = job.run(base + targets, env=pip_env())
        if rc == 0:
            continue
        failures = [(targets[0], tail)]
        if len(targets) > 1:
            # One at a time: name what the index lacks, let the rest through.
            failures = []
            for t in targets:
                job.header("prepare", "%s, on its own: %s" % (kind, t))
                rc1, tail1 = job.run(base + [t], env=pip_env())
                if rc1 != 0:
                    failures.append((t, tail1))
        for target, text in failures:
            found = missing_requirements(text)
            if not found:
                errors.append(pip_error(text) or "pip download exited with an error")
                continue
            for req, offers in found:
                if offers.startswith("none") and kind != "test":
                    got = fetch_sdist(job, index, req, sdists)
                    if got is not None:
                        if got:
                            queue.append({"kind": "dep-build", "reqs": got})
                        continue
                missing.append({"req": req, "kind": kind, "offers": offers})
    job.result["missing"] = missing
    job.result["fetch_failed"] = bool(errors)
    job.result["fetch_error"] = "; ".join(errors)[:500]
    job.step("prepare", _now() - t0, not errors and not missing)
    return True


def fetch_sdist(job, index, req, dest):
    """Downloads the newest sdist the index offers for `req` into `dest`
    (hash checked; not built). Returns its static build requirements, or
    None when there is no such sdist."""
    out = os.path.join(JOB, "sdist-pick.json")
    rc, tail = job.run([ENV_PY, RUNNER, "_fetch_sdist", out, index, req, dest], env=pip_env())
    try:
        with open(out) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    if not data.get("file"):
        return None
    return data.get("requires") or []


def fetch_sdist_main(argv):
    """_fetch_sdist OUT INDEX REQ DEST, run with the job env's python (pip's
    vendored packaging and TOML reader): reads the project's index page,
    picks the newest sdist whose version and Requires-Python fit, downloads
    it with its sha256 checked and records its [build-system] requires."""
    out, index, req_text, dest = argv
    try:
        from urllib.request import Request, urlopen
        from urllib.parse import urljoin
    except ImportError:  # Python 2.7
        from urllib2 import Request, urlopen
        from urlparse import urljoin
    import hashlib
    import platform
    import re
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.version import parse as parse_version
    result = {"file": "", "requires": []}
    req = Requirement(req_text)
    name = re.sub(r"[-_.]+", "-", req.name).lower()
    page_url = index.rstrip("/") + "/" + name + "/"
    r = urlopen(Request(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}), timeout=60)
    body = _text(r.read())
    files = []  # (filename, url, sha256, requires_python, yanked)
    if "json" in (r.headers.get("Content-Type") or ""):
        for f in json.loads(body).get("files", []):
            files.append((f.get("filename", ""), f.get("url", ""), (f.get("hashes") or {}).get("sha256", ""),
                          f.get("requires-python") or "", bool(f.get("yanked"))))
    else:
        for tag in re.findall(r"<a [^>]*>[^<]*</a>", body):
            href = (re.findall(r'href="([^"]*)"', tag) or [""])[0].replace("&amp;", "&")
            rp = (re.findall(r'data-requires-python="([^"]*)"', tag) or [""])[0].replace("&gt;", ">").replace("&lt;", "<")
            sha = href.split("#sha256=")[1] if "#sha256=" in href else ""
            files.append((href.split("#")[0].rsplit("/", 1)[-1], href, sha, rp, "data-yanked" in tag))
    here = platform.python_version()
    best = None
    for filename, url, sha, rp, yanked in files:
        low = filename.lower()
        if yanked or not sha or not (low.endswith(".tar.gz") or low.endswith(".zip")):
            continue
        stem = filename[:-7] if low.endswith(".tar.gz") else filename[:-4]
        version = stem.rsplit("-", 1)[-1]
        if not req.specifier.contains(version, prereleases=False):
            continue
        if rp and not SpecifierSet(rp).contains(here, prereleases=True):
            continue
        if best is None or parse_version(version) > parse_version(best[0]):
            best = (version, filename, url, sha)
    if best:
        version, filename, url, sha = best
        data = urlopen(urljoin(page_url, url.split("#")[0]), timeout=120).read()
        if hashlib.sha256(data).hexdigest() != sha:
            raise RuntimeError("%s does not match the sha256 its index page states" % filename)
        with open(os.path.join(dest, filename), "wb") as f:
            f.write(data)
        result = {"file": filename, "requires": sdist_build_system(os.path.join(dest, filename))["requires"]}
        print("[corral] %s: no wheel fits; downloaded the sdist %s to build offline" % (req_text, filename))
    with open(out, "w") as f:
        json.dump(result, f)
    return 0


def _toml_loads(text):
    for mod in ("tomllib", "pip._vendor.tomli", "pip._vendor.toml", "pip._vendor.pytoml"):
        try:
            m = __import__(mod, fromlist=["loads"])
            return m.loads(text)
        except ImportError:
            continue
    raise RuntimeError("no TOML reader in this environment's pip")


def sdist_build_system(path):
    """[build-system] of an sdist archive, read as data (PEP 517/518, with
    the setuptools fallback); {"requires", "backend", "backend_path"}."""
    import tarfile
    text = None
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                if n.count("/") == 1 and n.endswith("/pyproject.toml"):
                    text = _text(z.read(n))
    else:
        with tarfile.open(path) as t:
            for m in t.getmembers():
                if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml") and m.isfile():
                    text = _text(t.extractfile(m).read())
    fallback = {"requires": ["setuptools>=40.8.0", "wheel"],
                "backend": "setuptools.build_meta:__legacy__", "backend_path": []}
    if text is None:
        return fallback
    bs = _toml_loads(text).get("build-system")
    if not isinstance(bs, dict):
        return fallback
    return {"requires": list(bs.get("requires") or []),
            "backend": bs.get("build-backend") or "setuptools.build_meta:__legacy__",
            "backend_path": list(bs.get("backend-path") or [])}


# ---------------------------------------------------------------- build

def pip_error(tail):
    return last_line(tail, ["No matching distribution", "Could not find a version",
                            "ERROR:", "Error:", "error:"])


class Build(object):
    """One PEP 517 build: a source tree, its backend and build environment."""

    def __init__(self, src, backend, backend_path, requires, env_dir, wheel_dir, label):
        self.src, self.backend, self.backend_path = src, backend, backend_path
        self.requires, self.env_dir, self.wheel_dir, self.label = requires, env_dir, wheel_dir, label


def call_hook(job, b, name, out):
    argv = [build_python(job, b), RUNNER, "_hook", name, out, b.backend,
            json.dumps(b.backend_path or []), b.wheel_dir]
    rc, tail = job.run(argv, cwd=b.src)
    data = None
    try:
        with open(out) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        pass
    return rc, tail, data


def build_python(job, b):
    """The build env's python: the read-only template until something must
    be installed into it, then a private copy at b.env_dir."""
    if os.path.isdir(b.env_dir):
        return b.env_dir + "/bin/python"
    return (job.spec.get("build_env_template") or b.env_dir) + "/bin/python"


def install_build_requires(job, b, reqs):
    if not reqs:
        return True, ""
    if not os.path.isdir(b.env_dir):
        rc, tail = job.run(["cp", "-a", job.spec.get("build_env_template") or BUILD_ENV, b.env_dir])
        if rc != 0:
            raise RuntimeError("cannot copy the build environment: " + last_line(tail))
    argv = [b.env_dir + "/bin/python", "-m", "pip", "install", "--no-index", "--no-cache-dir",
            "--disable-pip-version-check"]
    for wh in wheelhouses(job):
        argv += ["--find-links", wh]
    rc, tail = job.run(argv + list(reqs))
    return rc == 0, tail


def run_build(job, b, extra_kind):
    """Builds b's wheel offline. Returns ("ok", wheel path), ("needs",
    [requirements the backend asked for that are not here]) or ("failed",
    summary)."""
    done = os.path.join(b.env_dir + ".static-done")
    if not os.path.exists(done):
        ok, tail = install_build_requires(job, b, b.requires)
        if not ok:
            return "failed", "build requirements %s cannot be installed offline: %s" % (
                ", ".join(b.requires), pip_error(tail))
        open(done, "w").close()
    rc, tail, data = call_hook(job, b, "get_requires_for_build_wheel", b.env_dir + ".requires.json")
    if not data or not data.get("ok"):
        return "failed", "get_requires_for_build_wheel failed: %s" % hook_error(data, rc, tail)
    extra = [x for x in (data.get("value") or []) if x]
    if extra:
        ok, tail = install_build_requires(job, b, extra)
        if not ok:
            if job.spec.get("online") and extra_kind not in job.spec.get("fetched", []):
                _out("[corral] the backend asks for %s: fetching in a further round\n" % ", ".join(extra))
                return "needs", extra
            return "failed", "build requirements %s (from get_requires_for_build_wheel) cannot be " \
                             "installed offline: %s" % (", ".join(extra), pip_error(tail))
    rc, tail, data = call_hook(job, b, "build_wheel", b.env_dir + ".wheel.json")
    if not data or not data.get("ok"):
        return "failed", compile_error_summary(tail) or "build_wheel failed: %s" % hook_error(data, rc, tail)
    name = data.get("value") or ""
    wheel = os.path.join(b.wheel_dir, os.path.basename(str(name)))
    if not name.endswith(".whl") or not os.path.isfile(wheel):
        return "failed", "build_wheel returned %r but no such wheel is in %s" % (name, b.wheel_dir)
    return "ok", wheel


def build(job):
    spec = job.spec
    t0 = _now()
    job.header("build", "PEP 517 backend %s" % spec["backend"])
    b = Build(spec["source"], spec["backend"], spec.get("backend_path", []), spec.get("requires", []),
              BUILD_ENV, JOB + "/dist", spec.get("project", ""))
    status, value = run_build(job, b, "build-extra")
    seconds = _now() - t0
    job.result["build_seconds"] = round(seconds, 3)
    if status == "needs":
        job.result["needs"] = [{"kind": "build-extra", "reqs": value}]
        return False
    job.step("build", seconds, status == "ok")
    if status == "failed":
        job.fail("build_failed", "build", value)
        return False
    job.result["wheel"] = value
    return True


def build_dependency_sdists(job):
    """Builds, offline, the dependency sdists a prepare round downloaded
    (no wheel of them fits this interpreter) into /job/built. Returns True
    when all are built, False when the job ended or asked for a round."""
    sdists = os.path.join(JOB, "wheelhouse", "sdists")
    built = os.path.join(JOB, "built")
    names = sorted(os.listdir(sdists)) if os.path.isdir(sdists) else []
    for i, name in enumerate(names):
        marker = os.path.join(built, name + ".built")
        if os.path.exists(marker):
            continue
        job.header("build", "dependency sdist %s (no wheel of it fits this interpreter)" % name)
        src_root = os.path.join(JOB, "depsrc", str(i))
        if not os.path.isdir(src_root):
            os.makedirs(src_root)
            import tarfile
            path = os.path.join(sdists, name)
            if name.lower().endswith(".zip"):
                zipfile.ZipFile(path).extractall(src_root)
            else:
                tarfile.open(path).extractall(src_root)
        entries = os.listdir(src_root)
        src = os.path.join(src_root, entries[0]) if len(entries) == 1 else src_root
        bs = sdist_build_system(os.path.join(sdists, name))
        b = Build(src, bs["backend"], bs["backend_path"], bs["requires"],
                  JOB + "/buildenv-dep-%d" % i, built, name)
        status, value = run_build(job, b, "dep-build")
        if status == "needs":
            job.result["needs"] = [{"kind": "dep-build", "reqs": value}]
            return False
        if status == "failed":
            job.fail("install_failed", "install", "the dependency %s (an sdist: no wheel of it fits "
                     "this interpreter) does not build: %s" % (name, value))
            return False
        open(marker, "w").close()
    return True


def hook_error(data, rc, tail):
    if data and data.get("error"):
        return data["error"]
    if rc < 0:
        return "the backend process died with signal %d" % -rc
    return "the backend process exited with status %d: %s" % (rc, last_line(tail))


def hook_main(argv):
    name, out, backend, paths = argv[0], argv[1], argv[2], json.loads(argv[3])
    wheel_dir = argv[4] if len(argv) > 4 else os.path.join(JOB, "dist")
    # The runner's own folder must not shadow the backend's modules.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(RUNNER):
        del sys.path[0]
    here = os.getcwd()
    sys.path[0:0] = [os.path.normpath(os.path.join(here, p)) for p in paths]
    result = {"ok": False}
    try:
        import importlib
        mod_name, _, obj_path = backend.partition(":")
        obj = importlib.import_module(mod_name)
        for part in [p for p in obj_path.split(".") if p]:
            obj = getattr(obj, part)
        if name == "get_requires_for_build_wheel":
            hook = getattr(obj, name, None)
            value = list(hook(None)) if hook else []
        elif name == "build_wheel":
            if not os.path.isdir(wheel_dir):
                os.makedirs(wheel_dir)
            value = obj.build_wheel(wheel_dir, None, None)
        else:
            raise ValueError("unknown hook %s" % name)
        result = {"ok": True, "value": value}
    except BaseException:
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        lines = [l for l in tb.strip().splitlines() if l.strip()]
        result = {"ok": False, "error": lines[-1].strip() if lines else "unknown error",
                  "traceback": "\n".join(lines[-12:])}
    with open(out, "w") as f:
        json.dump(result, f)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0 if result["ok"] else 1


# ---------------------------------------------------------------- install / import

def wheel_requires_dist(wheel):
    """The Requires-Dist lines of a wheel's METADATA (read as data)."""
    with zipfile.ZipFile(wheel) as z:
        for e in z.namelist():
            parts = e.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                text = _text(z.read(e))
                head = text.split("\n\n", 1)[0]
                return [l.split(":", 1)[1].strip() for l in head.splitlines()
                        if l.lower().startswith("requires-dist:")]
    return []


def install(job):
    """Installs the wheel with its dependencies, offline, from the
    wheelhouses. Asks for a further round while one is possible and a
    dependency is not here."""
    t0 = _now()
    wheel = job.result["wheel"]
    job.header("install", os.path.basename(wheel) + " with its dependencies, offline")
    argv = [ENV_PY, "-m", "pip", "install", "--no-index", "--no-cache-dir",
            "--disable-pip-version-check"]
    for wh in wheelhouses(job):
        argv += ["--find-links", wh]
    rc, tail = job.run(argv + [wheel])
    job.step("install", _now() - t0, rc == 0)
    if rc != 0:
        missing = missing_requirements(tail)
        if missing and job.spec.get("online"):
            _out("[corral] %s is not here yet: another round\n" % missing[0][0])
            job.result["needs"] = [{"kind": "runtime", "wheel": wheel}]
            return False
        if missing:
            job.fail("install_failed", "install", "dependency '%s' is not on the index for this "
                     "interpreter (the index offers: %s)" % missing[0])
        else:
            job.fail("install_failed", "install", pip_error(tail) or "pip exited with %d" % rc)
        return False
    return True


def _identifier(name):
    if not name or name[0].isdigit():
        return False
    return all(c.isalnum() or c == "_" for c in name)


def top_level_modules(wheel):
    names = set()
    with zipfile.ZipFile(wheel) as z:
        entries = z.namelist()
        for e in entries:
            parts = e.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "top_level.txt":
                # top_level.txt may name modules the wheel does not ship (a
                # patched build's leftovers): import only what is really there.
                roots = set(x.split("/")[0] for x in entries)
                for l in _text(z.read(e)).splitlines():
                    l = l.strip().replace("/", ".")
                    first = l.split(".")[0]
                    shipped = first in roots or (first + ".py") in roots or any(
                        r.startswith(first + ".") and (r.endswith(".so") or r.endswith(".pyd"))
                        for r in roots)
                    if l and _identifier(first) and shipped:
                        names.add(l)
                if names:
                    return sorted(names)
        for e in entries:
            parts = e.split("/")
            first = parts[0]
            if first.endswith(".dist-info") or first.endswith(".data") or first == "__pycache__":
                continue
            if len(parts) > 1:
                if _identifier(first):
                    names.add(first)
            elif first.endswith(".py"):
                names.add(first[:-3])
            elif first.endswith(".so") or first.endswith(".pyd"):
                names.add(first.split(".")[0])
    return sorted(n for n in names if _identifier(n))


def import_check(job):
    t0 = _now()
    modules = top_level_modules(job.result["wheel"])
    job.result["modules"] = modules
    job.header("import", ", ".join(modules) or "(no top-level modules)")
    if not modules:
        job.step("import", _now() - t0, True)
        return True
    out = JOB + "/import.json"
    rc, tail = job.run([ENV_PY, RUNNER, "_import", out] + modules, cwd=JOB + "/home")
    data = None
    try:
        with open(out) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        pass
    job.step("import", _now() - t0, rc == 0)
    if rc == 0 and data and not data.get("failed"):
        return True
    if data and data.get("failed"):
        job.fail("import_failed", "import", "import %s failed: %s" % (data["failed"], data["error"]))
    else:
        current = ""
        try:
            with open(out + ".current") as f:
                current = f.read().strip()
        except (IOError, OSError):
            pass
        how = ("signal %d" % -rc) if rc < 0 else ("status %d" % rc)
        job.fail("import_failed", "import", "import %s crashed the interpreter (%s)"
                 % (current or "?", how))
    return False


def import_main(argv):
    out, modules = argv[0], argv[1:]
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(RUNNER):
        del sys.path[0]
    result = {"failed": "", "error": "", "imported": []}
    for m in modules:
        with open(out + ".current", "w") as f:
            f.write(m)
        print("import %s" % m)
        sys.stdout.flush()
        try:
            __import__(m)
            result["imported"].append(m)
        except BaseException as e:
            traceback.print_exc()
            line = traceback.format_exception_only(type(e), e)[-1].strip()
            result["failed"], result["error"] = m, line
            break
    with open(out, "w") as f:
        json.dump(result, f)
    return 1 if result["failed"] else 0


# ---------------------------------------------------------------- tests

def _read_ini(path, section):
    """A section of an INI file (pytest.ini, setup.cfg, tox.ini) as a dict."""
    try:
        import configparser
    except ImportError:  # Python 2.7
        import ConfigParser as configparser
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
        return dict(parser.items(section)) if parser.has_section(section) else None
    except Exception:
        return None


def _toml_pytest_option(text, key):
    """An option of [tool.pytest.ini_options] in a pyproject.toml as a list
    of strings, read without a TOML library (the base interpreter may have
    none): None when the section is absent, [] when the option is."""
    import re
    m = re.search(r"^\[tool\.pytest\.ini_options\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not m:
        return None
    t = re.search(r"^%s\s*=\s*(\[(?:\"(?:[^\"\\\\]|\\\\.)*\"|'[^']*'|[^\]\"'])*\]|\"[^\"]*\"|'[^']*')" % key,
                  m.group(1), re.M | re.S)
    if not t:
        return []
    return [a or b for a, b in re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'', t.group(1))]


def configured_pytest(src):
    """(where the project's pytest configuration is, its testpaths, its
    python_files patterns), in pytest's own order of precedence; (None,
    [], []) when there is none."""
    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest")):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            cfg = _read_ini(path, section)
            if cfg is not None:
                return name, (cfg.get("testpaths") or "").split(), (cfg.get("python_files") or "").split()
    path = os.path.join(src, "pyproject.toml")
    if os.path.isfile(path):
        with open(path) as f:
            text = f.read()
        paths = _toml_pytest_option(text, "testpaths")
        if paths is not None:
            return "pyproject.toml", paths, _toml_pytest_option(text, "python_files") or []
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            cfg = _read_ini(path, section)
            if cfg is not None:
                return name, (cfg.get("testpaths") or "").split(), (cfg.get("python_files") or "").split()
    return None, [], []


def is_test_file(f, patterns=None):
    """Whether pytest (with the project's python_files patterns, when it
    has some) or unittest would collect file f."""
    if patterns:
        import fnmatch
        return any(fnmatch.fnmatch(f, p) for p in patterns)
    return f.endswith(".py") and (f.startswith("test_") or f.startswith("tests.") or f == "tests.py"
                                  or f.endswith("_test.py") or f.startswith("test"))


def has_test_files(d, patterns=None):
    if os.path.isfile(d):
        return is_test_file(os.path.basename(d), patterns)
    for root, dirs, files in os.walk(d):
        for f in files:
            if is_test_file(f, patterns):
                return True
    return False


def unittest_only_files(src, paths, pyargs):
    """Whether the suite's folders hold test modules that unittest's default
    pattern (test*.py) matches and pytest's default python_files do not."""
    dirs = [os.path.join(src, p) for p in paths]
    for name in pyargs:
        for base in ("", "src"):
            dirs.append(os.path.join(src, base, name.replace(".", os.sep)))
    for d in dirs:
        if os.path.isfile(d):
            continue
        for root, _, files in os.walk(d):
            for f in files:
                if f.startswith("test") and f.endswith(".py") and not (f.startswith("test_")
                                                                     or f.endswith("_test.py")):
                    return True
    return False


def wheel_packages(wheel):
    """The dotted names of the packages a wheel installs (folders holding
    .py files), so tests are run from the installed copy only when the
    wheel ships them."""
    names = set()
    try:
        with zipfile.ZipFile(wheel) as z:
            for n in z.namelist():
                if n.endswith(".py") and "/" in n and ".dist-info/" not in n and ".data/" not in n:
                    names.add(n.rsplit("/", 1)[0].replace("/", "."))
    except Exception:
        pass
    return names


def find_suite(src, modules, shipped=None):
    """Where the project's tests are: (source of the answer, [paths relative
    to the sdist root], [installed test packages to run with --pyargs]).
    The project's pytest testpaths first, then the usual layouts, then test
    files at the root, then test modules anywhere in the installed package
    (unittest discovery's reach). `shipped`: the packages the wheel
    installs; tests inside the package count only when it ships them."""
    where, paths, patterns = configured_pytest(src)
    found = [p for p in paths if os.path.exists(os.path.join(src, p))
             and has_test_files(os.path.join(src, p), patterns)]
    if found:
        return "testpaths in %s" % where, found, []
    roots = sorted(set(m.split(".")[0] for m in modules))
    for name in ("tests", "test", "testing", "src/tests", "src/test"):
        if os.path.isdir(os.path.join(src, name)) and has_test_files(os.path.join(src, name), patterns):
            return "the %s/ folder" % name, [name], []
    inside = []
    for root in roots:
        for sub in ("tests", "test"):
            for base in ("", "src/"):
                d = os.path.join(src, base + root, sub)
                if os.path.isdir(d) and has_test_files(d, patterns) and \
                        (shipped is None or "%s.%s" % (root, sub) in shipped):
                    inside.append("%s.%s" % (root, sub))
    if inside:
        return "tests inside the package (run against the installed copy)", [], sorted(set(inside))
    for base in ("", "src"):
        folder = os.path.join(src, base)
        if not os.path.isdir(folder):
            continue
        files = sorted(os.path.join(base, f) if base else f for f in os.listdir(folder)
                       if os.path.isfile(os.path.join(folder, f)) and f.endswith(".py")
                       and (is_test_file(f, patterns) if patterns else (f.startswith("test_") or f.endswith("_test.py"))))
        if files:
            return "test files at the root of the sdist" if not base else "test files in src/", files, []
    # Last, unittest discovery's reach: test modules anywhere in a package
    # the wheel installs (pkg/test_x.py, pkg/sub/tests/...).
    anywhere = []
    for root in roots:
        for base in ("", "src/"):
            d = os.path.join(src, base + root)
            if not os.path.isdir(d):
                continue
            for where_, dirs, names in os.walk(d):
                dirs.sort()
                rel = os.path.relpath(where_, os.path.join(src, base)).replace(os.sep, ".")
                if (shipped is None or rel in shipped) and \
                        any(n.startswith("test") and n.endswith(".py") for n in names):
                    anywhere.append(root)
                    break
    if anywhere:
        return "test modules inside the package (run against the installed copy)", [], sorted(set(anywhere))
    return None, [], []


# Files that Python imports: an in-tree one must never stand in for the
# installed copy.
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd")


def installed_origin(job, root):
    """Where the installed top-level module `root` lives: its package folder
    or its module file, found without running it (importlib's find_spec, from
    the job's home, so the tree is not on the path); None when it is not
    installed."""
    out = JOB + "/installed-origin.txt"
    if os.path.exists(out):
        os.remove(out)
    job.run([ENV_PY, "-c", "import os, sys\ntry:\n    import importlib.util as u\n"
             "    s = u.find_spec(sys.argv[1])\n    loc = list(s.submodule_search_locations or []) if s else []\n"
             "    o = loc[0] if loc else (s.origin if s and s.origin and os.path.isfile(s.origin) else '')\n"
             "except ImportError:\n    import imp\n    o = imp.find_module(sys.argv[1])[1]\n"
             "open(sys.argv[2], 'w').write(o)", root, out], cwd=JOB + "/home")
    try:
        with open(out) as f:
            origin = f.read().strip()
    except (IOError, OSError):
        return None
    return origin if origin and os.path.exists(origin) else None


def link_farm(installed, where):
    """`where` becomes a copy of the installed folder made of links: each
    installed file is a link to it, so the code that runs is the installed
    wheel's; the sdist's files the wheel does not install are kept when
    they are not code (data a test reads beside the package). Folders are
    real, so `pkg/../scripts/x` still leads to the sdist's own files."""
    in_tree = {}
    for base, dirs, names in os.walk(where):
        for n in names:
            rel = os.path.relpath(os.path.join(base, n), where)
            if not n.endswith(CODE_SUFFIXES):
                in_tree[rel] = os.path.join(base, n)
    keep = JOB + "/in-tree-keep"
    if os.path.isdir(keep):
        shutil.rmtree(keep)
    os.makedirs(keep)
    for rel, path in in_tree.items():
        dest = os.path.join(keep, rel)
        if not os.path.isdir(os.path.dirname(dest)):
            os.makedirs(os.path.dirname(dest))
        os.rename(path, dest)
    shutil.rmtree(where)
    for base, dirs, names in os.walk(installed):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel_dir = os.path.relpath(base, installed)
        target_dir = os.path.normpath(os.path.join(where, rel_dir))
        if not os.path.isdir(target_dir):
            os.makedirs(target_dir)
        for n in names:
            os.symlink(os.path.join(base, n), os.path.join(target_dir, n))
    for rel in in_tree:
        dest = os.path.join(where, rel)
        if os.path.lexists(dest):
            continue
        if not os.path.isdir(os.path.dirname(dest)):
            os.makedirs(os.path.dirname(dest))
        os.rename(os.path.join(keep, rel), dest)
    shutil.rmtree(keep)


def hide_in_tree_package(job, run_dir, modules):
    """The sdist's own copy of each installed top-level package, in the test
    tree, becomes a link farm of the installed copy (link_farm): whatever
    the tests import or run by path (pkg/__init__.py as a script,
    pkg/../bin/tool), the code is the installed wheel's, never the in-tree
    sources. A module file becomes a link to the installed one; an in-tree
    copy of something not installed (or installed as a C extension only) is
    removed. Returns the paths changed, relative to the tree."""
    hidden = []
    for root in sorted(set(m.split(".")[0] for m in modules)):
        origin = None
        for base in ("", "src", "lib"):
            for name in (root, root + ".py"):
                p = os.path.join(run_dir, base, name)
                if not os.path.lexists(p) or os.path.islink(p):
                    continue
                if origin is None:
                    origin = installed_origin(job, root) or ""
                rel = os.path.join(base, name)
                if os.path.isdir(p) and origin and os.path.isdir(origin):
                    link_farm(origin, p)
                elif not os.path.isdir(p) and origin.endswith(".py") and os.path.isfile(origin):
                    os.remove(p)
                    os.symlink(origin, p)
                elif os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.remove(p)
                hidden.append(rel)
    return hidden


def link_installed_tests(job, run_dir, pyargs, hidden):
    """pytest targets for tests shipped inside the package: the path of the
    test package in the tree, where hide_in_tree_package put the installed
    files, so the tests run the installed copy while the sdist's other files
    (scripts, data, the project's conftest.py and configuration) are where
    they expect them. A package the tree does not hold is run with --pyargs."""
    targets, rest = [], []
    for dotted in pyargs:
        root, _, sub = dotted.partition(".")
        where = [h for h in hidden if os.path.basename(h) == root]
        if not where or not os.path.isdir(os.path.join(run_dir, where[0])):
            rest.append(dotted)
            continue
        targets.append(os.path.join(where[0], sub.replace(".", os.sep)) if sub else where[0])
    return targets + (["--pyargs"] + rest if rest else [])


def installed_pytest_version():
    """The version of the pytest the test environment imports, or ""."""
    try:
        out = subprocess.check_output([ENV_PY, "-c", "import pytest; print(pytest.__version__)"],
                                      cwd=JOB + "/home", stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return _text(out).strip().splitlines()[-1] if _text(out).strip() else ""


def wheelhouses(job):
    """Where offline installs find wheels: the volunteer's shared wheelhouse,
    what prepare rounds fetched, and the dependency wheels built here."""
    return [wh for wh in job.spec.get("wheelhouses") or [] if wh and os.path.isdir(wh)]


def wheelhouse_has(job, project):
    prefix = project.lower() + "-"
    return any(f.lower().startswith(prefix) and f.endswith(".whl")
               for wh in wheelhouses(job) for f in os.listdir(wh))


def tests(job):
    t0 = _now()
    src = job.spec.get("source") or ""
    modules = job.result.get("modules") or []
    shipped = wheel_packages(job.result["wheel"]) if job.result.get("wheel") else None
    how, paths, pyargs = find_suite(src, modules, shipped) if src else (None, [], [])
    patterns = configured_pytest(src)[2] if src else []
    job.header("tests", ("%s: %s" % (how, " ".join(paths + pyargs))) if how else "no test suite found")
    job.result["tests"]["found_by"] = how or ""
    if not how:
        job.step("tests", _now() - t0, True)
        job.fail("no_tests", "tests", "no test suite in the sdist (no pytest testpaths, no tests/, test/, "
                 "testing/, src/tests/ or <package>/tests/ folder, no test_*.py at its root)"
                 if src else "a wheel carries no test suite")
        return
    # The whole sdist tree, so data files, conftest.py and the project's
    # configuration are where the tests expect them; without the in-tree
    # package, so the installed wheel is what they import.
    run_dir = JOB + "/testrun"
    if os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    shutil.copytree(src, run_dir, symlinks=True)
    hidden = hide_in_tree_package(job, run_dir, modules)
    if hidden:
        _out("[corral] the in-tree package in the test tree (%s) now holds the installed wheel's files "
             "(links to them): the tests import and run the installed copy\n" % ", ".join(hidden))
    reports = JOB + "/reports"
    if not os.path.isdir(reports):
        os.makedirs(reports)
    junit = os.path.join(reports, "junit.xml")
    # pytest and the test requirements the prepare phase fetched: best effort.
    argv = [ENV_PY, "-m", "pip", "install", "--no-index", "--no-cache-dir", "--disable-pip-version-check"]
    for wh in wheelhouses(job):
        argv += ["--find-links", wh]
    keep = []  # the pytest that runs the suite, which no test requirement may change
    if wheelhouse_has(job, "pytest"):
        job.run(argv + ["pytest"])
        version = installed_pytest_version()
        if version:
            keep = ["pytest==" + version]
    # Each test requirement on its own: one that cannot be had does not
    # keep the others out. Each is installed beside the pytest that runs
    # the suite, so a pin that conflicts with it (pluggy==1.0.0 from a
    # project's requirements file for older Pythons, under pytest 8) is not
    # installed rather than breaking pytest.
    missing = []  # test requirements that could not be installed
    for req in job.spec.get("test_requires") or []:
        if wheelhouses(job):
            rc_req, _ = job.run(argv + [req] + keep)
            if rc_req != 0:
                missing.append(req)
    if keep and not installed_pytest_version():
        # An old pip (no resolver) installed a conflicting pin anyway.
        _out("[corral] a test requirement broke pytest; installing pytest's own requirements again\n")
        job.run(argv + ["--upgrade", "--upgrade-strategy", "only-if-needed"] + keep)
    if modules:
        # Which file each top-level module comes from, for the log.
        job.run([ENV_PY, "-c", "import importlib, os, sys\nfor m in sys.argv[1:]:\n"
                 "    f = getattr(importlib.import_module(m), '__file__', None) or '?'\n"
                 "    print('imports %s from %s%s' % (m, f, ' (the installed %s)' % os.path.realpath(f) "
                 "if os.path.islink(f) else ''))"]
                + sorted(set(m.split(".")[0] for m in modules)), cwd=run_dir)
    with open(os.devnull, "w") as devnull:
        have_pytest = subprocess.call([ENV_PY, "-c", "import pytest"], cwd=JOB + "/home",
                                      stdout=devnull, stderr=devnull) == 0
    # The fidelity steps' cost is measured apart from the suite's own run:
    # "tests: setup" (discovery, the tree, test requirements), "tests:
    # suite" (with the retry without addopts), "tests: re-run".
    job.step("tests: setup", _now() - t0, True)
    t_suite = _now()

    def run_unittest():
        rc, tail = 0, ""
        starts, ran = [], []
        unittest_env = None
        if patterns and patterns[0].endswith(".py"):
            unittest_env = dict(os.environ)
            unittest_env["CORRAL_TEST_PATTERN"] = patterns[0]
        for target in paths + pyargs:
            start = target
            if target in pyargs:
                # The tree's copy of the installed package (hide_in_tree_package)
                # when it has one, so paths beside the package lead to the sdist.
                in_tree = link_installed_tests(job, run_dir, [target], hidden)
                start = in_tree[0] if in_tree[0] != "--pyargs" else installed_path(job, target)
            elif os.path.isfile(os.path.join(run_dir, target)):
                start = os.path.dirname(target) or "."
            elif not os.path.exists(os.path.join(run_dir, target, "__init__.py")):
                open(os.path.join(run_dir, target, "__init__.py"), "w").close()
            if start in starts:
                continue  # discovery of that folder already ran every file in it
            starts.append(start)
            rc1, tail = job.run([ENV_PY, RUNNER, "_unittest", junit, start], cwd=run_dir, env=unittest_env)
            ran.append(job.result["commands"][-1])
            rc = rc or rc1
            if len(paths + pyargs) > 1:
                os.rename(junit, junit + ".%d" % (paths + pyargs).index(target))
        if len(paths + pyargs) > 1:
            merge_junit(junit, [junit + ".%d" % i for i in range(len(paths + pyargs))])
        job.result["tests"]["command"] = " && ".join(ran)
        return rc, tail, ("unittest", starts)

    if have_pytest:
        job.result["tests"]["runner"] = "pytest"
        plugin_env = plugin_env_for_pytest()
        base = [ENV_PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", PYTEST_PLUGIN, "-rfE",
                "--continue-on-collection-errors"]
        targets = paths + link_installed_tests(job, run_dir, pyargs, hidden)
        rc, tail = job.run(base + ["--junitxml=" + junit] + targets, cwd=run_dir, env=plugin_env)
        notes = []
        for _ in range(3):
            more, note = degrade_pytest_options(rc, tail, src, base)
            if not more:
                break
            _out("[corral] %s\n" % note)
            notes.append(note)
            base += more
            rc, tail = job.run(base + ["--junitxml=" + junit] + targets, cwd=run_dir, env=plugin_env)
        if notes:
            job.result["tests"]["degraded"] = "; ".join(notes)
        job.result["tests"]["command"] = job.result["commands"][-1]
        rerun = ("pytest", (base + targets, plugin_env))
        if rc == 5 and not patterns and unittest_only_files(src, paths, pyargs):
            # pytest's default python_files (test_*.py, *_test.py) miss test
            # modules that unittest's default pattern (test*.py) finds:
            # test.py, tests.py (decorator's unittest classes, webencodings'
            # plain test functions, which its tox.ini's python_files reached).
            _out("[corral] pytest collected no tests: its default python_files miss the suite's test.py / "
                 "tests.py modules; run again with python_files = test*.py *_test.py\n")
            base += ["-o", "python_files=test*.py *_test.py"]
            job.result["tests"]["found_by"] += "; python_files = test*.py *_test.py (its modules are test.py / tests.py)"
            rc, tail = job.run(base + ["--junitxml=" + junit] + targets, cwd=run_dir, env=plugin_env)
            job.result["tests"]["command"] = job.result["commands"][-1]
            rerun = ("pytest", (base + targets, plugin_env))
            if rc == 5:
                _out("[corral] pytest still collected no tests; unittest discovery (pattern test*.py)\n")
                job.result["tests"]["runner"] = "unittest"
                job.result["tests"]["found_by"] += "; run by unittest"
                rc, tail, rerun = run_unittest()
    else:
        job.result["tests"]["runner"] = "unittest"
        rc, tail, rerun = run_unittest()
    notrun = set_aside_unrunnable(junit, modules, missing, run_dir)
    if notrun:
        job.result["tests"]["notrun"] = notrun
        _out("[corral] not run here, their test libraries are not on the index: %s\n"
             % ", ".join("%s (needs %s)" % (n["test"], n["missing"]) for n in notrun))
    job.step("tests: suite", _now() - t_suite, rc == 0)
    t_rerun = _now()
    rc = rerun_failures(job, junit, rerun, run_dir, rc)
    if "rerun" in job.result["tests"]:
        job.step("tests: re-run", _now() - t_rerun, rc == 0)
    seconds = _now() - t0
    job.result["test_seconds"] = round(seconds, 3)
    job.result["tests"]["rc"] = rc
    job.result["tests"]["junit"] = junit if os.path.isfile(junit) else ""
    job.result["tests"]["tail"] = last_line(tail)
    job.step("tests", seconds, rc == 0)


def degrade_pytest_options(rc, tail, src, base):
    """When pytest could not even start because the project's configuration
    needs something the index could not give, the options that run the
    suite without it: ([extra argv], note), or ([], "") when nothing is to
    be degraded. Warning filters such as "error" stay; only an entry that
    names a class of a missing module is dropped."""
    import re
    if rc not in (1, 3, 4):
        return [], ""
    if rc == 4 and "Missing required plugins" in tail and "required_plugins=" not in base:
        # required_plugins naming a plugin the index could not give (then,
        # usually, addopts of that plugin: the next round drops those).
        return ["-o", "required_plugins="], ("the project's pytest configuration requires plugins that are not "
                                             "installed (%s); run again without requiring them"
                                             % last_line(tail, ["Missing required plugins"]))
    if "addopts=" not in base and ("unrecognized arguments" in tail or "no such option" in tail) and rc == 4:
        # addopts naming a plugin the index could not give (coverage,
        # xdist, timeout...): without the project's addopts.
        return ["-o", "addopts="], ("the project's pytest addopts need a plugin that is not installed (%s); "
                                    "run again without them" % last_line(tail, ["unrecognized arguments",
                                                                               "no such option"]))
    m = re.search(r"No module named '?([A-Za-z0-9_.]+)'?", tail)
    if "while parsing the following warning configuration" in tail and m:
        gone = m.group(1).split(".")[0]
        filters = configured_filterwarnings(src)
        kept = [f for f in filters if gone not in f]
        if ("-o" in base and any(a.startswith("filterwarnings=") for a in base)):
            return [], ""
        return ["-o", "filterwarnings=" + "\n".join(kept)], (
            "the project's warning filters name a class of '%s', which is not installed; run again without "
            "that filter (the others stay: %s)" % (gone, ", ".join(kept) or "none"))
    if "PytestConfigWarning: Unknown config option" in tail and "ignore::pytest.PytestConfigWarning" not in base:
        option = last_line(tail, ["Unknown config option"])
        return ["-W", "ignore::pytest.PytestConfigWarning"], (
            "the project's pytest configuration has an option of a plugin that is not installed (%s), an "
            "error under its warning filters; run again with that warning ignored" % option)
    return [], ""


def configured_filterwarnings(src):
    """The project's pytest filterwarnings entries, from the file that holds
    its pytest configuration."""
    where = configured_pytest(src)[0]
    if not where:
        return []
    path = os.path.join(src, where)
    if where == "pyproject.toml":
        with open(path) as f:
            return _toml_pytest_option(f.read(), "filterwarnings") or []
    cfg = _read_ini(path, {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest",
                           "setup.cfg": "tool:pytest"}[where]) or {}
    return [line.strip() for line in (cfg.get("filterwarnings") or "").splitlines() if line.strip()]


# Failing tests are run once more; a test that passes then is flaky: it is
# reported as such and never makes the verdict tests_failed (replicas
# compare the failures that are not flaky). Past this many failures the
# suite is broken, not flaky, and the re-run would only double its time.
MAX_RERUN = 100
PYTEST_PLUGIN = "corral_pytest_plugin"


def plugin_env_for_pytest():
    """The environment of a pytest run that loads this file as a plugin
    (a copy under a name no project uses), which records the failed node
    ids and, on the re-run, keeps only them."""
    plugins = JOB + "/plugins"
    if not os.path.isdir(plugins):
        os.makedirs(plugins)
    shutil.copyfile(RUNNER, os.path.join(plugins, PYTEST_PLUGIN + ".py"))
    env = dict(os.environ)
    env["PYTHONPATH"] = plugins + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["CORRAL_FAILED_OUT"] = JOB + "/reports/failed-nodeids.txt"
    if os.path.exists(env["CORRAL_FAILED_OUT"]):
        os.remove(env["CORRAL_FAILED_OUT"])
    return env


def pytest_runtest_logreport(report):
    """pytest hook (this file loaded as a plugin): remembers a failed test."""
    out = os.environ.get("CORRAL_FAILED_OUT")
    if out and report.failed and not os.environ.get("CORRAL_RERUN_ONLY"):
        import io
        with io.open(out, "a", encoding="utf-8") as f:
            f.write(_text(report.nodeid) + u"\n")


def pytest_collection_modifyitems(session, config, items):
    """pytest hook (this file loaded as a plugin): on the re-run, only the
    tests that failed the first time."""
    only = os.environ.get("CORRAL_RERUN_ONLY")
    if not only:
        return
    import io
    with io.open(only, encoding="utf-8") as f:
        wanted = set(line.rstrip(u"\n") for line in f if line.strip())
    keep = [i for i in items if _text(i.nodeid) in wanted]
    drop = [i for i in items if _text(i.nodeid) not in wanted]
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def junit_cases(path):
    """{test id: "pass" | "failure" | "error" | "skipped"} of a JUnit report,
    ids as the C++ side forms them ("classname.name")."""
    import xml.etree.ElementTree as ET
    cases = {}
    try:
        tree = ET.parse(path)
    except Exception:
        return cases, None
    for case in tree.iter("testcase"):
        cls, name = case.get("classname") or "", case.get("name") or ""
        test_id = cls + "." + name if cls else name
        status = "pass"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                status = tag
                break
        if cases.get(test_id, "pass") == "pass":
            cases[test_id] = status
    return cases, tree


def rerun_failures(job, junit, rerun, run_dir, rc):
    """Runs the failing tests once more; marks those that pass then as
    flaky in the JUnit report (flaky="true", no failure element) and in
    result["tests"]["flaky"]. Returns the suite's status, 0 when every
    failure was flaky."""
    first, tree = junit_cases(junit)
    failing = sorted(t for t, s in first.items() if s in ("failure", "error"))
    if not failing or rerun is None or tree is None:
        return rc
    if len(failing) > MAX_RERUN:
        _out("[corral] %d tests failed: more than %d, so they are not run again (none is taken as "
             "flaky)\n" % (len(failing), MAX_RERUN))
        return rc
    job.header("tests", "running the %d failing test(s) once more, to tell flaky ones" % len(failing))
    again = junit + ".rerun"
    kind, what = rerun
    if kind == "pytest":
        argv, env = what
        ids = env["CORRAL_FAILED_OUT"]  # the node ids the first run saw fail
        if not os.path.exists(ids):
            return rc
        env = dict(env)
        env["CORRAL_RERUN_ONLY"] = ids
        job.run(argv + ["--junitxml=" + again], cwd=run_dir, env=env)
    else:
        if len(what) != 1:
            _out("[corral] the failing tests are not run again: the suite has several start folders\n")
            return rc
        ids = JOB + "/reports/rerun-ids.txt"
        with open(ids, "w") as f:
            f.write("\n".join(t for t in failing if " " not in t and "_FailedTest" not in t) + "\n")
        job.run([ENV_PY, RUNNER, "_unittest", again, what[0], ids], cwd=run_dir)
    second, _ = junit_cases(again)
    flaky = sorted(t for t in failing if second.get(t) == "pass")
    job.result["tests"]["rerun"] = {"tests": len(failing), "passed": len(flaky),
                                    "command": job.result["commands"][-1]}
    if not flaky:
        _out("[corral] every failing test failed again: none is flaky\n")
        return rc
    for case in tree.iter("testcase"):
        cls, name = case.get("classname") or "", case.get("name") or ""
        if (cls + "." + name if cls else name) in flaky:
            for bad in case.findall("failure") + case.findall("error"):
                case.remove(bad)
            case.set("flaky", "true")
    tree.write(junit)
    job.result["tests"]["flaky"] = flaky
    _out("[corral] flaky (failed, then passed when run again): %s\n" % ", ".join(flaky))
    if len(flaky) == len(failing) and rc == 1:
        return 0  # pytest's and unittest's status for "tests failed": they all passed again
    return rc


def _requirement_module(req):
    """The import name a requirement most likely gives ("pytest-asyncio" ->
    "pytest_asyncio"), for telling which test module needs it."""
    import re
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return m.group(1).lower().replace("-", "_").replace(".", "_") if m else ""


FIND_SPEC = """import sys
try:
    from importlib.util import find_spec
except ImportError:  # Python 2.7
    import imp
    def find_spec(n):
        try:
            imp.find_module(n)
            return True
        except ImportError:
            return None
for n in sys.argv[1:]:
    if find_spec(n) is None:
        print(n)
"""


def _module_imports(run_dir, dotted, names, own):
    """What the test module `dotted` (a path under run_dir) imports that
    the test environment lacks: the first of `names` it imports, else the
    first top-level import that cannot be found there (not the project's
    own); None when it lacks nothing."""
    import re
    if not run_dir or not dotted:
        return None
    path = os.path.join(run_dir, dotted.replace(".", os.sep) + ".py")
    if not os.path.isfile(path):
        path = os.path.join(run_dir, dotted)
    try:
        with open(path, "rb") as f:
            text = _text(f.read())
    except (IOError, OSError):
        return None
    for n in names:
        if n and re.search(r"^\s*(from\s+%s[\s.]|import\s+%s\b)" % (re.escape(n), re.escape(n)), text, re.M):
            return n
    imported = sorted(set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.M)) - own)
    if not imported:
        return None
    try:
        out = subprocess.check_output([ENV_PY, "-c", FIND_SPEC] + imported, cwd=JOB + "/home")
    except (OSError, subprocess.CalledProcessError):
        return None
    lacking = _text(out).split()
    return lacking[0] if lacking else None


def _imported_from(run_dir, dotted, name):
    """The top-level module that test module `dotted` imports `name` from
    ("from hypothesis import given" -> "hypothesis"), or None."""
    import re
    if not run_dir or not dotted:
        return None
    path = os.path.join(run_dir, dotted.replace(".", os.sep) + ".py")
    if not os.path.isfile(path):
        path = os.path.join(run_dir, dotted)
    try:
        with open(path, "rb") as f:
            text = _text(f.read())
    except (IOError, OSError):
        return None
    for m in re.finditer(r"^\s*from\s+([A-Za-z_][A-Za-z0-9_]*)[\w.]*\s+import\s+\(?([^)\n]*)", text, re.M):
        if re.search(r"\b%s\b" % re.escape(name), m.group(2)):
            return m.group(1)
    return None


def set_aside_unrunnable(junit, modules, missing_reqs=(), run_dir=None):
    """Takes out of the JUnit report the test modules that could not even be
    imported because a third-party library is missing: a loader or
    collection error saying "No module named X", X not the project's own,
    or any collection error of a module that imports a test requirement the
    index could not give (its fallback broke without it); and tests that
    failed only because no async test plugin is installed. The harness's
    gap, not the package's failure. Returns them as [{"test", "missing"}]."""
    import re
    import xml.etree.ElementTree as ET
    if not os.path.isfile(junit):
        return []
    own = set(m.split(".")[0] for m in modules)
    absent = [_requirement_module(r) for r in missing_reqs]
    try:
        tree = ET.parse(junit)
    except Exception:
        return []
    notrun = []
    for suite in tree.iter():
        for case in list(suite.findall("testcase")):
            bad = case.find("error")
            if bad is None:
                bad = case.find("failure")
            if bad is None:
                continue
            text = (bad.get("message") or "") + "\n" + (bad.text or "")
            name = case.get("name") or ""
            cls = case.get("classname") or ""
            test = name if "_FailedTest" in cls or not cls else cls + "." + name
            if "async def functions are not natively supported" in text:
                notrun.append({"test": test, "missing": "an async test plugin (pytest-asyncio, anyio, ...)"})
                suite.remove(case)
                continue
            loader = ("_FailedTest" in cls or "collection failure" in text
                      or "ImportError while importing test module" in text)
            if not loader:
                continue
            m = re.search(r"No module named '?([A-Za-z0-9_.]+)'?", text)
            gone = m.group(1).split(".")[0] if m else None
            if gone in own:
                continue
            if not gone:
                # The module: unittest's loader error names it in the test id
                # ("unittest.loader._FailedTest.tests.test_x"), pytest's in the name.
                dotted = name if not cls else cls
                if "_FailedTest" in cls:
                    dotted = (cls.split("_FailedTest", 1)[1].lstrip(".") + "." + name).lstrip(".")
                # A NameError for a name the module imports from a library
                # names that library first (not a Python 2 fallback such as
                # StringIO that the same module also tries).
                undefined = re.search(r"NameError: (?:global )?name '(\w+)' is not defined", text)
                hint = _imported_from(run_dir, dotted, undefined.group(1)) if undefined else None
                gone = _module_imports(run_dir, dotted, ([hint] if hint and hint not in own else []) + absent, own)
            if not gone:
                continue
            notrun.append({"test": test, "missing": gone})
            suite.remove(case)
    if notrun:
        tree.write(junit)
    return notrun


def installed_path(job, module):
    out = JOB + "/installed-path.txt"
    job.run([ENV_PY, "-c", "import importlib, os, sys\nm = importlib.import_module(sys.argv[1])\n"
             "open(sys.argv[2], 'w').write(os.path.dirname(m.__file__))", module, out], cwd=JOB + "/home")
    try:
        with open(out) as f:
            return f.read().strip()
    except (IOError, OSError):
        return module


def merge_junit(path, parts):
    """One JUnit file of several unittest runs' files."""
    cases, counts = [], {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    import re
    for p in parts:
        if not os.path.isfile(p):
            continue
        with open(p) as f:
            text = f.read()
        head = re.search(r"<testsuite ([^>]*)>", text)
        if head:
            for k in counts:
                m = re.search(r'%s="(\d+)"' % k, head.group(1))
                counts[k] += int(m.group(1)) if m else 0
        body = text[text.find(">", text.find("<testsuite")) + 1:text.rfind("</testsuite>")]
        cases.append(body)
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="unittest" tests="%d" failures="%d" '
                'errors="%d" skipped="%d">%s</testsuite>\n' % (counts["tests"], counts["failures"],
                                                              counts["errors"], counts["skipped"], "".join(cases)))


def unittest_main(argv):
    import unittest
    junit, start = argv[0], argv[1]
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(RUNNER):
        del sys.path[0]
    top = os.getcwd()
    if not os.path.isabs(start) and start != "." and not os.path.exists(os.path.join(start, "__init__.py")):
        top = os.path.abspath(start)  # a plain folder of test files (src/): its files import from it
    elif not os.path.isabs(start) and start != ".":
        # A package in the tree (tests/, pkg/tests, src/pkg/tests): discovered
        # from the folder above its outermost package, never above the tree.
        top = os.path.abspath(start)
        while os.path.exists(os.path.join(top, "__init__.py")) and os.path.dirname(top).startswith(os.getcwd()):
            top = os.path.dirname(top)
    elif os.path.isabs(start) and not os.path.abspath(start).startswith(top + os.sep):
        # Tests inside the installed package: discovered from the folder
        # that holds the package, so its imports are the installed ones.
        top = os.path.abspath(start)
        while os.path.exists(os.path.join(top, "__init__.py")):
            top = os.path.dirname(top)
    sys.path.insert(0, top)
    records = []

    class JUnitResult(unittest.TextTestResult):
        """Remembers every test's status and time for the JUnit report."""

        def startTest(self, test):
            self._t0 = _now()
            unittest.TextTestResult.startTest(self, test)

        def _add(self, test, status, detail=""):
            t0 = getattr(self, "_t0", None) or _now()
            records.append((test.id(), status, detail, _now() - t0))

        def addSuccess(self, test):
            unittest.TextTestResult.addSuccess(self, test)
            self._add(test, "pass")

        def addFailure(self, test, err):
            unittest.TextTestResult.addFailure(self, test, err)
            self._add(test, "failure", self._exc_info_to_string(err, test))

        def addError(self, test, err):
            unittest.TextTestResult.addError(self, test, err)
            self._add(test, "error", self._exc_info_to_string(err, test))

        def addSkip(self, test, reason):
            unittest.TextTestResult.addSkip(self, test, reason)
            self._add(test, "skipped", reason)

        def addExpectedFailure(self, test, err):
            unittest.TextTestResult.addExpectedFailure(self, test, err)
            self._add(test, "pass", "expected failure")

        def addUnexpectedSuccess(self, test):
            unittest.TextTestResult.addUnexpectedSuccess(self, test)
            self._add(test, "failure", "unexpected success")

        def addSubTest(self, test, subtest, err):
            unittest.TextTestResult.addSubTest(self, test, subtest, err)
            if err is not None:
                kind = "failure" if issubclass(err[0], test.failureException) else "error"
                self._add(test, kind, self._exc_info_to_string(err, test))

    if len(argv) > 2:  # the re-run of the tests that failed: their ids, one a line
        with open(argv[2]) as f:
            suite = unittest.TestLoader().loadTestsFromNames([l.strip() for l in f if l.strip()])
    else:
        # The project's pytest python_files pattern, when it names one.
        pattern = os.environ.get("CORRAL_TEST_PATTERN") or "test*.py"
        suite = unittest.TestLoader().discover(start, pattern=pattern, top_level_dir=top)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=JUnitResult)
    result = runner.run(suite)
    write_junit(junit, records)
    return 0 if result.wasSuccessful() else 1


def _xml(text):
    from xml.sax.saxutils import escape
    text = _text(text)
    text = "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)
    return escape(text, {'"': "&quot;"})


def write_junit(path, records):
    counts = {"failure": 0, "error": 0, "skipped": 0}
    for r in records:
        if r[1] in counts:
            counts[r[1]] += 1
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n',
             '<testsuite name="unittest" tests="%d" failures="%d" errors="%d" skipped="%d">\n'
             % (len(records), counts["failure"], counts["error"], counts["skipped"])]
    for test_id, status, detail, seconds in records:
        cls, _, name = test_id.rpartition(".")
        if " " in test_id:  # setUpClass (tests.x.Y) and similar holders
            cls, name = "", test_id
        parts.append('  <testcase classname="%s" name="%s" time="%.3f"'
                     % (_xml(cls), _xml(name), seconds))
        if status == "pass":
            parts.append("/>\n")
            continue
        tag = {"failure": "failure", "error": "error", "skipped": "skipped"}[status]
        first = (_text(detail).strip().splitlines() or [""])[-1]
        parts.append('>\n    <%s message="%s">%s</%s>\n  </testcase>\n'
                     % (tag, _xml(first[:300]), _xml(detail), tag))
    parts.append("</testsuite>\n")
    with open(path, "w") as f:
        f.write("".join(parts))


# ---------------------------------------------------------------- main

def offline_job(job):
    """Build (or take the wheel), then install with dependencies, import
    and test; no egress. Wherever it finds it needs something from the
    index, it stops with result["needs"] and the C++ side runs a prepare
    round, then this again: the state (build envs, the wheel) stays in /job."""
    spec = job.spec
    state_file = os.path.join(JOB, "state.json")
    state = {}
    if os.path.exists(state_file):
        with open(state_file) as f:
            state = json.load(f)
    if spec["mode"] == "wheel":
        job.result["wheel"] = spec["wheel"]
    elif state.get("wheel") and os.path.isfile(state["wheel"]):
        job.result["wheel"] = state["wheel"]
        job.result["build_seconds"] = state.get("build_seconds", 0.0)
        job.step("build", job.result["build_seconds"], True)  # done in an earlier offline run
    elif not build(job):
        return
    with open(state_file, "w") as f:
        json.dump({"wheel": job.result["wheel"], "build_seconds": job.result["build_seconds"]}, f)
    fetched = spec.get("fetched") or []
    if spec.get("online") and "runtime" not in fetched and "test" not in fetched:
        needs = []
        if wheel_requires_dist(job.result["wheel"]):
            needs.append({"kind": "runtime", "wheel": job.result["wheel"]})
        if spec.get("test_requires") and spec["mode"] == "sdist":
            needs.append({"kind": "test", "reqs": list(spec["test_requires"])})
        if spec["mode"] == "sdist":
            needs.append({"kind": "test", "reqs": ["pytest"]})  # the runner prefers it when it can have it
        if needs:
            job.result["needs"] = needs
            return
    if build_dependency_sdists(job) and install(job) and import_check(job):
        tests(job)


def job_main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    job = Job(spec)
    t0 = _now()
    try:
        mode = spec.get("mode")
        if mode == "mkenv":
            make_env(job)
        elif mode == "probe":
            pass  # the probe in the result is the answer
        elif mode == "prepare":
            prepare(job)
        elif mode in ("sdist", "wheel"):
            offline_job(job)
        else:
            job.fail("infra_error", "runner", "unknown job mode %r" % (mode,))
    except Exception:
        tb = traceback.format_exc()
        _out(tb)
        job.fail("infra_error", "runner", "the runner crashed: %s"
                 % tb.strip().splitlines()[-1])
    job.result["seconds"] = round(_now() - t0, 3)
    job.write()
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "_hook":
        return hook_main(argv[2:])
    if len(argv) >= 2 and argv[1] == "_import":
        return import_main(argv[2:])
    if len(argv) >= 2 and argv[1] == "_unittest":
        return unittest_main(argv[2:])
    if len(argv) >= 2 and argv[1] == "_fetch_sdist":
        return fetch_sdist_main(argv[2:])
    if len(argv) == 2:
        return job_main(argv[1])
    sys.stderr.write("usage: runner.py JOB_JSON\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
