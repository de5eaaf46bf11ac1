#!/usr/bin/env python3
"""Where the time of each task went: the fidelity steps of the test phase
(finding the suite, the tree, the test requirements: "tests: setup"; the
re-run of failing tests: "tests: re-run") against the suite's own run
("tests: suite"), read from the `time:` line that ends every result's log.

usage: times.py COORDINATOR_URL VERDICTS_DIR

VERDICTS_DIR holds the p-NAME.json answers bench/real_corpus/run saved; the
coordinator (still running, or `corral serve --data OUT/coord` started again
on the network's data) serves each task's results and logs.
"""
import glob
import gzip
import json
import os
import statistics
import sys
import urllib.request


def get(url, accept="application/json"):
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=30) as r:
        data = r.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def phases(log):
    for line in reversed(log.splitlines()):
        if line.startswith("==> [corral] time: "):
            out = {}
            for part in line[len("==> [corral] time: "):].split(", "):
                name, _, rest = part.rpartition(" ")  # "NAME SECONDS s"
                name, _, seconds = name.rpartition(" ")
                try:
                    out[name] = float(seconds)
                except ValueError:
                    pass
            return out
    return {}


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    base = argv[1].rstrip("/")
    rows = []
    for path in sorted(glob.glob(os.path.join(argv[2], "p-*.json"))):
        with open(path) as f:
            project = json.load(f)
        for version in project.get("versions", []):
            for platform, cell in version.get("cells", {}).items():
                if not cell.get("task_id"):
                    continue
                task = json.loads(get(base + "/api/v1/tasks/" + cell["task_id"]))
                for result in task.get("results", []):
                    if not result.get("log_url"):
                        continue
                    p = phases(get(base + result["log_url"], "*/*").decode("utf-8", "replace"))
                    if "tests: suite" in p:
                        rows.append((project["project"], platform, p))
    if not rows:
        print("no result with a test suite carries a time: line (volunteers older than this benchmark?)")
        return 1
    setup = [p.get("tests: setup", 0.0) for _, _, p in rows]
    suite = [p["tests: suite"] for _, _, p in rows]
    rerun = [p.get("tests: re-run", 0.0) for _, _, p in rows]
    total = [sum(p.values()) for _, _, p in rows]
    print("results that ran a suite: %d" % len(rows))
    for name, xs in (("tests: setup", setup), ("tests: suite", suite), ("tests: re-run", rerun),
                     ("every phase", total)):
        print("  %-13s median %6.2f s, mean %6.2f s, sum %7.1f s" % (name, statistics.median(xs),
                                                                     statistics.mean(xs), sum(xs)))
    ratios = sorted((a + c) / b for a, b, c in zip(setup, suite, rerun) if b > 0)
    print("fidelity steps (setup + re-run) against the suite: %.2fx of the suite's time in all; per task median "
          "%.2fx, 90th percentile %.2fx; %.1f%% of all phases" % (
              (sum(setup) + sum(rerun)) / sum(suite), statistics.median(ratios),
              ratios[int(0.9 * (len(ratios) - 1))], 100.0 * (sum(setup) + sum(rerun)) / sum(total)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
