#!/usr/bin/env python3
"""Compares a Corral network's verdicts with the hand runs of truth.tsv.

usage: compare.py TRUTH_TSV VERDICTS_DIR [NETWORK_SECONDS]

VERDICTS_DIR holds one GET /api/v1/projects/NAME answer per project
(p-NAME.json), as bench/real_corpus/run writes them. Prints each cell (truth
vs verdict), the accuracy per outcome class, the overall accuracy, the
network's wall time against the sum of the hand runs, and every mismatch with
the verdict's summary. A cell counts as right when the verdict is the
outcome the hand run expects; the worst mistake, a cell published as a
failure of the package that the hand run passes, is counted apart.

Two kinds of cells are counted in classes of their own and also left out
of a second overall figure: `unsupported` (the package's Requires-Python
excludes the interpreter: pip refuses it by hand, the coordinator decides
it without building), and cells this machine cannot build (hand_runs.py's
note starts with "machine cannot build": no C headers for the interpreter,
so the hand run's build_failed, or the tests of a pure-Python fallback
build, are the machine's doing). Such a cell is right only when the
verdict is infra_error or pending (not published as the package's
outcome); a failure verdict on it is counted as blaming the package for
the machine.
"""
import collections
import glob
import json
import os
import sys

FAILURES = {"tests_failed", "import_failed", "install_failed", "build_failed"}
# hand_runs.py's note for a cell this machine cannot build (see there).
MACHINE = "machine cannot build"


def load_truth(path):
    cells = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            row = line.rstrip("\n").split("\t")
            project, version, platform, expected = row[0], row[1], row[2], row[3]
            cells[(project, version, platform)] = {
                "expected": expected, "passed": row[4], "failed": row[5], "skipped": row[6],
                "seconds": float(row[7] or 0), "command": row[8], "note": row[9] if len(row) > 9 else ""}
    return cells


def load_verdicts(folder):
    verdicts = {}
    for path in glob.glob(os.path.join(folder, "p-*.json")):
        with open(path) as f:
            d = json.load(f)
        for v in d.get("versions", []):
            for platform, cell in v.get("cells", {}).items():
                key = (d["project"].lower().replace("-", "_"), v["version"], platform)
                verdicts[key] = cell
    return verdicts


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    truth = load_truth(argv[1])
    verdicts = load_verdicts(argv[2])
    network_s = float(argv[3]) if len(argv) > 3 else 0.0
    per_class = collections.defaultdict(lambda: [0, 0])
    right, wrong_blame, machine_blame, mismatches = 0, 0, 0, []
    print("%-18s %-9s %-20s %-17s %-17s %s" % ("project", "version", "platform", "hand run", "verdict", ""))
    for key in sorted(truth):
        t = truth[key]
        cell = verdicts.get(key, {})
        got = cell.get("status", "missing")
        machine = t["note"].startswith(MACHINE)
        cls = MACHINE if machine else t["expected"]
        # A cell this machine cannot build (the hand run's outcome is the
        # machine's fault): right only when Corral does not publish it as
        # the package's outcome either.
        ok = got in ("infra_error", "pending") if machine else got == t["expected"]
        per_class[cls][0] += ok
        per_class[cls][1] += 1
        right += ok
        if not ok:
            if got in FAILURES and t["expected"] in ("passed", "no_tests", "tests_unrunnable"):
                wrong_blame += 1
            if got in FAILURES and machine:
                machine_blame += 1
            mismatches.append((key, t, cell))
        print("%-18s %-9s %-20s %-17s %-17s %s" % (key[0], key[1], key[2], ("machine:" + t["expected"]) if machine
                                                   else t["expected"], got, "" if ok else "MISMATCH"))
    n = len(truth)
    print("\naccuracy per outcome class (hand run's outcome):")
    for cls in sorted(per_class):
        good, total = per_class[cls]
        print("  %-17s %3d / %3d  %5.1f%%" % (cls, good, total, 100.0 * good / total))
    print("overall: %d / %d cells right (%.1f%%); cells published as a failure of the package that the "
          "hand run passes: %d" % (right, n, 100.0 * right / max(n, 1), wrong_blame))
    tested = [c for c in per_class if c not in ("unsupported", MACHINE)]
    good, total = sum(per_class[c][0] for c in tested), sum(per_class[c][1] for c in tested)
    print("cells a suite or build decides (without unsupported and machine-cannot-build cells): %d / %d (%.1f%%)"
          % (good, total, 100.0 * good / max(total, 1)))
    m_good, m_total = per_class[MACHINE] if MACHINE in per_class else (0, 0)
    print("cells this machine cannot build (no C headers for PyPy): %d, %d answered infra_error or pending; "
          "published as a failure of the package: %d" % (m_total, m_good, machine_blame))
    hand = sum(t["seconds"] for t in truth.values())
    if network_s:
        print("wall time: the network %.0f s for %d cells (two replicas each); the hand runs %.0f s in all "
              "(one run each)" % (network_s, n, hand))
    if mismatches:
        print("\nmismatches:")
        for key, t, cell in mismatches:
            print("  %s %s %s: hand run %s (%s passed, %s failed; %s) vs verdict %s: %s" % (
                key[0], key[1], key[2], t["expected"], t["passed"], t["failed"], t["note"] or t["command"],
                cell.get("status", "missing"), cell.get("summary", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
