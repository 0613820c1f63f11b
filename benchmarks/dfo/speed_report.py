#!/usr/bin/env python3
"""The DFO-LoRA speed table from speed.sh's folder: python3 speed_report.py OUT_DIR. Per shape, zotune batched,
zotune sequential and the peer (the public code's loop): generations/s, ms per generation, members/s, device memory,
and the ratios batched/peer (the issue's target: >= 10x) and batched/sequential. The peer runs in float32
(peer.jsonl, the public code's) and in bf16 (peer-bf16.jsonl, dfo_peer.py --dtype bf16): "vs peer" is against the
float32 peer, "vs peer bf16" (zotune's bf16-base rows) against the bf16 one, and the target lines give batched
(bf16 base) / peer (bf16) next to the float32 peer's. Rows that did not run are listed with their reason (deadline,
error); a folder from before the bf16 peer says peer-bf16.jsonl is missing."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/out/dfo-speed")
rows, other = {}, []
for name in ("zotune.jsonl", "peer.jsonl", "peer-bf16.jsonl"):
    f = out / name
    if not f.exists():
        other.append(f"{name}: missing")
        continue
    for line in f.read_text().splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        dtype = r.get("dtype", "fp32")
        system = r.get("system", "?")
        # the peer's bf16 rows keep their system's name (its dtype tells them apart): keyed apart here
        key = f"{system}-{dtype}" if system == "peer-sequential" and dtype != "fp32" else system
        if r.get("kind") == "row":
            rows[(r["shape"], key)] = r
        else:
            label = system if dtype == "fp32" or system.endswith(dtype) else f"{system} ({dtype})"
            other.append(f"{label} {r.get('shape', '?')}: {r.get('kind')} "
                         f"{r.get('reason', r.get('error', ''))}")

gpu = (out / "gpu.txt").read_text().strip().replace("\n", "; ") if (out / "gpu.txt").exists() else "?"
print(f"GPU, date, build: {gpu}\n")
print("| shape | system | objective | rows/member | forwards/gen | generations timed | ms/generation (median) | "
      "generations/s | members/s | device memory GiB | vs peer | vs sequential | vs peer bf16 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
GIB = 1 << 30
shapes = []
for shape, _ in rows:
    if shape not in shapes:
        shapes.append(shape)
verdicts = []
for shape in shapes:
    peer = rows.get((shape, "peer-sequential"))
    peer_bf16 = rows.get((shape, "peer-sequential-bf16"))
    seq = rows.get((shape, "zotune-sequential"))
    seq_bf16 = rows.get((shape, "zotune-sequential-bf16"))
    for system in ("zotune-batched", "zotune-sequential", "zotune-batched-bf16", "zotune-sequential-bf16",
                   "peer-sequential", "peer-sequential-bf16"):
        r = rows.get((shape, system))
        if r is None:
            continue
        mem = r.get("device_used_bytes", r.get("memgetinfo_used_bytes", -1))
        mem = f"{mem / GIB:.1f}" if mem and mem > 0 else "-"
        if system.startswith("peer-sequential") and "peak_reserved_bytes" in r:
            mem += f" (torch peak reserved {r['peak_reserved_bytes'] / GIB:.1f})"
        vs_peer = f"{r['generations_per_s'] / peer['generations_per_s']:.2f}x" \
            if peer and not system.startswith("peer-sequential") else "-"
        vs_peer_bf16 = f"{r['generations_per_s'] / peer_bf16['generations_per_s']:.2f}x" \
            if peer_bf16 and system.startswith("zotune-") and system.endswith("-bf16") else "-"
        same_seq = seq_bf16 if system.endswith("-bf16") else seq
        vs_seq = f"{r['generations_per_s'] / same_seq['generations_per_s']:.2f}x" \
            if same_seq and system.startswith("zotune-batched") else "-"
        label = r["system"] if r.get("dtype", "fp32") == "fp32" or r["system"].endswith(r["dtype"]) \
            else f"{r['system']} ({r['dtype']})"  # the bf16 peer: "peer-sequential (bf16)"
        print(f"| {shape} | {label} | {r['objective']} | {r['rows_per_member']} | {r['forwards_per_generation']} | "
              f"{r['generations']} | {r['generation_ms_median']:.1f} | {r['generations_per_s']:.3f} | "
              f"{r['members_per_s']:.1f} | {mem} | {vs_peer} | {vs_seq} | {vs_peer_bf16} |")
    for suffix, name in (("", "batched (fp32)"), ("-bf16", "batched (bf16 base)")):
        b = rows.get((shape, "zotune-batched" + suffix))
        if b and peer:
            ratio = b["generations_per_s"] / peer["generations_per_s"]
            verdicts.append(f"{shape}: {name}/peer (fp32) {ratio:.2f}x — target >= 10x "
                            f"{'met' if ratio >= 10 else 'NOT met'}")
    b = rows.get((shape, "zotune-batched-bf16"))
    if b and peer_bf16:  # like for like: both in bf16
        ratio = b["generations_per_s"] / peer_bf16["generations_per_s"]
        verdicts.append(f"{shape}: batched (bf16 base)/peer (bf16) {ratio:.2f}x — target >= 10x "
                        f"{'met' if ratio >= 10 else 'NOT met'}")
    if peer and peer_bf16:
        verdicts.append(f"{shape}: peer bf16/peer fp32 "
                        f"{peer_bf16['generations_per_s'] / peer['generations_per_s']:.2f}x")
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
          f"D {any_row['subspace']}, r {any_row['rank']}, "
          f"{'peer float32 and bf16' if any(k[1] == 'peer-sequential-bf16' for k in rows) else 'peer float32'}, "
          f"searched layer {any_row['layer']} of "
          f"{any_row['layers']} (first shape), other layers: {any_row['others']}.")
