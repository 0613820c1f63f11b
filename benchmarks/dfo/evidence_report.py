#!/usr/bin/env python3
"""evidence.sh's rate choice and tables.

  python3 evidence_report.py pick WORK TASK METHOD SEED "LR LR ..."
      prints the rate of METHOD picked on TASK's dev from the sweep runs of SEED: the highest final dev accuracy,
      then the lowest final dev loss, then the smaller rate; exit 1 (nothing printed) while a rate of the grid has
      neither finished nor failed.
  python3 evidence_report.py report WORK
      the Markdown tables for benchmarks/RESULTS.md: per task and method the test accuracy at the end of the run
      (mean ± std over seeds, and each seed's), the forward passes, wall time, peak GPU memory per run and host peak
      RSS; the sweeps; the decoder run.

Run folders (WORK/runs): TASK-METHOD-sSEED (dfo) and TASK-METHOD-lrLR-sSEED (zo); runs.tsv (name, pid, start, end,
exit code), gpu_proc.csv (time, pid, MiB: nvidia-smi's compute processes), gpu_total.csv (time, MiB), host_rss.csv
(time, pid, KiB).
"""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METHODS = ["zeroshot", "dfo-cma", "dfo-fwa", "dfo-alternate", "zo-sgd-full", "zo-adamu-full", "zo-sgd-lora",
           "zo-adamu-lora"]
LABELS = {"zeroshot": "base model (zero-shot)", "dfo-cma": "C-LoRA (CMA-ES)", "dfo-fwa": "F-LoRA (Fireworks)",
          "dfo-alternate": "alternate (the article's)", "zo-sgd-full": "ZO-SGD, full",
          "zo-adamu-full": "ZO-AdaMU, full", "zo-sgd-lora": "ZO-SGD, LoRA", "zo-adamu-lora": "ZO-AdaMU, LoRA"}
NAME = re.compile(r"^(.+?)-(" + "|".join(METHODS) + r")(?:-lr([^-]+(?:-\d+)?))?-s(\d+)$")


def load(d):
    """(summary, metrics lines) of a finished run folder, or None."""
    s = d / "summary.json"
    if not s.exists():
        return None
    metrics = []
    m = d / "metrics.jsonl"
    if m.exists():
        for line in m.read_text().splitlines():
            try:
                metrics.append(json.loads(line))
            except ValueError:
                pass
    return json.loads(s.read_text()), metrics


def acc(e):
    return e.get("accuracy", float("nan")) if isinstance(e, dict) else float("nan")


def loss(e):
    return e.get("loss", float("nan")) if isinstance(e, dict) else float("nan")


def failed_runs(work):
    """Runs whose last attempt ended with zotune's own error (exit 1 to 127); one killed by a signal (a time
    limit: 128 and above) is not failed, it runs again on the next invocation."""
    last = {}
    f = work / "runs.tsv"
    if f.exists():
        for line in f.read_text().splitlines():
            p = line.split("\t")
            if len(p) >= 5 and p[4].isdigit():
                last[p[0]] = int(p[4])
    return {name for name, rc in last.items() if 0 < rc < 128 and not (work / "runs" / name / "summary.json").exists()}


def pick(work, task, method, seed, grid):
    failed = failed_runs(work)
    best = None
    for lr in grid.split():
        name = f"{task}-{method}-lr{lr}-s{seed}"
        r = load(work / "runs" / name)
        if r is None:
            if name in failed:
                continue
            return None  # not settled yet
        s = r[0]
        key = (acc(s.get("final_dev")), -loss(s.get("final_dev")), -float(lr))
        if key[0] != key[0]:  # no dev accuracy: not a candidate
            continue
        if best is None or key > best[0]:
            best = (key, lr)
    return best[1] if best else None


def peaks(work):
    """pid -> peak GPU MiB, pid -> peak host RSS MiB, whole GPU's peak MiB."""
    gpu, rss, total = defaultdict(float), defaultdict(float), float("nan")
    f = work / "gpu_proc.csv"
    if f.exists():
        for line in f.read_text().splitlines():
            p = [x.strip() for x in line.split(",")]
            if len(p) >= 3 and p[1].isdigit():
                try:
                    gpu[p[1]] = max(gpu[p[1]], float(p[2]))
                except ValueError:
                    pass
    f = work / "gpu_total.csv"
    if f.exists():
        vals = []
        for line in f.read_text().splitlines():
            p = [x.strip() for x in line.split(",")]
            try:
                vals.append(float(p[1]))
            except (IndexError, ValueError):
                pass
        if vals:
            total = max(vals)
    f = work / "host_rss.csv"
    if f.exists():
        for line in f.read_text().splitlines():
            p = line.split(",")
            try:
                rss[p[1]] = max(rss[p[1]], float(p[2]) / 1024)
            except (IndexError, ValueError):
                pass
    return gpu, rss, total


def run_pids(work):
    out = {}
    f = work / "runs.tsv"
    if f.exists():
        for line in f.read_text().splitlines():
            p = line.split("\t")
            if len(p) >= 5 and p[4] == "0":
                out[p[0]] = p[1]
    return out


