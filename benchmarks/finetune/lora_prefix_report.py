#!/usr/bin/env python3
"""Tables of lora_prefix.sh (full vs LoRA vs prefix tuning, Markdown), and the rate choice it asks for.
    python3 lora_prefix_report.py WORK                         the tables
    python3 lora_prefix_report.py WORK --choose TASK METHOD OPT  prints the picked lr of the first seed's sweep
Run folders are WORK/runs/TASK-METHOD-OPT-lrLR-sSEED with run.json and summary.json (zotune train). The pick uses
the dev split only: Jane Austen (austen) the lowest dev loss, SST-2 (sst2) the highest dev accuracy, then the lowest
dev loss."""
import json
import re
import statistics
import sys
from pathlib import Path

METHODS = ("full", "lora", "prefix")
OPTS = ("zo-sgd", "zo-adamu")
NAME = re.compile(r"(austen|sst2)-(full|lora|prefix)-(zo-[a-z]+)-lr([0-9.e+-]+)-s(\d+)")


def runs(work):
    """(task, method, opt, lr string, seed) -> (run.json, summary.json) of every finished run."""
    out = {}
    for d in sorted((work / "runs").glob("*")):
        if not (d / "summary.json").is_file():
            continue
        m = NAME.fullmatch(d.name)  # the optimiser's name and the rate (1e-3) hold dashes
        if not m:
            continue
        task, method, opt, lr, seed = m.groups()
        out[(task, method, opt, lr, int(seed))] = (json.loads((d / "run.json").read_text()),
                                                   json.loads((d / "summary.json").read_text()))
    return out


def dev_key(task, summary):
    d = summary["final_dev"]
    return (d["loss"],) if task == "austen" else (-d["accuracy"], d["loss"])


def sweep(all_runs, task, method, opt):
    seeds = sorted({k[4] for k in all_runs if k[:3] == (task, method, opt)})
    if not seeds:
        return None, []
    first = seeds[0]
    rows = sorted(((float(k[3]), k[3], v) for k, v in all_runs.items() if k[:3] == (task, method, opt)
                   and k[4] == first), key=lambda x: x[0])
    return first, rows


def choose(all_runs, task, method, opt):
    first, rows = sweep(all_runs, task, method, opt)
    if not rows:
        sys.exit(f"lora_prefix_report.py: no finished sweep run of {task} {method} {opt}")
    return min(rows, key=lambda r: dev_key(task, r[2][1]))[1]


def mean_std(xs):
    if not xs:
        return "-"
    if len(xs) < 2:
        return f"{xs[0]:.4f}"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}"


def forwards(cfg, summary):
    return summary["steps"] * 2 * cfg["q"] * cfg.get("grad_accumulation", 1)


def main():
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "target/finetune-peft")
    all_runs = runs(work)
    if len(sys.argv) == 6 and sys.argv[2] == "--choose":
        print(choose(all_runs, *sys.argv[3:6]))
        return
    if len(sys.argv) > 2:
        sys.exit("usage: lora_prefix_report.py WORK [--choose TASK METHOD OPT]")
    walls = {}
    if (work / "walls.tsv").exists():
        for line in (work / "walls.tsv").read_text().splitlines():
            name, _, secs = line.partition("\t")
            walls[name] = float(secs)
    plan = json.loads((work / "plan.json").read_text()) if (work / "plan.json").exists() else {}
    if plan:
        print(f"Device {plan['device']}; seeds {plan['seeds']} (the first runs the sweep); LoRA r={plan['lora_r']}, "
              f"alpha={plan['lora_alpha']}, targets q, v; prefix {plan['prefix_tokens']} tokens; lr grids: full "
              f"{plan['grid']['full']}, lora {plan['grid']['lora']}, prefix {plan['grid']['prefix']}\n")
    for task, title, metric in (("austen", "Jane Austen (stories260K, causal LM): dev = Mansfield Park excerpt, "
                                 "test = Persuasion excerpt (loss, nats)", "loss"),
                                ("sst2", "SST-2 prompt classification (stories260K): dev = first 200 of GLUE's "
                                 "labelled test file, test = GLUE dev", "accuracy")):
        keys = [(m, o) for m in METHODS for o in OPTS if any(k[:3] == (task, m, o) for k in all_runs)]
        if not keys:
            continue
        print(f"### {title}\n")
        print("Sweep (first seed; the picked rate in bold):\n")
        print("| method | optimiser | lr | forward passes | dev loss before | dev loss after | dev acc before "
              "| dev acc after | wall s |")
        print("|---|---|---|---|---|---|---|---|---|")
        picked = {}
        for m, o in keys:
            first, rows = sweep(all_runs, task, m, o)
            picked[(m, o)] = best = choose(all_runs, task, m, o)
            for _, lr, (cfg, s) in rows:
                acc = s["final_dev"].get("accuracy")
                acc0 = s["initial_dev"].get("accuracy")
                mark = "**" if lr == best else ""
                name = f"{task}-{m}-{o}-lr{lr}-s{first}"
                print(f"| {m} | {o} | {mark}{lr}{mark} | {forwards(cfg, s)} | {s['initial_dev']['loss']:.4f} "
                      f"| {s['final_dev']['loss']:.4f} | {'-' if acc0 is None else f'{acc0:.4f}'} "
                      f"| {'-' if acc is None else f'{acc:.4f}'} "
                      f"| {walls.get(name, float('nan')):.1f} |")
        print(f"\nAt the picked rate, every seed (test {metric}):\n")
        print(f"| method | optimiser | lr | seeds | forward passes | test {metric} after (mean ± std) | per seed "
              f"| wall s (mean) |")
        print("|---|---|---|---|---|---|---|---|")
        for m, o in keys:
            best = picked[(m, o)]
            per = sorted((k[4], v) for k, v in all_runs.items() if k[:4] == (task, m, o, best))
            after = [s["final_test"][metric] for _, (_, s) in per]
            cfg, s0 = per[0][1]
            wall = [walls.get(f"{task}-{m}-{o}-lr{best}-s{seed}", float("nan")) for seed, _ in per]
            print(f"| {m} | {o} | {best} | {len(per)} | {forwards(cfg, s0)} | {mean_std(after)} "
                  f"| {', '.join(f'{x:.4f}' for x in after)} | {statistics.mean(wall):.1f} |")
        print()


if __name__ == "__main__":
    main()
