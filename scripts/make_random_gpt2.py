#!/usr/bin/env python3
"""Writes a Hugging Face GPT-2 model folder with random weights, for timing runs that need a real folder on disk
(benchmarks/e2e/run.sh: `zotune train` and the PyTorch peer load the same one). No network, no torch: numpy only,
so it runs on the GPU host at run time (a 1.5B model's 3 GB of weights is never carried) and on a laptop alike.

The folder:
  config.json        GPT2LMHeadModel / model_type gpt2 with the preset's shape, tied head, gelu_new, dtype bf16
  model.safetensors  every tensor in bf16 (or --dtype f32), Hugging Face's names and layouts
                     (transformer.h.<l>.attn.c_attn.weight [C, 3C] as Conv1D stores it, ...; no lm_head: tied)
  vocab.json, merges.txt   the GPT-2 byte-level BPE, copied from --tokenizer (a folder holding OpenAI's
                     encoder.json + vocab.bpe, or Hugging Face's vocab.json + merges.txt: the same content)

Weights follow transformers' GPT-2 initialisation: every matrix and embedding N(0, 0.02²), the residual output
projections (attn.c_proj, mlp.c_proj) N(0, (0.02/sqrt(2·n_layer))²), biases 0, LayerNorm weight 1 and bias 0. They
are drawn in chunks of 2^22 elements, chunk c of tensor t from numpy's PCG64 seeded with SeedSequence([seed, t, c]), in
float32, and rounded to nearest-even bf16: the same bytes for the same seed, shape and numpy version on any machine,
however many threads draw them (one per core; numpy releases the GIL while it fills and converts an array; GPT-2
1.5B takes a few seconds of 16 cores plus the 3.1 GB write).

Usage: python3 scripts/make_random_gpt2.py --out DIR --tokenizer DIR [--size 1558M] [--seed 1] [--dtype bf16]
       python3 scripts/make_random_gpt2.py --out DIR --tokenizer DIR --layers 2 --hidden 64 --heads 4 --ffn 256
A finished folder (its marker file .complete matches the arguments) is kept as it is: a second call costs nothing.
"""
import argparse
import concurrent.futures
import json
import math
import os
import shutil
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.exit("make_random_gpt2.py: needs numpy (pip install numpy); not found in this python3")

# name -> (layers, hidden, heads, ffn): GPT-2's released sizes (StepShapes / mezo_peer.py use the same names)
SIZES = {"124M": (12, 768, 12, 3072), "355M": (24, 1024, 16, 4096), "774M": (36, 1280, 20, 5120),
         "1558M": (48, 1600, 25, 6400)}
VOCAB = 50257
POSITIONS = 1024
STD = 0.02


def tensors(layers, hidden, ffn):
    """(name, shape, kind) in the order they are drawn and written; kind: normal, proj (scaled normal), zero, one."""
    out = [("transformer.wte.weight", (VOCAB, hidden), "normal"),
           ("transformer.wpe.weight", (POSITIONS, hidden), "normal")]
    for l in range(layers):
        p = f"transformer.h.{l}."
        out += [(p + "ln_1.weight", (hidden,), "one"), (p + "ln_1.bias", (hidden,), "zero"),
                (p + "attn.c_attn.weight", (hidden, 3 * hidden), "normal"),
                (p + "attn.c_attn.bias", (3 * hidden,), "zero"),
                (p + "attn.c_proj.weight", (hidden, hidden), "proj"), (p + "attn.c_proj.bias", (hidden,), "zero"),
                (p + "ln_2.weight", (hidden,), "one"), (p + "ln_2.bias", (hidden,), "zero"),
                (p + "mlp.c_fc.weight", (hidden, ffn), "normal"), (p + "mlp.c_fc.bias", (ffn,), "zero"),
                (p + "mlp.c_proj.weight", (ffn, hidden), "proj"), (p + "mlp.c_proj.bias", (hidden,), "zero")]
    out += [("transformer.ln_f.weight", (hidden,), "one"), ("transformer.ln_f.bias", (hidden,), "zero")]
    return out


def bf16_bits(x):
    """float32 array -> uint16 bf16 bits, rounded to nearest, ties to even (no NaN among normals)."""
    u = x.view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype(np.uint16)


CHUNK = 1 << 22  # elements per independently seeded piece of a tensor


def chunk_bytes(seed, t, c, n, kind, layers, dtype):
    """The bytes of elements [c·CHUNK, c·CHUNK + n) of tensor t (index in the written order)."""
    if kind == "zero":
        x = np.zeros(n, dtype=np.float32)
    elif kind == "one":
        x = np.ones(n, dtype=np.float32)
    else:
        std = STD / math.sqrt(2 * layers) if kind == "proj" else STD
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t, c])))
        x = rng.standard_normal(n, dtype=np.float32)
        x *= np.float32(std)
    return (bf16_bits(x) if dtype == "bf16" else x).tobytes()


