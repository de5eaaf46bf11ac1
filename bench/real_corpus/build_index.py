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

HERE = os.path.dirname(os.path.abspath(__file__))
VCS_PLUGINS = r'\s*"(setuptools[-_]scm|flit[-_]scm|hatch-vcs|hatch_vcs|calver|setuptools-git-versioning)[^"]*",?'


def read_corpus(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            project, repo, tag, version, role, subdir, reqs, command = line.rstrip("\n").split("\t")
            rows.append(dict(project=project, repo=repo, tag=tag, version=version, role=role,
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
        s2 = re.sub(r"use_(scm_version|calver)\s*=\s*(\{[^}]*\}|True|\"[^\"]*\")", "version=%r" % version, s)
        s2 = re.sub(r"setup_requires\s*=\s*\[[^\]]*\],?", "", s2)
        if s2 != s:
            open(setup_py, "w").write(s2)
    setup_cfg = os.path.join(src, "setup.cfg")
    if os.path.exists(setup_cfg):  # a development checkout's egg_info tags (".post" + date)
        c = open(setup_cfg).read()
        c2 = re.sub(r"(?m)^tag_(build|date)\s*=.*$", "", c)
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
    py = os.path.join(venv, "bin", "python")
    for row in read_corpus(os.path.join(HERE, "corpus.tsv")):
        if only and row["project"] not in only and row["role"] == "sdist":
            continue
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
