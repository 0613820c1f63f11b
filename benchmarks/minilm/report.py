#!/usr/bin/env python3
"""Issue 12.7's tables from run.sh's work folder: python3 report.py WORK. Per k and method, the lr with the best mean
dev accuracy over seeds (its best-on-dev step), then the test accuracy of those runs (test = the 872 GLUE dev
sentences) as mean ± std over seeds. The test number of a run is the last test evaluation in metrics.jsonl, which the
trainer writes whenever the dev metric improves (so it belongs to the best-on-dev weights)."""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

work = Path(sys.argv[1] if len(sys.argv) > 1 else "target/minilm")
runs = defaultdict(lambda: defaultdict(dict))  # (k, method) -> lr -> seed -> (dev, test)
for d in sorted((work / "runs").glob("k*")):
    if not (d / "summary.json").exists():
        continue
    m = re.match(r"k(\d+)-(.+?)(?:-lr([^-]+))?-s(\d+)$", d.name)
    if not m:
        continue
    k, method, lr, seed = m.group(1), m.group(2), m.group(3) or "-", m.group(4)
    s = json.loads((d / "summary.json").read_text())
    tests = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()
             if '"split":"test"' in l.replace(" ", "")]
    if method == "zeroshot":
        dev = s["initial_dev"]["accuracy"]
        test = tests[0]["accuracy"] if tests else float("nan")
    else:
        dev = s.get("best_dev_accuracy", float("nan"))
        test = tests[-1]["accuracy"] if tests else float("nan")
    runs[(int(k), method)][lr][seed] = (dev, test)


def ms(xs):
    xs = [x for x in xs if x == x]
    if not xs:
        return "-"
    return f"{100 * statistics.mean(xs):.1f}" + (f" ± {100 * statistics.stdev(xs):.1f}" if len(xs) > 1 else "")


print("| k | method | lr (best mean dev) | seeds | dev acc % | test acc % (872 GLUE dev) |")
print("|---|---|---|---|---|---|")
for (k, method), by_lr in sorted(runs.items()):
    lr, seeds = max(by_lr.items(), key=lambda kv: statistics.mean(v[0] for v in kv[1].values()))
    print(f"| {k} | {method} | {lr} | {len(seeds)} | {ms([v[0] for v in seeds.values()])} | "
          f"{ms([v[1] for v in seeds.values()])} |")