def pieces(specs):
    """(tensor index, chunk index, elements, kind) over every tensor in order."""
    for t, (_, shape, kind) in enumerate(specs):
        n = math.prod(shape)
        for c in range((n + CHUNK - 1) // CHUNK):
            yield t, c, min(CHUNK, n - c * CHUNK), kind


def write_safetensors(path, specs, seed, layers, dtype):
    size = 2 if dtype == "bf16" else 4
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, _ in specs:
        n = math.prod(shape) * size
        header[name] = {"dtype": "BF16" if dtype == "bf16" else "F32", "shape": list(shape),
                        "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        workers = os.cpu_count() or 1
        todo = list(pieces(specs))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for i in range(0, len(todo), 4 * workers):  # a window of pieces in flight bounds the memory
                window = [pool.submit(chunk_bytes, seed, t, c, n, kind, layers, dtype)
                          for t, c, n, kind in todo[i:i + 4 * workers]]
                for fut in window:
                    f.write(fut.result())
    os.replace(tmp, path)
    return off


def copy_tokenizer(src, out):
    for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        if os.path.isfile(os.path.join(src, vocab)) and os.path.isfile(os.path.join(src, merges)):
            shutil.copyfile(os.path.join(src, vocab), os.path.join(out, "vocab.json"))
            shutil.copyfile(os.path.join(src, merges), os.path.join(out, "merges.txt"))
            return
    sys.exit(f"make_random_gpt2.py: --tokenizer {src}: no encoder.json + vocab.bpe or vocab.json + merges.txt there")


def main():
    ap = argparse.ArgumentParser(description="a random-weight GPT-2 Hugging Face folder (numpy, no network)")
    ap.add_argument("--out", required=True, help="the model folder to write")
    ap.add_argument("--tokenizer", required=True, help="folder with encoder.json + vocab.bpe (or vocab.json + "
                    "merges.txt): the GPT-2 BPE, e.g. the shared data's tokenizers/gpt2-bpe")
    ap.add_argument("--size", default="1558M", choices=sorted(SIZES), help="GPT-2 size (default 1558M)")
    ap.add_argument("--layers", type=int, help="custom shape: layers (with --hidden, --heads, --ffn)")
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--ffn", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    args = ap.parse_args()
    custom = [args.layers, args.hidden, args.heads, args.ffn]
    if any(v is not None for v in custom):
        if any(v is None or v <= 0 for v in custom):
            sys.exit("make_random_gpt2.py: a custom shape needs all of --layers, --hidden, --heads, --ffn (> 0)")
        layers, hidden, heads, ffn = custom
        if hidden % heads:
            sys.exit(f"make_random_gpt2.py: --hidden {hidden} is not divisible by --heads {heads}")
    else:
        layers, hidden, heads, ffn = SIZES[args.size]
    if not os.path.isdir(args.tokenizer):
        sys.exit(f"make_random_gpt2.py: --tokenizer {args.tokenizer}: no such folder")
    stamp = {"generator": "scripts/make_random_gpt2.py", "layers": layers, "hidden": hidden, "heads": heads,
             "ffn": ffn, "seed": args.seed, "dtype": args.dtype, "chunk": CHUNK, "numpy": np.__version__}
    marker = os.path.join(args.out, ".complete")
    if os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f) == stamp:
                print(json.dumps(dict(stamp, kind="model", out=args.out, reused=True)))
                return
    if os.path.exists(args.out) and os.listdir(args.out) and not os.path.isfile(marker):
        sys.exit(f"make_random_gpt2.py: --out {args.out} exists and is not a folder this script wrote; "
                 "choose another or remove it")
    os.makedirs(args.out, exist_ok=True)
    if os.path.exists(marker):
        os.remove(marker)  # another shape or seed: rewritten below
    t0 = time.time()
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": VOCAB,
              "n_positions": POSITIONS, "n_ctx": POSITIONS, "n_embd": hidden, "n_layer": layers, "n_head": heads,
              "n_inner": ffn, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "initializer_range": STD, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
              "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
              "tie_word_embeddings": True, "bos_token_id": 50256, "eos_token_id": 50256,
              "torch_dtype": "bfloat16" if args.dtype == "bf16" else "float32"}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    copy_tokenizer(args.tokenizer, args.out)
    specs = tensors(layers, hidden, ffn)
    nbytes = write_safetensors(os.path.join(args.out, "model.safetensors"), specs, args.seed, layers, args.dtype)
    with open(marker, "w") as f:
        json.dump(stamp, f)
    params = sum(math.prod(s) for _, s, _ in specs)
    print(json.dumps(dict(stamp, kind="model", out=args.out, reused=False, params=params, bytes=nbytes,
                          seconds=round(time.time() - t0, 2))))


if __name__ == "__main__":
    main()
