#!/usr/bin/env python3
"""Table of two StepBench runs (benchmarks/step_ab.sh): median ms per step with build A and build B, B/A.
usage: report_ab.py A.jsonl B.jsonl"""
import json
import sys


def rows(path):
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("system") == "zotune" and "ms" in r and "variant" in r:
                out[(r["model"], r["dtype"], r["shape"], r["variant"])] = r["ms"]
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = rows(sys.argv[1]), rows(sys.argv[2])
    print("| model | dtype | batch | variant | A ms | B ms | B/A |")
    print("|---|---|---|---|---:|---:|---:|")
    ratios = []
    for k in sorted(set(a) | set(b)):
        ma, mb = a.get(k), b.get(k)
        ratio = mb / ma if ma and mb else None
        if ratio:
            ratios.append(ratio)
        cell = lambda v: "%.2f" % v if v is not None else "not run"
        print("| %s | %s | %s | %s | %s | %s | %s |" % (k + (cell(ma), cell(mb), "%.3f" % ratio if ratio else "")))
    if ratios:
        print("\nrows: %d; B/A min %.3f, median %.3f, max %.3f" % (len(ratios), min(ratios),
              sorted(ratios)[len(ratios) // 2], max(ratios)))


if __name__ == "__main__":
    main()
