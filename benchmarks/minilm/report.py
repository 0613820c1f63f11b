#!/usr/bin/env python3
"""Tables of run.sh's work folder (issue 12.7, issue 11.7's MiniLM rows).

  python3 report.py WORK                  Markdown tables for benchmarks/RESULTS.md
  python3 report.py WORK --choose PREFIX  the lr the first seed picked for runs PREFIX-lr<lr>-s<first seed> (run.sh)
  python3 report.py WORK --best K OBJ     "method lr" of the k = K method of objective OBJ with the best mean dev
                                          accuracy over its seeds at its picked lr (run.sh's trec phase: the
                                          setting it repeats on TREC; chosen on dev, never on test)

A run's dev number is its best dev accuracy (summary.json best_dev_accuracy; the zero-shot runs: initial_dev); its
test number is metrics.jsonl's test evaluation at summary.json's best_step (the trainer writes one whenever the dev
metric improves, so it belongs to the best-on-dev weights; zero-shot: the first), not the final weights' test line
the trainer also writes at the last step (before 2026-12-07 23:40 UTC this script took the last test line: the final
weights' whenever the best step was not the last). The lr of a method is the one whose first-seed run has
the best dev accuracy (ties: the lower final dev loss), as run.sh picked it; the table gives mean ± std over the
seeds at that lr, the wall time per run and the grid's dev accuracies of the first seed. A run folder without a
summary.json is listed under the grids: "failed" with its log's last line when that is a zotune error (a diverged run
stopped by the trainer), else "unfinished" (cut off); it never enters a mean or a pick. WORK/probe.json (probe.py) and
WORK/lpft.json (lpft.py, phase lpft) add the linear probes' rows."""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

work = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "target/minilm")
args = sys.argv[2:] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else sys.argv[1:]
plan = json.loads((work / "plan.json").read_text()) if (work / "plan.json").exists() else {"seeds": "13 21 42"}
first = plan["seeds"].split()[0]
walls = {}
if (work / "walls.tsv").exists():
    for line in (work / "walls.tsv").read_text().splitlines():
        n, s = line.split("\t")
        walls[n] = float(s)

TASKS = {"mr": "MR", "cr": "CR", "mpqa": "MPQA", "subj": "Subj"}  # lpft.py's LPFT_TASK, runs named <task>512-...
# (task, k, method) -> lr -> seed -> (dev acc, test acc, final dev loss, wall s)
runs = defaultdict(lambda: defaultdict(dict))
failed = defaultdict(lambda: defaultdict(dict))  # the same keys -> lr -> seed -> the reason
for d in sorted((work / "runs").iterdir() if (work / "runs").exists() else []):
    m = re.match(r"(k16|k512|trec|mr512|cr512|mpqa512|subj512)-(.+?)(?:-lr(.+))?-s(\d+)$", d.name)
    if not m:
        continue
    task, method, lr, seed = m.group(1), m.group(2), m.group(3) or "-", m.group(4)
    task, k = (("TREC", 16) if task == "trec" else ("SST-2", int(task[1:])) if task.startswith("k")
               else (TASKS[task[:-3]], 512))
    if not (d / "summary.json").exists():  # failed (its log's last line says why) or cut off
        log = work / "runs" / f"{d.name}.log"
        last = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        failed[(task, k, method)][lr][seed] = (last[0] if last and last[0].startswith("zotune:")
                                               else "unfinished")
        continue
    s = json.loads((d / "summary.json").read_text())
    tests = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()
             if '"split":"test"' in l.replace(" ", "")]
    if method == "zeroshot":
        dev = s.get("initial_dev", {}).get("accuracy", float("nan"))
        test = tests[0]["accuracy"] if tests else float("nan")
    else:
        dev = s.get("best_dev_accuracy", float("nan"))
        # the best-on-dev weights' test line; the trainer also writes the final weights' at the last step
        best = s.get("best_step")
        at = [t for t in tests if best is not None and t.get("t", -1) <= best]
        test = at[-1]["accuracy"] if at else float("nan")
    loss = s.get("final_dev", {}).get("loss", float("inf"))
    runs[(task, k, method)][lr][seed] = (dev, test, loss, walls.get(d.name, float("nan")))