def ms(xs, scale=100.0, digits=1):
    xs = [x for x in xs if x == x]
    if not xs:
        return "-"
    m = f"{scale * statistics.mean(xs):.{digits}f}"
    return m + (f" ± {scale * statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else "")


def report(work):
    setting = json.loads((work / "setting.json").read_text()) if (work / "setting.json").exists() else {}
    first = str(setting.get("first_seed", 13))
    gpu_peak, rss_peak, total_peak = peaks(work)
    pids = run_pids(work)
    runs = defaultdict(lambda: defaultdict(dict))  # (task, method) -> lr -> seed -> (name, summary, metrics)
    decoder = []
    for d in sorted((work / "runs").glob("*")):
        r = load(d)
        if r is None:
            continue
        if d.name.startswith("decoder-"):
            decoder.append((d, r))
            continue
        m = NAME.match(d.name)
        if not m:
            continue
        task, method, lr, seed = m.group(1), m.group(2), m.group(3) or "-", m.group(4)
        runs[(task, method)][lr][seed] = (d.name, r[0], r[1])
    gpu_txt = (work / "gpu.txt").read_text().strip().replace("\n", "; ") if (work / "gpu.txt").exists() else "?"
    print(f"GPU and date: {gpu_txt}. Budget {setting.get('budget', '?')} forward evaluations "
          f"(dfo spends {setting.get('evaluations', '?')}; zo: {setting.get('zo_steps', '?')} steps x 2 forwards "
          f"over the whole training set), device {setting.get('device', '?')}, {setting.get('parallel', '?')} runs "
          f"at a time, rates swept on seed {first} of {setting.get('grid_tasks', '?')}.\n")
    any_pid_seen = any(p in gpu_peak for p in pids.values())
    tasks = sorted({t for t, _ in runs})
    for task in tasks:
        print(f"### {task} (test accuracy at the end of the run)\n")
        print("| method | lr (picked on dev) | seeds | forward passes | test acc % (mean ± std) | per seed | "
              "dev acc % | wall s (mean) | peak GPU MiB | host peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for method in METHODS:
            by_lr = runs.get((task, method))
            if not by_lr:
                continue
            if method.startswith("dfo-") or method == "zeroshot":
                lr = "-"
            else:  # the picked rate: the one with runs beyond the sweep seed, else the sweep's best on dev
                lr = max(by_lr, key=lambda k: (len(by_lr[k]), statistics.mean(
                    acc(v[1].get("final_dev")) for v in by_lr[k].values())))
            seeds = by_lr[lr]
            tests = [acc(v[1].get("final_test")) for _, v in sorted(seeds.items())]
            devs = [acc(v[1].get("final_dev")) for v in seeds.values()]
            walls = [v[1].get("seconds", float("nan")) for v in seeds.values()]
            fwd = []
            for name, s, metrics in seeds.values():
                if method.startswith("dfo-"):
                    sub = work / "runs" / name / "subspace.json"
                    fwd.append(json.loads(sub.read_text()).get("evaluations") if sub.exists() else None)
                elif method == "zeroshot":
                    fwd.append(0)
                else:
                    fwd.append(2 * s.get("steps", 0))
            fwd = sorted({f for f in fwd if f is not None})
            g = [gpu_peak[pids[v[0]]] for v in seeds.values() if v[0] in pids and pids[v[0]] in gpu_peak]
            h = [rss_peak[pids[v[0]]] for v in seeds.values() if v[0] in pids and pids[v[0]] in rss_peak]
            per_seed = ", ".join(f"{k}: {100 * acc(v[1].get('final_test')):.1f}" for k, v in sorted(seeds.items()))
            print(f"| {LABELS[method]} | {lr} | {len(seeds)} | {'/'.join(map(str, fwd)) or '-'} | {ms(tests)} | "
                  f"{per_seed} | {ms(devs)} | {ms(walls, 1, 0)} | {ms(g, 1, 0) if g else '-'} | "
                  f"{ms(h, 1, 0) if h else '-'} |")
        print()
    if not any_pid_seen:
        print(f"Peak GPU memory per run: not available (nvidia-smi showed none of the runs' process ids: a container "
              f"hides them, or no GPU); the whole GPU's peak with the runs sharing it: "
              f"{'-' if total_peak != total_peak else f'{total_peak:.0f} MiB'}.\n")
    print("### Rate sweeps (seed " + first + "; final dev accuracy / loss, test accuracy)\n")
    print("| task | method | lr | dev acc % | dev loss | test acc % |")
    print("|---|---|---|---|---|---|")
    for (task, method), by_lr in sorted(runs.items()):
        if method.startswith("dfo-") or method == "zeroshot":
            continue
        for lr, seeds in sorted(by_lr.items(), key=lambda kv: float(kv[0])):
            if first in seeds:
                s = seeds[first][1]
                print(f"| {task} | {method} | {lr} | {100 * acc(s.get('final_dev')):.1f} | "
                      f"{loss(s.get('final_dev')):.4f} | {100 * acc(s.get('final_test')):.1f} |")
    print()
    for d, (s, metrics) in decoder:
        gens = [e for e in metrics if e.get("type") == "dfo"]
        print(f"Decoder run {d.name}: {len(gens)} generations, best loss of generation 1 "
              f"{gens[0]['loss'] if gens else float('nan'):.4f} -> training loss at the result "
              f"{s.get('last_train_loss', float('nan')):.4f}; dev accuracy {100 * acc(s.get('initial_dev')):.1f} % "
              f"(base) -> "
              f"{100 * acc(s.get('final_dev')):.1f} %, test accuracy {100 * acc(s.get('final_test')):.1f} %; "
              f"{s.get('seconds', float('nan')):.0f} s.")
    failed = failed_runs(work)
    if failed:
        print("\nFailed runs (see WORK/logs): " + ", ".join(sorted(failed)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(Path(sys.argv[2]))
    elif len(sys.argv) == 7 and sys.argv[1] == "pick":
        lr = pick(Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
        if lr is None:
            sys.exit(1)
        print(lr)
    else:
        sys.exit("usage: evidence_report.py report WORK | pick WORK TASK METHOD SEED 'LR LR ...'")


if __name__ == "__main__":
    main()
