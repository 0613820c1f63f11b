#!/usr/bin/env python3
"""Times Hugging Face transformers' GPT-2 forward (logits + loss, bf16, random weights) on this GPU,
and measures the cuBLAS bf16 GEMM rate, for comparison with zotune's ForwardBenchmark in the same run.

Usage: python3 hf_forward.py --out hf.json [--sizes 124M,355M,774M,1558M] [--shapes 16x128,8x1024]

--encoders (issue 12.8): instead, BERT-base, BERT-large and RoBERTa-large shapes (BertForMaskedLM /
RobertaForMaskedLM, random weights from the config alone, erf GELU, no dropout), batch 32x128 and 32x512, bf16 and
fp32 (torch's default: fp32 products stay fp32, no TF32, as zotune's), eager and sdpa attention
(attn_implementation=), two outputs: "hidden" = the body's last hidden state (model.<base>(...).last_hidden_state),
"mlm" = the masked-LM logits at every position (model(...).logits). Rows are full length (no padding token) and
every row is timed with attention_mask = ones (what a tokenizer returns for unpadded rows; how transformers handles
an all-ones mask is its own: eager adds it, its sdpa path may drop it) and, for sdpa, again with attention_mask=None
(the fastest a user can ask for); report_forward.py --encoders compares zotune with the faster sdpa row.
    python3 hf_forward.py --encoders --out hf-enc.json [--sizes bert-base,bert-large,roberta-large]
        [--shapes 32x128,32x512] [--dtypes bf16,fp32] [--outputs hidden,mlm] [--deadline S]
"""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
    import transformers
except ImportError as e:
    sys.exit(f"hf_forward.py: needs torch and transformers in this python3 ({e})")

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


def gemms_at_shape_ms(layers, c, heads, b, t, vocab=50257, ffn=None, dtype=None):
    """The forward's matrix products at their real shapes through cuBLAS (torch, bf16 unless dtype says otherwise),
    each timed alone and summed: q|k|v, attention output, the two MLP products (c x ffn, ffn x c; ffn = 4c unless
    given: OPT's fc1/fc2 are the same products as GPT-2's) per layer, the two attention products as full t x t
    squares per head, and the LM head: the GEMMs that report_step.py's floor counts, at their shapes. The GEMM floor
    assumes the 8192^3 rate; at these shapes cuBLAS itself runs slower, and this sum says how much of the gap to the
    floor that alone explains. OPT's separate q, k, v projections are timed as one c x 3c product, as GPT-2's
    c_attn: the same FLOPs, and what a fused engine runs."""
    m = b * t
    ffn = ffn or 4 * c
    dtype = dtype or torch.bfloat16

    def cuda_time_ms(fn, warmup=3, iters=10, reps=20):
        # reps launches captured in one CUDA graph: a small GEMM is shorter than the event overhead and than
        # torch's per-call host dispatch, which would otherwise be what is timed
        fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if time.perf_counter() - t0 > 1e-3:
            # a GEMM over 1 ms (fp32, the largest shapes): launch and event overheads are below 1 % of it, and 480
            # graph launches of it would cost mezo_peer.py's --rates phase seconds per shape
            return globals()["cuda_time_ms"](fn, 1, 5)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(reps):
                fn()
        return globals()["cuda_time_ms"](g.replay, warmup, iters) / reps

    x = torch.randn(m, c, device="cuda", dtype=dtype)
    h = torch.randn(m, ffn, device="cuda", dtype=dtype)
    per_layer = 0.0
    for k, n in ((c, 3 * c), (c, c), (c, ffn), (ffn, c)):
        w = torch.randn(k, n, device="cuda", dtype=dtype)
        a = x if k == c else h
        per_layer += cuda_time_ms(lambda: a @ w, warmup=3, iters=20)
        del w
    del h
    d = c // heads
    q = torch.randn(b * heads, t, d, device="cuda", dtype=dtype)
    kt = torch.randn(b * heads, d, t, device="cuda", dtype=dtype)
    p_ = torch.randn(b * heads, t, t, device="cuda", dtype=dtype)
    per_layer += cuda_time_ms(lambda: torch.bmm(q, kt), warmup=3, iters=20)
    per_layer += cuda_time_ms(lambda: torch.bmm(p_, q), warmup=3, iters=20)
    del q, kt, p_
    # vocab rounded up to a multiple of 64 as zotune stores the logits: with an odd leading dimension (50257)
    # cuBLAS falls back to an align-1 kernel that alone takes longer than zotune's whole forward
    wv = torch.randn(c, (vocab + 63) // 64 * 64, device="cuda", dtype=dtype)
    head = cuda_time_ms(lambda: x @ wv, warmup=3, iters=20)
    return layers * per_layer + head


# name -> (family, layers, hidden, heads, ffn); the Java side (EncoderShapes) uses the same names and configs
ENCODERS = {
    "bert-base": ("bert", 12, 768, 12, 3072),
    "bert-large": ("bert", 24, 1024, 16, 4096),
    "roberta-base": ("roberta", 12, 768, 12, 3072),
    "roberta-large": ("roberta", 24, 1024, 16, 4096),
}
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def encoder_config(name):
    family, layers, hidden, heads, ffn = ENCODERS[name]
    if family == "bert":  # bert-base-uncased's config.json but the sizes
        return transformers.BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                                       num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
                                       max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                                       pad_token_id=0), transformers.BertForMaskedLM
    # roberta-large's: positions from padding_idx + 1 = 2, so 514 position embeddings for 512 tokens
    return transformers.RobertaConfig(vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers,
                                      num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
                                      max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                                      pad_token_id=1, bos_token_id=0, eos_token_id=2), transformers.RobertaForMaskedLM


