#!/usr/bin/env python3
"""The DFO-LoRA speed table from speed.sh's folder: python3 speed_report.py OUT_DIR. Per shape, zotune batched,
zotune sequential and the peer (the public code's loop): generations/s, ms per generation, members/s, device memory,
and the ratios batched/peer (the issue's target: >= 10x) and batched/sequential. Rows that did not run are listed
with their reason (deadline, error)."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/out/dfo-speed")
rows, other = {}, []
for name in ("zotune.jsonl", "peer.jsonl"):
    f = out / name
    if not f.exists():
        other.append(f"{name}: missing")
        continue
    for line in f.read_text().splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("kind") == "row":
            rows[(r["shape"], r["system"])] = r
        else:
            other.append(f"{r.get('system', '?')} {r.get('shape', '?')}: {r.get('kind')} "
                         f"{r.get('reason', r.get('error', ''))}")

gpu = (out / "gpu.txt").read_text().strip().replace("\n", "; ") if (out / "gpu.txt").exists() else "?"
print(f"GPU, date, build: {gpu}\n")
print("| shape | system | objective | rows/member | forwards/gen | generations timed | ms/generation (median) | "
      "generations/s | members/s | device memory GiB | vs peer | vs sequential |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
GIB = 1 << 30
shapes = []
for shape, _ in rows:
    if shape not in shapes:
        shapes.append(shape)
verdicts = []
for shape in shapes:
    peer = rows.get((shape, "peer-sequential"))
    seq = rows.get((shape, "zotune-sequential"))
    seq_bf16 = rows.get((shape, "zotune-sequential-bf16"))
    for system in ("zotune-batched", "zotune-sequential", "zotune-batched-bf16", "zotune-sequential-bf16",
                   "peer-sequential"):
        r = rows.get((shape, system))
        if r is None:
            continue
        mem = r.get("device_used_bytes", r.get("memgetinfo_used_bytes", -1))
        mem = f"{mem / GIB:.1f}" if mem and mem > 0 else "-"
        if system == "peer-sequential" and "peak_reserved_bytes" in r:
            mem += f" (torch peak reserved {r['peak_reserved_bytes'] / GIB:.1f})"
        vs_peer = f"{r['generations_per_s'] / peer['generations_per_s']:.2f}x" if peer and system != "peer-sequential" \
            else "-"
        same_seq = seq_bf16 if system.endswith("-bf16") else seq
        vs_seq = f"{r['generations_per_s'] / same_seq['generations_per_s']:.2f}x" \
            if same_seq and system.startswith("zotune-batched") else "-"
        label = system if r.get("dtype", "fp32") == "fp32" or system.endswith(r["dtype"]) \
            else f"{system} ({r['dtype']})"
        print(f"| {shape} | {label} | {r['objective']} | {r['rows_per_member']} | {r['forwards_per_generation']} | "
              f"{r['generations']} | {r['generation_ms_median']:.1f} | {r['generations_per_s']:.3f} | "
              f"{r['members_per_s']:.1f} | {mem} | {vs_peer} | {vs_seq} |")
    for suffix, name in (("", "batched (fp32)"), ("-bf16", "batched (bf16 base)")):
        b = rows.get((shape, "zotune-batched" + suffix))
        if b and peer:
            ratio = b["generations_per_s"] / peer["generations_per_s"]
            verdicts.append(f"{shape}: {name}/peer (fp32) {ratio:.2f}x — target >= 10x "
                            f"{'met' if ratio >= 10 else 'NOT met'}")
    for s_row, name in ((seq, "fp32"), (seq_bf16, "bf16")):
        if s_row and "max_rel_diff_vs_batched" in s_row:
            verdicts.append(f"{shape}: sequential vs batched losses ({name}), max relative difference "
                            f"{s_row['max_rel_diff_vs_batched']:.2e}")
print()
for v in verdicts:
    print("- " + v)
for o in other:
    print("- not run: " + o)
any_row = next(iter(rows.values()), None)
if any_row:
    print(f"\nSetting: lambda {any_row['population']}, {any_row['examples']} examples x {any_row['seq']} tokens, "
          f"D {any_row['subspace']}, r {any_row['rank']}, peer float32, searched layer {any_row['layer']} of "
          f"{any_row['layers']} (first shape), other layers: {any_row['others']}.")
