#!/usr/bin/env python3
"""Prints the fine-tuning evidence tables (Markdown) from run.sh's work folder: python3 report.py WORK."""
import json
import statistics
import sys
from pathlib import Path

work = Path(sys.argv[1] if len(sys.argv) > 1 else "target/finetune")
runs = work / "runs"
walls = {}
if (work / "walls.tsv").exists():
    for line in (work / "walls.tsv").read_text().splitlines():
        name, _, secs = line.partition("\t")
        try:
            walls[name] = float(secs)  # the last run of a name wins
        except ValueError:
            walls[name] = float("nan")  # no timing recorded


def load(name):
    d = runs / name
    if not (d / "summary.json").exists():
        return None
    cfg = json.loads((d / "run.json").read_text())
    return cfg, json.loads((d / "summary.json").read_text())


devices = sorted({json.loads((d / "summary.json").read_text()).get("device", "?")
                  for d in runs.glob("*") if (d / "summary.json").exists()}) if runs.exists() else []
if devices:
    print(f"Engine device of the runs (summary.json): {', '.join(devices)}\n")


def forwards(cfg, summary):
    # two forward passes (theta + eps u, theta - eps u) per SPSA sample, q samples, per micro-batch
    return summary["steps"] * 2 * cfg["q"] * cfg["grad_accumulation"]


def names(prefix):
    return sorted(p.name for p in runs.glob(prefix + "*") if p.is_dir())


def mean_std(xs):
    if len(xs) < 2:
        return f"{xs[0]:.4f}" if xs else "-"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}"


sweep = [n for n in names("sweep-")]
if sweep:
    print("### lr sweep (Jane Austen, seed 1, validation: Mansfield Park excerpt)\n")
    print("| optimiser | lr | steps | forward passes | val loss before | val loss after | wall s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for n in sweep:
        r = load(n)
        if r:
            cfg, s = r
            rows.append((s["optimizer"], cfg["optimizer"]["lr"], n, cfg, s))
    for opt, lr, n, cfg, s in sorted(rows, key=lambda x: (x[0], x[1])):
        print(f"| {opt} | {lr:g} | {s['steps']} | {forwards(cfg, s)} | {s['initial_dev']['loss']:.4f} | "
              f"{s['final_dev']['loss']:.4f} | {walls.get(n, float('nan')):.1f} |")
    print()

austen = names("austen-")
if austen:
    print("### Jane Austen: held-out loss (Persuasion excerpt)\n")
    print("| optimiser | seed | lr | steps | forward passes (batch 8x64) | loss before | loss after | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    per = {}
    for n in austen:
        r = load(n)
        if not r:
            continue
        cfg, s = r
        b, a = s["initial_dev"]["loss"], s["final_dev"]["loss"]
        per.setdefault(s["optimizer"], []).append((a, b - a, walls.get(n, float("nan"))))
        print(f"| {s['optimizer']} | {cfg['seed']} | {cfg['optimizer']['lr']:g} | {s['steps']} | "
              f"{forwards(cfg, s)} | {b:.4f} | {a:.4f} | {walls.get(n, float('nan')):.1f} |")
    print("\n| optimiser | runs | loss after (mean ± std) | decrease (mean ± std) | wall s (mean) |")
    print("|---|---|---|---|---|")
    for opt, v in sorted(per.items()):
        print(f"| {opt} | {len(v)} | {mean_std([x[0] for x in v])} | {mean_std([x[1] for x in v])} | "
              f"{statistics.mean(x[2] for x in v):.1f} |")
    print()

sweep2 = names("sweepsst2-")
if sweep2:
    print("### SST-2 lr sweep (seed 1, validation: first 200 examples of GLUE's labelled test file)\n")
    print("| optimiser | lr | steps | forward passes | val loss before | val loss after | val acc before | "
          "val acc after | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in sweep2:
        r = load(n)
        if r:
            cfg, s = r
            rows.append((s["optimizer"], cfg["optimizer"]["lr"], n, cfg, s))
    for opt, lr, n, cfg, s in sorted(rows, key=lambda x: (x[0], x[1])):
        b, a = s["initial_dev"], s["final_dev"]
        print(f"| {opt} | {lr:g} | {s['steps']} | {forwards(cfg, s)} | {b['loss']:.4f} | {a['loss']:.4f} | "
              f"{b['accuracy']:.4f} | {a['accuracy']:.4f} | {walls.get(n, float('nan')):.1f} |")
    print()

sst2 = names("sst2-zo")
if sst2:
    before = None
    log = runs / "sst2-before.log"
    if log.exists():
        before = json.loads(log.read_text().strip().splitlines()[-1])
    print("### SST-2 (GLUE dev, 872 examples): prompt classification\n")
    if before:
        print(f"Before fine-tuning (`zotune eval`, the untouched model): accuracy {before['accuracy']:.4f}, "
              f"F1 {before['f1']:.4f}, loss {before['loss']:.4f} "
              f"(wall {walls.get('sst2-before', float('nan')):.1f} s)\n")
    print("| optimiser | seed | lr | steps | forward passes (batch 16) | dev acc before | dev acc after | "
          "dev F1 after | dev loss after | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    per = {}
    for n in sst2:
        r = load(n)
        if not r:
            continue
        cfg, s = r
        t = s["final_test"]
        acc_b = f"{before['accuracy']:.4f}" if before and "accuracy" in before else "-"
        per.setdefault(s["optimizer"], []).append(t["accuracy"])
        print(f"| {s['optimizer']} | {cfg['seed']} | {cfg['optimizer']['lr']:g} | {s['steps']} | "
              f"{forwards(cfg, s)} | {acc_b} | {t['accuracy']:.4f} | {t['f1']:.4f} | {t['loss']:.4f} | "
              f"{walls.get(n, float('nan')):.1f} |")
    print("\n| optimiser | runs | dev accuracy after (mean ± std) |")
    print("|---|---|---|")
    for opt, v in sorted(per.items()):
        print(f"| {opt} | {len(v)} | {mean_std(v)} |")
