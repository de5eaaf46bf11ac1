#!/usr/bin/env python3
"""Builds the real corpus into a flat local index, offline, from the projects'
public release sources (corpus.tsv: repository and tag of each).

usage: build_index.py MIRRORS OUT_DIR [ONLY,...]

MIRRORS holds one bare git repository per project, at MIRRORS/owner+name/repo
(the layout Corral's development library fetches into) or MIRRORS/owner+name.git
(`git clone --mirror https://github.com/owner/name MIRRORS/owner+name.git`).
OUT_DIR receives each row's sdist (role sdist or both) and wheel (role wheel or
both). Rows are built in order with the Python running this script (3.11 or
later: tomllib) in a build venv under OUT_DIR.build; a row's wheel is
installed there before the next row, so the backends bootstrap themselves
(flit_core and setuptools build with their in-tree backend).

The release source is changed in one way only: a version from the VCS
(setuptools_scm, flit_scm, hatch-vcs, pdm-backend's scm source) becomes the
release's static version, since an archive has no git history. Nothing of the
projects is committed.
"""
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VCS_PLUGINS = r'\s*"(setuptools[-_]scm|flit[-_]scm|hatch-vcs|hatch_vcs|calver|setuptools-git-versioning)[^"]*",?'


def read_corpus(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            project, repo, tag, version, role, subdir, reqs, command = line.rstrip("\n").split("\t")
            role, _, serves = role.partition(":")
            rows.append(dict(project=project, repo=repo, tag=tag, version=version, role=role, serves=serves,
                             subdir="" if subdir == "-" else subdir,
                             test_requirements=[] if reqs == "-" else reqs.split(","),
                             test_command="" if command == "-" else command))
    return rows


def git_dir(mirrors, repo):
    name = repo.replace("/", "+")
    for candidate in (os.path.join(mirrors, name, "repo"), os.path.join(mirrors, name + ".git")):
        if os.path.isdir(candidate):
            return candidate
    raise SystemExit("build_index: no repository for %s under %s: fetch it (git clone --mirror "
                     "https://github.com/%s %s.git)" % (repo, mirrors, repo, os.path.join(mirrors, name)))


def static_version(src, version):
    """A version from the VCS becomes the static release version."""
    pyproject = os.path.join(src, "pyproject.toml")
    scm = os.path.exists(pyproject) and "scm" in open(pyproject).read()
    if os.path.exists(pyproject):
        orig = t = open(pyproject).read()
        t = t.replace('"flit_scm:buildapi"', '"flit_core.buildapi"')
        t = re.sub(VCS_PLUGINS, "", t)
        if "flit_scm" in orig:
            t = re.sub(r"requires = \[\s*\]", 'requires = ["flit_core>=3.4"]', t)
        m = re.search(r'(write_to|version_file|version-file)\s*=\s*"([^"]+)"', orig)
        if m and not os.path.exists(os.path.join(src, m.group(2))):
            with open(os.path.join(src, m.group(2)), "w") as f:
                f.write("version = __version__ = %r\nversion_tuple = %r\n" % (version, tuple(version.split("."))))
            # hatch-vcs's hook force-includes the file it writes; without the
            # hook, a .gitignore entry for it would keep it out of the sdist
            # and the wheel (apipkg 3.0.2: "No module named apipkg._version").
            ignore = os.path.join(src, ".gitignore")
            if os.path.exists(ignore):
                lines = open(ignore).read().splitlines(True)
                kept = [l for l in lines if l.strip().lstrip("/") != m.group(2)]
                if kept != lines:
                    open(ignore, "w").write("".join(kept))
        vcs = any(k in orig for k in ("scm", "vcs", "calver", "git-versioning"))
        if vcs and re.search(r'dynamic\s*=\s*\[[^\]]*"version"', t):
            t = re.sub(r'(dynamic\s*=\s*\[[^\]]*)"version",?', r"\1", t)
            t = t.replace("[project]\n", '[project]\nversion = "%s"\n' % version, 1)
            for table in ("tool\\.hatch\\.version", "tool\\.hatch\\.build\\.hooks\\.vcs",
                          "tool\\.setuptools-git-versioning", "tool\\.pdm\\.version"):
                t = re.sub(r"\[%s\][^\[]*" % table, "", t)
        t = re.sub(r"\[tool\.setuptools_scm\][^\[]*", "", t)
        if t != orig:
            open(pyproject, "w").write(t)
    setup_py = os.path.join(src, "setup.py")
    if os.path.exists(setup_py):
        s = open(setup_py).read()
        scm = scm or "use_scm_version" in s
        m = re.search(r"""["']write_to["']\s*:\s*["']([^"']+)["']""", s)
        if m and not os.path.exists(os.path.join(src, m.group(1))):
            with open(os.path.join(src, m.group(1)), "w") as f:
                f.write("version = __version__ = %r\nversion_tuple = %r\n" % (version, tuple(version.split("."))))
        s2 = re.sub(r"use_(scm_version|calver)\s*=\s*(\{[^}]*\}|True|\"[^\"]*\")", "version=%r" % version, s)
        s2 = re.sub(r"setup_requires\s*=\s*\[[^\]]*\],?", "", s2)
        if s2 != s:
            open(setup_py, "w").write(s2)
    setup_cfg = os.path.join(src, "setup.cfg")
    if os.path.exists(setup_cfg):  # a development checkout's egg_info tags (".post" + date)
        c = open(setup_cfg).read()
        c2 = re.sub(r"(?m)^tag_(build|date)\s*=.*$", "", c)
        # The VCS plugin among setup_requires (pluggy 1.5.0): not needed once
        # the version is static, and not on the index.
        c2 = re.sub(r"(?m)^[ \t]+(setuptools[-_]scm|setuptools-git-versioning)\b.*\n", "", c2)
        c2 = re.sub(r"(?m)^setup_requires\s*=\s*(setuptools[-_]scm|setuptools-git-versioning)\b.*\n", "", c2)
        if scm and "[metadata]" in c2 and not re.search(r"(?m)^version\s*=", c2):
            # setuptools_scm gave the version of a setup.cfg project (older
            # releases: pytest 7.0, pluggy 1.0, zipp, importlib_metadata).
            c2 = c2.replace("[metadata]\n", "[metadata]\nversion = %s\n" % version, 1)
        if c2 != c:
            open(setup_cfg, "w").write(c2)


# Run in the build venv, in the source folder: the PEP 517 backend named by
# pyproject.toml (setuptools' legacy backend without one), sdist and/or wheel.
BUILD = r"""
import importlib, os, sys, tomllib
out, role = sys.argv[1], sys.argv[2]
cfg = tomllib.load(open("pyproject.toml", "rb")) if os.path.exists("pyproject.toml") else {}
bs = cfg.get("build-system", {})
for p in bs.get("backend-path", []):
    sys.path.insert(0, os.path.abspath(p))
mod, _, obj = bs.get("build-backend", "setuptools.build_meta:__legacy__").partition(":")
backend = importlib.import_module(mod)
for part in obj.split(".") if obj else []:
    backend = getattr(backend, part)
if role in ("sdist", "both"):
    print("built:", os.path.join(out, backend.build_sdist(out)))
if role in ("wheel", "both"):
    print("built:", os.path.join(out, backend.build_wheel(out)))
"""


def old_venv(work, out, serves):
    venv = os.path.join(work, "venv-" + serves)
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=False)
        seed = [os.path.join(out, f) for f in sorted(os.listdir(out))
                if f.startswith(("flit_core-", "wheel-")) and f.endswith(".whl")]
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps"] + seed, check=True)
    return venv


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    mirrors, out = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    only = set(argv[3].split(",")) if len(argv) > 3 and argv[3] else None
    os.makedirs(out, exist_ok=True)
    work = out.rstrip("/") + ".build"
    venv = os.path.join(work, "venv")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    for row in read_corpus(os.path.join(HERE, "corpus.tsv")):
        if only and row["project"] not in only and (row["role"] == "sdist" or row["serves"]):
            continue
        # The older tools (wheel:3.6 rows) bootstrap in a build venv of their
        # own, so that the current setuptools' entry points never meet an
        # older setuptools' in-tree backend: flit_core and wheel from the
        # rows already built, then each older tool as it is built.
        py = os.path.join(old_venv(work, out, row["serves"]) if row["serves"] else venv, "bin", "python")
        src = os.path.join(work, "src", "%s-%s" % (row["project"], row["version"]))
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        archive = subprocess.run(["git", "--git-dir", git_dir(mirrors, row["repo"]), "archive", row["tag"]]
                                 + ([row["subdir"]] if row["subdir"] else []), stdout=subprocess.PIPE, check=True)
        subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
        if row["subdir"]:
            src = os.path.join(src, row["subdir"])
        static_version(src, row["version"])
        env = dict(os.environ, SETUPTOOLS_SCM_PRETEND_VERSION=row["version"], SOURCE_DATE_EPOCH="1700000000")
        if row["serves"]:
            # An sdist first, as `python -m build` does: its egg_info is what
            # an older setuptools reads its own version from when it builds
            # itself in-tree (the sdist is thrown away).
            subprocess.run([py, "-c", BUILD, tempfile.mkdtemp(dir=work), "sdist"], cwd=src, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        built = subprocess.run([py, "-c", BUILD, out, row["role"]], cwd=src, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if built.returncode != 0:
            sys.stderr.write(built.stderr[-3000:])
            raise SystemExit("build_index: %s %s did not build (above)" % (row["project"], row["version"]))
        files = [line[len("built: "):] for line in built.stdout.splitlines() if line.startswith("built: ")]
        print("%-18s %-14s %s" % (row["project"], row["version"], " ".join(os.path.basename(f) for f in files)))
        if row["role"] in ("wheel", "both"):
            subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--force-reinstall",
                            files[-1]], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
