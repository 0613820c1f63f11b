#!/usr/bin/env python3
"""Prints the end-to-end tables (Markdown) from benchmarks/e2e/run.sh's output folder(s):
    python3 benchmarks/e2e/report.py OUT_DIR [OUT_DIR ...]
Several folders (e.g. two device calls, PHASES split between them) are merged; for each system the last folder
that has it wins. Reads phases.jsonl (each phase's wall clock, launch to exit, measured by run.sh), peer.jsonl
(peer_train.py's result lines), zotune-run/{summary.json,metrics.jsonl}, zotune-train.log (its last line, "time: ...",
where zotune train says its time went) and stepbench.jsonl.

zotune's split comes from its metrics.jsonl: elapsed_s of step t is the time from the start of the step loop to the
end of step t (each step ends with its loss on the host). The step after an evaluation also holds that evaluation
and its checkpoint: its excess over the median step is counted as evaluation time, the rest as step time. The peer
times its steps, evaluations and saves itself (peer_train.py). Trainer overhead = zotune train's time per step /
StepBench's classification step (sgd-inplace-graph-cls, the captured step synchronised each step) at 16 examples x 2
candidates: at 128 tokens per row (the longest rows max_length allows), and at the mean padded row length of the
peer's training batches (the same data and tokenizer), interpolated linearly between StepBench's row lengths.
"""
import json
import statistics
import sys
from pathlib import Path


def lines(path):
    out = []
    if path.exists():
        for ln in path.read_text().splitlines():
            ln = ln.strip()
            if ln.startswith("{"):
                try:
                    out.append(json.loads(ln))
                except json.JSONDecodeError:
                    pass  # a line cut off by a timeout
    return out


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def zotune_split(metrics, steps_wanted):
    """(steps run, loop seconds, step seconds, mean ms/step, median ms/step, eval+checkpoint seconds in the loop)."""
    train = sorted((m for m in metrics if m.get("type") == "train"), key=lambda m: m["t"])
    if not train:
        return None
    evals = {m["t"] for m in metrics if m.get("type") == "eval" and m.get("split", "dev") == "dev"}
    el = {m["t"]: m["elapsed_s"] for m in train}
    diffs, spans = [], []
    for m in train:
        t = m["t"]
        if t - 1 in el:
            d = el[t] - el[t - 1]
            (spans if t - 1 in evals else diffs).append(d)
        elif t == train[0]["t"]:
            diffs.append(el[t])  # the first step, from the loop's start
    med = statistics.median(diffs) if diffs else 0.0
    in_loop_eval = sum(max(0.0, d - med) for d in spans)
    loop = train[-1]["elapsed_s"]
    step_s = loop - in_loop_eval
    n = len(train)
    return n, loop, step_s, step_s / n * 1e3, med * 1e3, in_loop_eval


