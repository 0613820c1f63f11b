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
        cache = r["cache"] if r["impl"] == "hf" else ("kv cache" if r["cache"] else "none (full recompute)")
        print(f"| {r['impl']} | {cache} | {r['batch']} | {r['prompt']} | {r['new_tokens']} | {r['seconds']:.3f} "
              f"| {r['tokens_per_s']:.1f} |")
    base = [r for r in hf if r["batch"] == 1 and r["cache"] == "dynamic"]
    ours = [r for r in zt if r["cache"] is True]
    if base and ours:
        print(f"\nzotune / HF (dynamic cache), batch 1: {ours[0]['tokens_per_s'] / base[0]['tokens_per_s']:.2f}x")
    if not any(r["batch"] > 1 for r in zt):
        print("zotune batch > 1: not measured (generation takes one sequence so far)")
    devices = {r.get("device") for r in hf + zt}
    print(f"\ndevices: {sorted(str(d) for d in devices)}")


if __name__ == "__main__":
    main()