def encoder_ids(family, vocab, b, t):
    """Full-length rows: [CLS]/<s>, random ordinary tokens (no special, no pad, no mask), [SEP]/</s>."""
    lo, first, last, mask = (4, 0, 2, 50264) if family == "roberta" else (999, 101, 102, 103)
    ids = torch.randint(lo, vocab, (b, t), device="cuda", generator=torch.Generator(device="cuda").manual_seed(7))
    ids[ids == mask] = lo
    ids[:, 0] = first
    ids[:, -1] = last
    return ids


def gemm_tflops_fp32(n=8192):
    a = torch.randn(n, n, device="cuda", dtype=torch.float32)
    b = torch.randn(n, n, device="cuda", dtype=torch.float32)
    ms = cuda_time_ms(lambda: a @ b, warmup=3, iters=10)
    return 2 * n ** 3 / (ms * 1e-3) / 1e12


def encoders(args):
    # fp32 rows: torch's default keeps float32 matmuls in float32 (no TF32), as zotune's; not set here, since mixing
    # the legacy allow_tf32 flags with torch's newer fp32_precision setting is an error in recent torch
    t0 = time.time()
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "cublas_bf16_tflops": gemm_tflops(),
        "cublas_fp32_tflops": gemm_tflops_fp32(),
        "copy_gbps": copy_gbps(),
        "mask": "rows full length; attention_mask = ones (every attn) and None (sdpa)",
        "rows": [],
        "not_run": [],
    }
    print(f"cuBLAS bf16 {result['cublas_bf16_tflops']:.0f} TFLOP/s, fp32 {result['cublas_fp32_tflops']:.0f} "
          f"TFLOP/s, copy {result['copy_gbps']:.0f} GB/s", flush=True)
    outputs = args.outputs.split(",")
    for o in outputs:
        if o not in ("hidden", "mlm"):
            sys.exit(f"hf_forward.py: --outputs {o}: expected hidden or mlm")
    for size in args.sizes.split(","):
        if size not in ENCODERS:
            sys.exit(f"hf_forward.py: unknown encoder {size} ({', '.join(ENCODERS)})")
        for dt in args.dtypes.split(","):
            for attn in args.attn.split(","):
                if time.time() - t0 > args.deadline:
                    result["not_run"].append(f"{size} {dt} {attn}: deadline")
                    print(f"skipped {size} {dt} {attn}: deadline", flush=True)
                    continue
                cfg, cls = encoder_config(size)
                model = None
                try:
                    with torch.device("cuda"):
                        model = cls._from_config(cfg, attn_implementation=attn,
                                                 dtype=getattr(torch, DTYPES[dt])).eval()
                    body = getattr(model, model.base_model_prefix)
                    for shape in args.shapes.split(","):
                        b, t = (int(x) for x in shape.split("x"))
                        ids = encoder_ids(ENCODERS[size][0], cfg.vocab_size, b, t)
                        ones = torch.ones_like(ids)
                        for mask_name, mask in (("ones", ones), ("none", None)):
                            if mask_name == "none" and attn != "sdpa":
                                continue
                            for o in outputs:
                                if o == "hidden":
                                    fn = lambda: body(input_ids=ids, attention_mask=mask).last_hidden_state  # noqa: E731
                                else:
                                    fn = lambda: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
                                with torch.no_grad():
                                    ms = cuda_time_ms(fn, warmup=2, iters=10)
                                row = {"model": size, "shape": shape, "dtype": dt, "attn": attn, "output": o,
                                       "mask": mask_name, "ms": ms, "tokens_per_s": b * t / (ms * 1e-3)}
                                print(json.dumps(row), flush=True)
                                result["rows"].append(row)
                except torch.cuda.OutOfMemoryError as e:
                    result["not_run"].append(f"{size} {dt} {attn}: OOM {str(e).splitlines()[0][:160]}")
                except Exception as e:  # noqa: BLE001 - record and go on with the next model
                    result["not_run"].append(f"{size} {dt} {attn}: {type(e).__name__}: {str(e)[:200]}")
                    print(f"{size} {dt} {attn} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                finally:
                    model = None
                    body = None
                    torch.cuda.empty_cache()
                # written after every model: a run cut short still leaves what it measured
                with open(args.out, "w") as f:
                    json.dump(result, f, indent=1)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--shapes", default="16x128,8x1024")
    ap.add_argument("--attn", default="eager,sdpa")
    ap.add_argument("--encoders", action="store_true", help="the encoder rows (see the module docstring)")
    ap.add_argument("--dtypes", default="bf16,fp32", help="--encoders: bf16, fp16, fp32")
    ap.add_argument("--outputs", default="hidden,mlm", help="--encoders: hidden (body), mlm (logits everywhere)")
    ap.add_argument("--deadline", type=float, default=1e9, help="--encoders: seconds; no new model after it")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("hf_forward.py: torch sees no CUDA device")
    torch.manual_seed(0)
    if args.encoders:
        if args.sizes == ",".join(SIZES):
            args.sizes = "bert-base,bert-large,roberta-large"
        if args.shapes == "16x128,8x1024":
            args.shapes = "32x128,32x512"
        encoders(args)
        return
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