def interpolate(points, x):
    """Linear interpolation of y(x) through sorted (x, y) points (clamped at the ends)."""
    if not points:
        return None
    points = sorted(points)
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def main():
    dirs = [Path(a) for a in sys.argv[1:]] or [Path("benchmarks/out/e2e")]
    phases, peers, stepbench, gpus = {}, {}, [], []
    zots = {}  # phase (zotune, zotune-eager) -> (summary, metrics)
    times = {}  # phase -> zotune train's "time: ..." line
    for d in dirs:
        if not d.is_dir():
            sys.exit(f"report.py: {d}: no such folder")
        for p in lines(d / "phases.jsonl"):
            if not p.get("skipped") or p["phase"] not in phases:
                phases[p["phase"]] = dict(p, folder=str(d))
        for p in lines(d / "peer.jsonl"):
            if p.get("kind") == "peer-train":
                peers[p["variant"]] = p
        rows = [r for r in lines(d / "stepbench.jsonl") if r.get("kind") == "row" and "ms" in r]
        if rows:
            stepbench = rows
        for ph in ("zotune", "zotune-eager"):
            zr = d / (ph + "-run")
            if (zr / "metrics.jsonl").exists():
                summary = json.loads((zr / "summary.json").read_text()) if (zr / "summary.json").exists() else None
                zots[ph] = (summary, lines(zr / "metrics.jsonl"))
            log = d / (ph + "-train.log")
            if log.exists():  # zotune train's last log line: where its wall time went (setup, steps, ...)
                told = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.startswith("time: ")]
                if told:
                    times[ph] = told[-1]
        if (d / "gpu.txt").exists():
            gpus.append(f"{d}: " + " | ".join((d / "gpu.txt").read_text().split("\n")).strip(" |"))
    zot = zots.get("zotune")
    names = sorted({p.get("model", "?") for p in peers.values()}) or ["gpt2-1558M-seed1"]
    print("### End to end: `zotune train` vs the peer's training loop (SST-2 prompt classification, random-weight "
          f"GPT-2, bf16; model folder {', '.join(names)})\n")
    for g in gpus:
        print(f"- {g}")
    skipped = [p for p in phases.values() if p.get("skipped")]
    for p in skipped:
        print(f"- phase {p['phase']} skipped: {p.get('reason')}")
    failed = [p for p in phases.values() if not p.get("skipped") and p.get("exit", 0) != 0]
    for p in failed:
        print(f"- phase {p['phase']} exited with {p['exit']} (124: its time limit) after {p.get('wall_s')} s")
    print()

    table = []  # (system, wall, steps, step_s, ms/step, other_s, evals_s, saves_s, acc, evaluations)
    # a zotune train that failed or was cut has no wall clock to compare with (its phase's wall is the failure's)
    zp = phases.get("zotune", {})
    zok = "zotune" in zots and not zp.get("skipped") and zp.get("exit", 0) == 0
    zwall = zp.get("wall_s") if zok else None
    zms = zmed = None
    medians = {}
    for ph, label in (("zotune", "zotune train"), ("zotune-eager", "zotune train, eager steps")):
        if ph not in zots:
            continue
        metrics = zots[ph][1]
        sp = zotune_split(metrics, None)
        if sp:
            n, loop, step_s, ms, med, in_loop = sp
            wall = phases.get(ph, {}).get("wall_s")
            dev = [m for m in metrics if m.get("type") == "eval" and m.get("split", "dev") == "dev"]
            acc = dev[-1].get("accuracy") if dev else None
            table.append((label, wall, n, step_s, ms, None if wall is None else wall - step_s, in_loop, None, acc,
                          len(dev)))
            medians[label] = (ms, med)
            if ph == "zotune":
                zms, zmed = ms, med
    for v in ("tuned", "eager"):
        p = peers.get(v)
        if p:
            wall = phases.get("peer-" + v, {}).get("wall_s", p["wall_s"])
            acc = p["evals"][-1]["accuracy"] if p["evals"] else None
            table.append((f"peer {v}", wall, p["steps"], p["train_s"], p["ms_per_step"], wall - p["train_s"],
                          p["eval_s"], p["save_s"] if p.get("saves") else None, acc, len(p["evals"])))
    if not table:
        print("(no results)")
        return
    print("| system | wall s (launch → last line) | steps | steps s | ms / step | steps / s | other s (start, "
          "evaluations, saves) | of which evaluations s | saves s | evaluations | last dev accuracy | wall ÷ "
          "zotune train's |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sysname, wall, n, step_s, ms, other, ev, sv, acc, ne in table:
        ratio = None if zwall is None or wall is None or sysname == "zotune train" else wall / zwall
        print(f"| {sysname} | {fmt(wall)} | {n} | {fmt(step_s)} | {fmt(ms)} | {fmt(1e3 / ms if ms else None, '.2f')} | "
              f"{fmt(other)} | {fmt(ev)} | {fmt(sv)} | {ne} | {fmt(acc, '.4f')} | "
              f"{fmt(ratio, '.2f') + '×' if ratio else '-'} |")
    print()
    for label, (ms, med) in medians.items():
        print(f"{label}: steps mean {ms:.2f} ms, median {med:.2f} ms (with the captured step, the mean includes "
              "the graph captures, one per batch shape); evaluations inside the loop include their checkpoint and "
              "best/ writes.")
    for ph, label in (("zotune", "zotune train"), ("zotune-eager", "zotune train, eager steps")):
        if ph in times:
            print(f"{label}, as it tells it (its last log line, the run's own clock from the start of the command's "
                  f"work, JVM start excluded): {times[ph]}")
        summary = zots.get(ph, (None, None))[0]
        if summary and "graph_captures" in summary:
            print(f"{label}: {summary['graph_captures']} CUDA graph captures in {summary.get('steps')} steps "
                  "(summary.json graph_captures: one per batch shape; the batches are padded to length buckets, "
                  "key pad_multiple, auto 16 on CUDA at max_length 128)")
    lengths = None
    for v in ("tuned", "eager"):
        p = peers.get(v)
        if p:
            print(f"peer {v}: load {p['load_s']:.1f} s, evaluations {p['eval_s']:.1f} s "
                  f"({p['eval_s'] / max(1, len(p['evals'])):.2f} s each), saves {p['save_s']:.1f} s, "
                  f"graph {p['graph']} {p['graph_shapes'] if p['graph'] else ''}, padded row length mean "
                  f"{p['row_length_mean']:.1f} max {p['row_length_max']}, peak {p['peak_alloc_bytes'] / 2**30:.1f} GiB; "
                  f"{p['gpu']}, torch {p['torch']}, transformers {p['transformers']}")
            lengths = p["row_length_mean"]
            if "row_length_changes" in p:
                print(f"  its training batches' longest row (unbucketed) takes {p['row_lengths_distinct']} distinct "
                      f"lengths and changes at {p['row_length_changes']} of {p['steps'] - 1} step boundaries: "
                      "zotune's trainer pads each batch to its length bucket instead (key pad_multiple), and its "
                      "engine holds one captured step graph per batch shape (up to 8)")
    # the same model, data and objective: the untrained model's dev scores agree up to bf16 rounding
    before = []
    if zot is not None:
        d0 = [m for m in zot[1] if m.get("type") == "eval" and m.get("split", "dev") == "dev" and m.get("t") == 0]
        if d0:
            before.append(f"zotune loss {d0[0]['loss']:.4f} accuracy {d0[0]['accuracy']:.4f}")
    for v in ("tuned", "eager"):
        p = peers.get(v)
        if p and p["evals"] and p["evals"][0]["step"] == 0:
            before.append(f"peer {v} loss {p['evals'][0]['loss']:.4f} accuracy {p['evals'][0]['accuracy']:.4f}")
    if before:
        print("dev before step 1 (the same model, data and objective: equal up to bf16 rounding): "
              + "; ".join(before))
    print()
    tz = next((t for t in table if t[0] == "zotune train"), None)
    for v in ("tuned", "eager"):
        tp = next((t for t in table if t[0] == "peer " + v), None)
        if zok and tz and tp and tz[1] and tp[1]:
            verdict = ("target ≥ 3×: " + ("met" if tp[1] / tz[1] >= 3 else "missed")) if v == "tuned" else ""
            print(f"- zotune train vs the {v} peer: wall {tp[1] / tz[1]:.2f}×, steps {tp[4] / tz[4]:.2f}× "
                  f"{verdict}")
    cls = [r for r in stepbench if r.get("objective") == "classification" and r.get("variant", "").endswith("-cls")]
    if cls:
        print("\nStepBench, the captured classification step alone (16 examples × 2 candidates = 32 rows):\n")
        print("| shape | variant | ms / step | zotune train ms / step ÷ this |")
        print("|---|---|---|---|")
        for r in sorted(cls, key=lambda r: int(r["shape"].split("x")[1])):
            print(f"| {r['shape']} | {r['variant']} | {r['ms']:.2f} | {fmt(zms / r['ms'] if zms else None, '.2f')} |")
        pts = [(int(r["shape"].split("x")[1]), r["ms"]) for r in cls if r["variant"] == "sgd-inplace-graph-cls"]
        at128 = dict(pts).get(128)
        if zms and at128:
            print(f"\n- trainer overhead at 128 tokens per row: {zms / at128:.2f}× (zotune train {zms:.2f} ms per step, "
                  f"StepBench {at128:.2f} ms)")
        if zms and lengths and len(pts) > 1:
            ref = interpolate(pts, lengths)
            print(f"- trainer overhead at the mean padded row length {lengths:.1f}: {zms / ref:.2f}× (StepBench "
                  f"interpolated {ref:.2f} ms)")


if __name__ == "__main__":
    main()
