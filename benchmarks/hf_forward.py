#!/usr/bin/env python3
"""Times Hugging Face transformers' GPT-2 forward (logits + loss, bf16, random weights) on this GPU,
and measures the cuBLAS bf16 GEMM rate, for comparison with zotune's ForwardBenchmark in the same run.

Usage: python3 hf_forward.py --out hf.json [--sizes 124M,355M,774M,1558M] [--shapes 16x128,8x1024]
"""
import argparse
import json
import statistics
import time

import torch
import transformers

SIZES = {"124M": (12, 768, 12), "355M": (24, 1024, 16), "774M": (36, 1280, 20), "1558M": (48, 1600, 25)}


def cuda_time_ms(fn, warmup=3, iters=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def gemm_tflops(n=8192):
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    ms = cuda_time_ms(lambda: a @ b, warmup=5, iters=20)
    return 2 * n ** 3 / (ms * 1e-3) / 1e12


def copy_gbps(nbytes=2 << 30):
    src = torch.randint(0, 255, (nbytes,), device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    ms = cuda_time_ms(lambda: dst.copy_(src), warmup=3, iters=20)
    return 2 * nbytes / (ms * 1e-3) / 1e9


def gemms_at_shape_ms(layers, c, heads, b, t, vocab=50257):
    """The forward's matrix products at their real shapes through cuBLAS (torch bf16), each timed alone and
    summed: q|k|v, attention output, the two MLP products per layer, the two attention products as full
    t x t squares per head, and the LM head. The GEMM floor assumes the 8192^3 rate; at these shapes cuBLAS
    itself runs slower, and this sum says how much of the gap to the floor that alone explains."""
    m = b * t

    def cuda_time_ms(fn, warmup=3, iters=10, reps=20):
        # reps launches captured in one CUDA graph: a small GEMM is shorter than the event overhead and than
        # torch's per-call host dispatch, which would otherwise be what is timed
        fn()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(reps):
                fn()
        return globals()["cuda_time_ms"](g.replay, warmup, iters) / reps

    x = torch.randn(m, c, device="cuda", dtype=torch.bfloat16)
    h = torch.randn(m, 4 * c, device="cuda", dtype=torch.bfloat16)
    per_layer = 0.0
    for k, n in ((c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)):
        w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        a = x if k == c else h
        per_layer += cuda_time_ms(lambda: a @ w, warmup=3, iters=20)
    d = c // heads
    q = torch.randn(b * heads, t, d, device="cuda", dtype=torch.bfloat16)
    kt = torch.randn(b * heads, d, t, device="cuda", dtype=torch.bfloat16)
    p_ = torch.randn(b * heads, t, t, device="cuda", dtype=torch.bfloat16)
    per_layer += cuda_time_ms(lambda: torch.bmm(q, kt), warmup=3, iters=20)
    per_layer += cuda_time_ms(lambda: torch.bmm(p_, q), warmup=3, iters=20)
    # vocab rounded up to a multiple of 64 as zotune stores the logits: with an odd leading dimension (50257)
    # cuBLAS falls back to an align-1 kernel that alone takes longer than zotune's whole forward
    wv = torch.randn(c, (vocab + 63) // 64 * 64, device="cuda", dtype=torch.bfloat16)
    head = cuda_time_ms(lambda: x @ wv, warmup=3, iters=20)
    return layers * per_layer + head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--shapes", default="16x128,8x1024")
    ap.add_argument("--attn", default="eager,sdpa")
    args = ap.parse_args()
    torch.manual_seed(0)
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "cublas_bf16_tflops": gemm_tflops(),
        "copy_gbps": copy_gbps(),
        "rows": [],
    }
    print(f"cuBLAS bf16 {result['cublas_bf16_tflops']:.0f} TFLOP/s, copy {result['copy_gbps']:.0f} GB/s", flush=True)
    result["gemms_at_shape_ms"] = {}
    for size in args.sizes.split(","):
        layers, hidden, heads = SIZES[size]
        for shape in args.shapes.split(","):
            b, t = (int(x) for x in shape.split("x"))
            ms = gemms_at_shape_ms(layers, hidden, heads, b, t)
            result["gemms_at_shape_ms"][f"{size} {shape}"] = ms
            print(f"{size} {shape}: the forward's GEMMs at their shapes, timed alone: {ms:.2f} ms", flush=True)
        torch.cuda.empty_cache()
        for attn in args.attn.split(","):
            cfg = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, n_positions=1024,
                                          vocab_size=50257)
            with torch.device("cuda"):  # initialise on the GPU: CPU init of 1.5B parameters takes minutes
                model = transformers.GPT2LMHeadModel._from_config(cfg, attn_implementation=attn,
                                                                  dtype=torch.bfloat16).eval()
            for shape in args.shapes.split(","):
                b, t = (int(x) for x in shape.split("x"))
                ids = torch.randint(0, cfg.vocab_size, (b, t), device="cuda")
                with torch.no_grad():
                    ms = cuda_time_ms(lambda: model(input_ids=ids, labels=ids).loss)
                row = {"model": size, "shape": shape, "attn": attn, "ms": ms, "tokens_per_s": b * t / (ms * 1e-3)}
                print(json.dumps(row), flush=True)
                result["rows"].append(row)
            del model
            torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
