#!/usr/bin/env python3
"""The generation table (Markdown) from hf_generate.py's and GenerateBench's JSON lines of one run: tokens/s, and for
zotune's cached runs the phases of the median run (setup: cache, prompts' forward, first tokens; the first decode step,
which captures the graph; the mean of the later steps); then zotune's ratios to HF's dynamic and static caches.

Usage: python3 report.py hf.jsonl zotune.jsonl
"""
import json
import sys


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def main():
    hf, zt = rows(sys.argv[1]), rows(sys.argv[2])
    print("| implementation | cache | batch | prompt | new tokens | s | tokens/s | setup ms | first step ms | ms/step |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in hf + zt:
        if r["impl"] == "hf":
            cache = r["cache"]
        elif not r["cache"]:
            cache = "none (full recompute)"
        else:
            cache = "kv cache, " + ("captured decode (CUDA graph)" if r.get("decode") == "graph" else "eager decode")
        phases = " | ".join("" if r.get(k) is None else f"{r[k]:.2f}"
                            for k in ("setup_ms", "first_step_ms", "decode_step_ms"))
        print(f"| {r['impl']} | {cache} | {r['batch']} | {r['prompt']} | {r['new_tokens']} | {r['seconds']:.3f} "
              f"| {r['tokens_per_s']:.1f} | {phases} |")
    print()
    for batch in sorted({r["batch"] for r in hf}):
        for kind in ("dynamic", "static"):
            base = [r for r in hf if r["batch"] == batch and r["cache"] == kind]
            for decode in ("graph", "eager"):
                ours = [r for r in zt if r["batch"] == batch and r["cache"] is True
                        and r.get("decode", "eager") == decode]
                if base and ours:
                    print(f"zotune ({decode} decode) / HF ({kind} cache), batch {batch}: "
                          f"{ours[0]['tokens_per_s'] / base[0]['tokens_per_s']:.2f}x")
    devices = {r.get("device") for r in hf + zt}
    print(f"\ndevices: {sorted(str(d) for d in devices)}")


if __name__ == "__main__":
    main()
