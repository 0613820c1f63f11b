#!/usr/bin/env python3
"""The generation table (Markdown) from hf_generate.py's and GenerateBench's JSON lines of one run.

Usage: python3 report.py hf.jsonl zotune.jsonl
"""
import json
import sys


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def main():
    hf, zt = rows(sys.argv[1]), rows(sys.argv[2])
    print("| implementation | cache | batch | prompt | new tokens | s | tokens/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in hf + zt:
        if r["impl"] == "hf":
            cache = r["cache"]
        elif not r["cache"]:
            cache = "none (full recompute)"
        else:
            cache = "kv cache, " + ("captured decode (CUDA graph)" if r.get("decode") == "graph" else "eager decode")
        print(f"| {r['impl']} | {cache} | {r['batch']} | {r['prompt']} | {r['new_tokens']} | {r['seconds']:.3f} "
              f"| {r['tokens_per_s']:.1f} |")
    print()
    for batch in sorted({r["batch"] for r in hf}):
        base = [r for r in hf if r["batch"] == batch and r["cache"] == "dynamic"]
        for decode in ("graph", "eager"):
            ours = [r for r in zt if r["batch"] == batch and r["cache"] is True and r.get("decode", "eager") == decode]
            if base and ours:
                print(f"zotune ({decode} decode) / HF (dynamic cache), batch {batch}: "
                      f"{ours[0]['tokens_per_s'] / base[0]['tokens_per_s']:.2f}x")
    devices = {r.get("device") for r in hf + zt}
    print(f"\ndevices: {sorted(str(d) for d in devices)}")


if __name__ == "__main__":
    main()
