#!/usr/bin/env python3
"""Times PyTorch's scaled_dot_product_attention at the shapes of AttentionKernelBenchmark, per backend.

The reference for zotune's fused attention kernels (native/kernels/flash_attention.cu): what Hugging Face's sdpa
path gets from each backend PyTorch has (flash, memory-efficient, cuDNN, math) at the same B, H, T, D, mask kind
and dtype, q, k and v taken as HF takes them from a packed [B, T, 3·H·D] projection (strided views, last dimension
contiguous). One JSON line per (shape, backend): median and min µs per call over REPS calls timed with CUDA events
after WARMUP calls, or the error a backend raised.
  python3 benchmarks/attention/sdpa_attention.py [--reps 200] [--warmup 20] [--out FILE]
"""
import argparse, json, sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = {  # name: (B, T, H, D, causal)
    "gpt2xl-16x128": (16, 128, 25, 64, True),
    "gpt2xl-16x512": (16, 512, 25, 64, True),
    "roberta-large-32x128": (32, 128, 16, 64, False),
    "roberta-large-32x512": (32, 512, 16, 64, False),
}
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f16"])
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dt = torch.bfloat16 if a.dtype == "bf16" else torch.float16
    out = open(a.out, "a") if a.out else sys.stdout
    g = torch.Generator(device="cuda").manual_seed(0)
    for name, (b, t, h, d, causal) in SHAPES.items():
        qkv = torch.randn(b, t, 3 * h * d, device="cuda", dtype=dt, generator=g)
        q, k, v = (x.view(b, t, h, d).transpose(1, 2) for x in qkv.split(h * d, dim=2))
        for bname, backend in BACKENDS.items():
            row = {"shape": name, "backend": bname, "dtype": a.dtype, "B": b, "T": t, "H": h, "D": d,
                   "causal": causal}
            try:
                with sdpa_kernel([backend]):
                    for _ in range(a.warmup):
                        F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    torch.cuda.synchronize()
                    times = []
                    for _ in range(a.reps):
                        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        s.record()
                        F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        e.record()
                        e.synchronize()
                        times.append(s.elapsed_time(e) * 1000.0)
                times.sort()
                row.update(median_us=round(times[len(times) // 2], 2), min_us=round(times[0], 2))
            except Exception as ex:  # a backend that does not take this shape or layout
                row["error"] = str(ex).splitlines()[0][:200]
            print(json.dumps(row), file=out, flush=True)


if __name__ == "__main__":
    main()
