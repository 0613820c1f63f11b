#!/usr/bin/env python3
"""Times Hugging Face transformers' greedy generate() on this GPU: GPT-2 of a given size with random weights, bf16,
the default dynamic KV cache (and, with --static, the static cache as well), batch 1 and 16, for comparison with
zotune's GenerateBench in the same run. Each configuration: one warm-up call, then the median of --reps timed calls
of the whole generate() (prompt and new tokens). Prints one JSON object per line and writes them to --out.

Usage: python3 hf_generate.py --out hf.jsonl [--size 1558M] [--prompt 32] [--new 128] [--batches 1,16] [--static]
"""
import argparse
import json
import statistics
import time

import torch
import transformers

SIZES = {"124M": (12, 768, 12), "355M": (24, 1024, 16), "774M": (36, 1280, 20), "1558M": (48, 1600, 25)}


def timed(fn, reps):
    fn()  # warm-up
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="1558M")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--static", action="store_true", help="also time cache_implementation='static'")
    args = ap.parse_args()
    layers, hidden, heads = SIZES[args.size]
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, n_positions=1024,
                                     vocab_size=50257, bos_token_id=50256, eos_token_id=50256)
    model = transformers.GPT2LMHeadModel(config).to(device="cuda", dtype=torch.bfloat16).eval()
    device = torch.cuda.get_device_name()
    rows = []
    caches = ["dynamic"] + (["static"] if args.static else [])
    for batch in [int(b) for b in args.batches.split(",")]:
        ids = torch.randint(0, config.vocab_size, (batch, args.prompt), device="cuda")
        mask = torch.ones_like(ids)
        for cache in caches:
            kw = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False, num_beams=1,
                      pad_token_id=config.eos_token_id, attention_mask=mask)
            if cache == "static":
                kw["cache_implementation"] = "static"
            with torch.inference_mode():
                seconds, out = timed(lambda: model.generate(ids, **kw), args.reps)
            made = out.shape[1] - args.prompt
            row = {"impl": "hf", "cache": cache, "size": args.size, "batch": batch, "prompt": args.prompt,
                   "new_tokens": made, "seconds": round(seconds, 4),
                   "tokens_per_s": round(batch * made / seconds, 2), "device": device,
                   "transformers": transformers.__version__, "torch": torch.__version__}
            print(json.dumps(row), flush=True)
            rows.append(row)
    with open(args.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