def chosen(by_lr):
    """The lr whose first-seed run has the best dev accuracy (ties: lower final dev loss)."""
    cands = [(lr, seeds[first]) for lr, seeds in by_lr.items() if first in seeds]
    if not cands:
        return None
    return max(cands, key=lambda c: (c[1][0], -c[1][2]))[0]


def ms(xs, scale=100.0, digits=1):
    xs = [x for x in xs if x == x]
    if not xs:
        return "-"
    m = f"{scale * statistics.mean(xs):.{digits}f}"
    return m + (f" ± {scale * statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else "")


if args[:1] == ["--choose"]:
    prefix = args[1]
    m = re.match(r"k(\d+)-(.+)$", prefix)
    lr = chosen(runs.get(("SST-2", int(m.group(1)), m.group(2)), {})) if m else None
    if lr is None:
        sys.exit(f"report.py: no finished first-seed ({first}) run of {prefix}")
    print(lr)
    sys.exit(0)
if args[:1] == ["--best"]:
    k, obj = int(args[1]), args[2]
    best = None
    for (task, kk, method), by_lr in runs.items():
        if task != "SST-2" or kk != k or not method.startswith(obj) or method == "zeroshot":
            continue
        lr = chosen(by_lr)
        if lr is None:
            continue
        score = statistics.mean(v[0] for v in by_lr[lr].values())
        if best is None or score > best[0]:
            best = (score, method, lr)
    if best is None:
        sys.exit("report.py: no finished runs")
    print(best[1], best[2])
    sys.exit(0)

print("| task | k | method | lr (picked on dev, seed %s) | seeds | dev acc %% | test acc %% | s per run |" % first)
print("|---|---|---|---|---|---|---|---|")
order = {"zeroshot": 0, "probe": 1}
for (task, k, method), by_lr in sorted(runs.items(), key=lambda kv: (kv[0][0] != "SST-2", kv[0][1],
                                                                       order.get(kv[0][2], 2), kv[0][2])):
    lr = "-" if method == "zeroshot" else chosen(by_lr)
    if lr is None:
        continue
    seeds = by_lr[lr]
    print(f"| {task} | {k} | {method} | {lr} | {len(seeds)} | {ms([v[0] for v in seeds.values()])} | "
          f"{ms([v[1] for v in seeds.values()])} | {ms([v[3] for v in seeds.values()], 1.0, 0)} |")
probe = work / "probe.json"
if probe.exists():
    for row in json.loads(probe.read_text()):
        print(f"| {row['task']} | {row['k']} | linear probe (logistic regression) | C = {row['c']} (picked on dev) | "
              f"{len(row['test'])} | {ms(row['dev'])} | {ms(row['test'])} | - |")
lpft = work / "lpft.json"
if lpft.exists():
    rows = json.loads(lpft.read_text())
    cs = "/".join(f"{r['c']:g}" for r in rows)
    print(f"| {rows[0].get('task', 'SST-2')} | 512 | linear probe (lpft.py, unnormalised; the head-lpft runs' start) | "
          f"C = {cs} (picked on dev) "
          f"| {len(rows)} | {ms([r['dev'] for r in rows])} | {ms([r['test'] for r in rows])} | - |")
print()
print(f"Grids, dev accuracy % of the first seed ({first}) per lr:")
print()
for key in sorted(set(runs) | set(failed)):
    task, k, method = key
    if method == "zeroshot" or task == "TREC":
        continue
    cells = {lr: f"{100 * seeds[first][0]:.1f}" for lr, seeds in runs[key].items() if first in seeds}
    cells.update({lr: "failed" if seeds[first].startswith("zotune:") else "unfinished"
                  for lr, seeds in failed[key].items() if first in seeds})
    print(f"- {'' if task == 'SST-2' else task + ' '}k = {k}, {method}: "
          + ", ".join(f"{lr}: {cells[lr]}" for lr in sorted(cells, key=float)))
if failed:
    print()
    print("Runs without a summary (failed: the last line of the run's log; unfinished: cut off):")
    print()
    for (task, k, method), by_lr in sorted(failed.items()):
        for lr, seeds in sorted(by_lr.items()):
            for seed, reason in sorted(seeds.items()):
                print(f"- {task} k = {k}, {method}, lr {lr}, seed {seed}: {reason}")
