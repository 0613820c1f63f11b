#!/usr/bin/env python3
"""Merges hf_forward.py's JSON and JMH's JSON (ForwardBenchmark) into the markdown table of RESULTS.md.

Usage: python3 report_forward.py hf.json jmh.json

Columns: the GEMM floor is the forward's matrix-product FLOPs at the 8192^3 cuBLAS rate of the same run;
"GEMMs at shape" is the same products timed one by one through cuBLAS at their real shapes (hf_forward.py).
"""
import json
import sys

SIZES = {"124M": (12, 768), "355M": (24, 1024), "774M": (36, 1280), "1558M": (48, 1600)}
VOCAB = 50257


def gemm_flops(size, b, t):
    layers, c = SIZES[size]
    return b * t * (layers * (24 * c * c + 4 * t * c) + 2 * c * VOCAB)


def main():
    hf = json.load(open(sys.argv[1]))
    jmh = json.load(open(sys.argv[2]))
    rate = hf["cublas_bf16_tflops"] * 1e12
    hf_ms = {(r["model"], r["shape"], r["attn"]): r["ms"] for r in hf["rows"]}
    print(f"GPU: {hf['gpu']}; torch {hf['torch']}, transformers {hf['transformers']}; {hf['date']}")
    print(f"cuBLAS bf16 GEMM measured in this run: {hf['cublas_bf16_tflops']:.0f} TFLOP/s "
          f"(8192^3); device copy {hf['copy_gbps']:.0f} GB/s\n")
    print("| model | batch×seq | zotune ms | zotune tok/s | HF eager ms | HF sdpa ms | speed-up vs eager "
          "| vs sdpa | GEMM floor ms | zotune / floor | GEMMs at shape ms | zotune / GEMMs at shape |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in jmh:
        p = r["params"]
        size, shape = p["model"], p["shape"]
        b, t = (int(x) for x in shape.split("x"))
        ms = r["primaryMetric"]["score"]
        floor = gemm_flops(size, b, t) / rate * 1e3
        eager = hf_ms.get((size, shape, "eager"), float("nan"))
        sdpa = hf_ms.get((size, shape, "sdpa"), float("nan"))
        at_shape = hf.get("gemms_at_shape_ms", {}).get(f"{size} {shape}", float("nan"))
        print(f"| {size} | {shape} | {ms:.2f} | {b * t / (ms / 1e3):,.0f} | {eager:.2f} | {sdpa:.2f} "
              f"| {eager / ms:.2f}× | {sdpa / ms:.2f}× | {floor:.2f} | {ms / floor:.2f} "
              f"| {at_shape:.2f} | {ms / at_shape:.2f} |")


if __name__ == "__main__":
    main()
