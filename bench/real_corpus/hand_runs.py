#!/usr/bin/env python3
"""Hand runs, independent of Corral's runner: per sdist of the corpus and per
interpreter, a fresh venv, pip install of the sdist (with its dependencies)
and of the test requirements the project's CI installs (corpus.tsv), from the
local index only, then the project's own test command in the unpacked sdist.

usage: hand_runs.py INDEX_DIR PYTHON[,PYTHON...] [ONLY,...] > rows.tsv
       hand_runs.py --adjust rows.tsv > truth.tsv

The second form applies adjustments.tsv: cells where a module could not
import a test library the index lacks, judged by the rule of README.md (those
modules are not run, the rest decide), with the counts of that judgement.
"""
import configparser, os, re, shlex, shutil, subprocess, sys, tarfile, tempfile, time, tomllib
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = ("# project\tversion\tplatform\texpected\tpassed\tfailed\tskipped\tseconds\tcommand\tnote\n"
          "# Hand runs (hand_runs.py): a fresh venv, pip install of the sdist and the test requirements its CI installs from the local\n"
          "# index only, the project's own test command in the unpacked sdist. See README.md for the rule on missing test libraries.\n")


def plan():
    rows = {}
    for line in open(os.path.join(HERE, "corpus.tsv")):
        if line.startswith("#") or not line.strip():
            continue
        project, _, _, _, role, _, reqs, command = line.rstrip("\n").split("\t")
        if role in ("sdist", "both") and command != "-":
            rows[project.lower().replace("-", "_")] = ([] if reqs == "-" else reqs.split(","), command)
    return rows


def platform_tag(py):
    code = ("import sys, sysconfig; i = sys.implementation; v = sys.version_info; "
            "print(('pp%d%d' % (v.major, v.minor)) if i.name == 'pypy' else ('cp%d%d' % (v.major, v.minor)), "
            "sysconfig.get_platform().replace('-', '_').replace('.', '_'), sep='-')")
    return subprocess.run([py, "-c", code], stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


def adjust(rows_path):
    adj = {}
    for line in open(os.path.join(HERE, "adjustments.tsv")):
        if line.startswith("#") or not line.strip():
            continue
        project, expected, passed, failed, skipped, note = line.rstrip("\n").split("\t")
        adj[project] = [expected, passed, failed, skipped, note]
    sys.stdout.write(HEADER)
    for line in open(rows_path):
        r = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(r) < 9:
            continue
        while len(r) < 10:
            r.append("")
        if r[0] in adj and not r[9].startswith(MACHINE) and r[3] != "unsupported":
            expected, passed, failed, skipped, note = adj[r[0]]
            r[3], r[4], r[5], r[6], r[9] = expected, passed, failed, skipped, note
        print("\t".join(r))
    return 0


def run(cmd, cwd=None, env=None, timeout=900):
    p = subprocess.run(cmd, cwd=cwd, env=env, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")

def counts_from_unittest(out):
    m = re.search(r"Ran (\d+) tests?", out)
    ran = int(m.group(1)) if m else 0
    f = re.search(r"FAILED \(([^)]*)\)", out)
    failed = errors = skipped = 0
    if f:
        for k, v in re.findall(r"(\w+)=(\d+)", f.group(1)):
            if k == "failures": failed = int(v)
            if k == "errors": errors = int(v)
            if k == "skipped": skipped = int(v)
    s = re.search(r"OK \(skipped=(\d+)\)", out)
    if s: skipped = int(s.group(1))
    return ran - failed - errors - skipped, failed + errors, skipped

# A cell this machine cannot build: the interpreter's C headers are missing
# (PyPy here), so a C extension fails to compile; a setup.py that falls back
# to pure Python then installs a build without its extension. The outcome is
# the machine's, not the package's: compare.py counts these cells apart.
MACHINE = "machine cannot build"


def machine_reason(pip_output):
    if re.search(r"Python\.h: No such file or directory", pip_output):
        return MACHINE + ": no C headers for this interpreter (Python.h), the C extension does not compile"
    return ""


def requires_python_excludes(sdist, py):
    """The sdist's Requires-Python (PKG-INFO, what an index publishes as
    data-requires-python) when it excludes the interpreter `py`, judged by
    the packaging that pip vendors in that interpreter's venv; else ""."""
    with tarfile.open(sdist) as t:
        info = [m for m in t.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")]
        text = t.extractfile(info[0]).read().decode("utf-8", "replace") if info else ""
    m = re.search(r"(?m)^Requires-Python:\s*(.+)$", text)
    if not m:
        return ""
    code = ("import platform, sys; from pip._vendor.packaging.specifiers import SpecifierSet; "
            "sys.exit(0 if SpecifierSet(sys.argv[1]).contains(platform.python_version()) else 1)")
    if subprocess.run([py, "-c", code, m.group(1).strip()]).returncode == 1:
        return "Requires-Python %s excludes %s" % (m.group(1).strip(), subprocess.run(
            [py, "-c", "import platform; print(platform.python_version())"], stdout=subprocess.PIPE,
            text=True).stdout.strip())
    return ""


def import_failure(w, name):
    """Imports the top-level modules the installed distribution `name`
    ships (pip show -f), from an empty folder; the error, or ""."""
    rc, out = run("%s/env/bin/python -m pip show -f %s" % (w, name))
    tops = set()
    for line in out.splitlines()[out.splitlines().index("Files:") + 1:] if "Files:" in out.splitlines() else []:
        f = line.strip()
        if ".dist-info/" in f or ".egg-info/" in f or f.startswith("..") or "/bin/" in f:
            continue
        top = f.split("/")[0]
        if top.endswith(".py"):
            tops.add(top[:-3])
        elif "/" in f and (f.endswith(".py") or ".so" in f) and top.isidentifier():
            tops.add(top)
        elif top.endswith(".so"):
            tops.add(top.split(".")[0])
    empty = os.path.join(w, "empty")
    os.makedirs(empty, exist_ok=True)
    for top in sorted(tops):
        rc, out = run("%s/env/bin/python -c 'import %s'" % (w, top), cwd=empty)
        if rc != 0:
            return "import %s failed: %s" % (top, out.strip().splitlines()[-1][:150] if out.strip() else rc)
    return ""


def configured_addopts(path):
    """The addopts of the pytest configuration file pytest named."""
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as f:
                v = tomllib.load(f).get("tool", {}).get("pytest", {}).get("ini_options", {}).get("addopts", "")
            return shlex.split(v) if isinstance(v, str) else list(v)
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(path)
        for section in ("pytest", "tool:pytest"):
            if cfg.has_section(section):
                return shlex.split(cfg.get(section, "addopts", fallback=""))
    except Exception:
        pass
    return []


def degrade(out, options):
    """pytest stopped before collecting anything because the project's
    configuration needs a plugin the index lacks (required_plugins, addopts
    of pytest-cov): the options that run the suite without it (the other
    addopts stay), or None."""
    options = list(options)
    if "Missing required plugins" in out and "required_plugins=" not in options:
        return options + ["-o", "required_plugins="], "required_plugins not enforced"
    m = re.search(r"unrecognized arguments: (.*)", out)
    cfg = re.search(r"(?:inifile|configfile): (\S+)", out)
    if m and cfg and not any(o.startswith("addopts=") for o in options):
        bad = set(m.group(1).split())
        kept = [a for a in configured_addopts(cfg.group(1)) if a not in bad]
        return options + ["-o", "addopts=" + " ".join(kept)], "addopts without " + " ".join(sorted(bad))
    return None


def main(argv):
    if len(argv) >= 3 and argv[1] == "--adjust":
        return adjust(argv[2])
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    index, interps = os.path.abspath(argv[1]), argv[2].split(",")
    only = argv[3].split(",") if len(argv) > 3 and argv[3] else None
    work = tempfile.mkdtemp(prefix="corral-hand-runs-")
    todo = plan()
    for sdist in sorted(f for f in os.listdir(index) if f.endswith(".tar.gz")):
        name, version = sdist[:-7].rsplit("-", 1)
        key = name.lower().replace("-", "_")
        if key not in todo or (only and key not in only):
            continue
        reqs, command = todo[key]
        for py in interps:
            tag = platform_tag(py)
            w = os.path.join(work, "%s-%s-%s" % (key, version, tag))
            os.makedirs(w)
            t0 = time.time()
            outcome, passed, failed, skipped, note = "", 0, 0, 0, ""
            rc, out = run("%s -m venv %s/env" % (py, w))
            pip = "%s/env/bin/python -m pip install -q --no-index --find-links %s" % (w, index)
            # An old interpreter's ensurepip seeds an old pip (3.6: pip 18.1, no
            # PEP 517): the index's pip for it, as its maintainers' CI would
            # have. -U never downgrades a newer pip.
            run("%s -U pip" % pip)
            # -v: the compiler's output, which tells a machine without the
            # interpreter's C headers (machine_reason).
            excluded = requires_python_excludes(os.path.join(index, sdist), "%s/env/bin/python" % w)
            if excluded:
                rc, out = 1, ""
            else:
                rc, out = run("%s %s/%s" % (pip.replace(" -q ", " -v ", 1), index, sdist))
            machine = machine_reason(out)
            if excluded or (rc != 0 and re.search(r"requires a different Python", out)):
                # Requires-Python excludes the interpreter: pip would never
                # pick this release from an index.
                outcome = "unsupported"
                note = excluded or [l.strip() for l in out.splitlines() if "requires a different Python" in l][0][:150]
            elif rc != 0:
                outcome = "build_failed" if "wheel" in out.lower() and "building" in out.lower() else "install_failed"
                errors = [l.strip() for l in out.splitlines() if l.strip().startswith("ERROR:")]
                note = machine or (errors[-1] if errors else out.strip().splitlines()[-1] if out.strip() else "")[:150]
            else:
                missing = []
                for r in reqs:
                    # -U: the index's release, never the one a venv seeds (3.9's
                    # ensurepip brings setuptools 58, which would stand in for it).
                    rc2, out2 = run("%s -U %s" % (pip, r))
                    if rc2 != 0: missing.append(r)
                with tarfile.open(os.path.join(index, sdist)) as t:
                    t.extractall(w)
                src = os.path.join(w, "%s-%s" % (sdist[:-7].rsplit("-", 1)[0], version))
                env = dict(os.environ, PATH="%s/env/bin:%s" % (w, os.environ["PATH"]))
                junit = os.path.join(w, "junit.xml")
                options, degraded = [], []
                while True:
                    cmd = command.replace("pytest", "python -m pytest --junitxml=%s -p no:cacheprovider%s" % (
                        junit, "".join(" " + shlex.quote(o) for o in options)), 1) \
                        if command.startswith("pytest") else command
                    rc, out = run(cmd, cwd=src, env=env)
                    d = degrade(out, options) if command.startswith("pytest") and rc == 4 and missing else None
                    if not d:
                        break
                    options, _ = d
                    degraded.append(d[1])
                gone = re.search(r"file or directory not found: (\S+)", out)
                if command.startswith("pytest") and rc == 4 and gone:
                    # The CI's test path is not in the sdist: it ships no suite there.
                    outcome, note = "no_tests", "the sdist does not ship %s" % gone.group(1)
                elif command.startswith("pytest"):
                    if os.path.exists(junit):
                        root = ET.parse(junit).getroot()
                        suites = [root] if root.tag == "testsuite" else list(root)
                        tot = sum(int(s.get("tests", 0)) for s in suites)
                        failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
                        skipped = sum(int(s.get("skipped", 0)) for s in suites)
                        passed = tot - failed - skipped
                    outcome = "passed" if rc == 0 else ("no_tests" if rc == 5 else "tests_failed")
                else:
                    passed, failed, skipped = counts_from_unittest(out)
                    outcome = "passed" if rc == 0 and passed + skipped > 0 else ("no_tests" if rc in (0, 5) else "tests_failed")
                if outcome == "no_tests":
                    # no_tests means built, installed and imported: import it.
                    bad = import_failure(w, name)
                    if bad:
                        outcome, note = "import_failed", bad
                if missing:
                    note = (note + "; " if note else "") + "not on the index: " + " ".join(missing)
                if degraded:
                    note += " (pytest: %s)" % ", ".join(degraded)
                if machine:
                    note = machine + ("; " + note if note else "")
                if outcome == "tests_failed":
                    m = re.findall(r"(?:FAILED|ERROR) (\S+)", out)
                    note = (note + "; " if note else "") + "fails: " + " ".join(m[:3])
            secs = time.time() - t0
            print("\t".join([key, version, tag, outcome, str(passed), str(failed), str(skipped), "%.1f" % secs,
                             ("pip install %s %s; %s" % (sdist, " ".join(reqs), command)), note]), flush=True)
            shutil.rmtree(w, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
