#!/usr/bin/env python3
"""The peer for zotune's DFO-LoRA speed benchmark (DfoSpeedBench, benchmarks/dfo/speed.sh): the evaluation loop of
the DFO-LoRA article's public code (arXiv 2403.01754; stan-anony/derivative_free_lora_rank, deepfwlora.py and
models/deep_modeling_roberta.py, as ALGORITHMS.md §7 describes it), written here from that description, on Hugging
Face models with random weights of the same shapes as zotune's rows.

One generation (λ candidates of the searched layer's subspace point z ∈ R^D, D = 4 blocks of D/4):
  for each candidate, one after another (as the public code evaluates its CMA-ES population):
    z (a host array, as CMA-ES asks it) -> a device tensor -> the layer's LoRA factors through the fixed random
    projections: A_Q = P1 z1 reshaped [r, in], B_Q = P2 z2 [out, r], A_K = P3 z3, B_K = P4 z4 (each P a bias-free
    torch.nn.Linear(D/4, elements); the A maps' weights re-drawn from N(0, s²) with s = α·σ̂/(sqrt(D)·σ0), σ̂ = 1 as
    zotune's row, the B maps left at PyTorch's default Linear initialisation, as the public code leaves them);
    query = W_Q h + B_Q (A_Q h), key = W_K h + B_K (A_K h) (no α/r scaling), applied by forward hooks on the
    attention's query / key projections (GPT-2: the q and k thirds of the fused c_attn);
    ONE forward of the model over the whole k-shot training set (one batch), torch.no_grad(), model.eval();
    the loss, read to the host (.item()), as the public code hands it back to CMA-ES.
The layers below the searched one hold non-zero points (--others below, zotune's default: schedule `layers`
reaching the middle layer); their factors are formed once per generation (not per candidate) and applied on every
row. Objectives as zotune's rows: RoBERTa (RobertaForMaskedLM) the masked-LM prompt, the logits at the one <mask>
restricted to two label words, cross-entropy against the gold label; GPT-2 (GPT2LMHeadModel) prompt classification,
one row per candidate (the prompt of seq - 1 tokens, then the label's token), the candidate's score = log p(label
token | prompt), cross-entropy of the candidates' scores against the gold. Both take the full logits the Hugging
Face model returns (the public code's forward), float32, TF32 off (zotune's float32 products do not use TF32).
--dtype bf16 (the default fp32 is the public code's): the model built in torch.bfloat16 and the LoRA products in
bf16 too (each candidate's factors formed from z in float32 as above, then cast to bf16 once; the layers below's
once per generation), the loss in float32 (the scores cast before the cross-entropy, as in fp32); the row's "dtype"
says which (its "system" stays peer-sequential), to set against zotune's bf16-base rows.

Measures per row (--warmup generations, then up to --generations timed, at most --row-seconds): generations/s
(wall clock per generation, ending with the last .item()), members/s, the median generation, peak memory
(torch.cuda.max_memory_allocated / max_memory_reserved, and cudaMemGetInfo's used memory at the end minus at start).

Output: JSON lines on stdout and appended to --out. Fails in one line when torch or transformers is missing.
Usage: python3 dfo_peer.py --out peer.jsonl [--shapes roberta-large,gpt2-large] [--population 20] [--per-class 16]
       [--classes 2] [--seq 64] [--subspace 500] [--rank 4] [--generations 5] [--warmup 1] [--row-seconds 25]
       [--deadline S] [--others below|zero] [--dtype fp32|bf16] [--device cuda|cpu]
"""
import argparse
import gc
import json
import math
import re
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import transformers
except ImportError as e:  # one line, before anything else
    sys.exit(f"dfo_peer.py: needs numpy, torch and transformers in this python3 ({e})")

T0 = time.time()
# name -> (family, layers, hidden, heads, ffn); the Java benchmark (DfoSpeedBench) uses the same names and shapes
SHAPES = {
    "roberta-large": ("roberta", 24, 1024, 16, 4096),
    "roberta-base": ("roberta", 12, 768, 12, 3072),
    "roberta-tiny": ("roberta", 2, 64, 1, 128),
    "gpt2-large": ("gpt2", 36, 1280, 20, 5120),
    "gpt2-medium": ("gpt2", 24, 1024, 16, 4096),
    "gpt2-tiny": ("gpt2", 2, 64, 4, 256),
}
ROBERTA_MASK = 50264
ROBERTA_LABELS = [6587, 372]  # any valid ids do: the weights are random (the Java rows use the same)
GPT2_LABELS = [6587, 1049]


def emit(row, out):
    line = json.dumps(row)
    print(line, flush=True)
    with open(out, "a") as f:
        f.write(line + "\n")


def build(name, device, dtype):
    family, layers, hidden, heads, ffn = SHAPES[name]
    if family == "roberta":
        cfg = transformers.RobertaConfig(vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers,
                                         num_attention_heads=heads, intermediate_size=ffn,
                                         max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                                         bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
        cls = transformers.RobertaForMaskedLM
    else:
        cfg = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, n_inner=ffn, n_positions=1024,
                                      vocab_size=50257)
        cls = transformers.GPT2LMHeadModel
    with torch.device(device):  # initialise on the device: CPU init of 774M parameters takes a while
        try:
            model = cls._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
        except TypeError:  # transformers 4.x names it torch_dtype
            model = cls._from_config(cfg, attn_implementation="sdpa", torch_dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, family, hidden


def rows(family, per_class, classes, seq, vocab, device):
    """The k-shot set as one batch, as DfoSpeedBench builds it (random tokens; the values are not the point).
    Returns (input_ids [rows, seq], gold [examples], where): where = the <mask> column (RoBERTa) or None."""
    g = torch.Generator().manual_seed(7)
    n = per_class * classes
    gold = torch.arange(n) % classes
    if family == "roberta":
        ids = torch.randint(3, vocab - 1, (n, seq), generator=g)
        ids[:, 0] = 0
        ids[:, seq - 1] = 2
        ids[:, seq - 3] = ROBERTA_MASK
        return ids.to(device), gold.to(device), seq - 3
    labels = [GPT2_LABELS[c] if c < 2 else GPT2_LABELS[1] + c - 1 for c in range(classes)]
    prompt = torch.randint(3, vocab - 1, (n, seq - 1), generator=g)
    ids = torch.empty((n, classes, seq), dtype=torch.long)
    ids[:, :, :seq - 1] = prompt[:, None, :]
    ids[:, :, seq - 1] = torch.tensor(labels)[None, :]
    return ids.reshape(n * classes, seq).to(device), gold.to(device), None


class Projections:
    """Per layer, the four maps z_j -> factor j (A_Q, B_Q, A_K, B_K), torch.nn.Linear(D/4, elements, bias=False)."""

    def __init__(self, layers, hidden, d, r, device, alpha=1.0, sigma_hat=1.0, sigma0=1.0):
        if d % 4:
            sys.exit(f"dfo_peer.py: --subspace {d} is not divisible by 4")
        self.d, self.r, self.hidden = d, r, hidden
        s = alpha * sigma_hat / (math.sqrt(d) * sigma0)
        torch.manual_seed(13)
        self.maps = []
        for _ in range(layers):
            layer = []
            for j in range(4):
                elements = r * hidden  # A [r, in] and B [out, r]: in = out = hidden for Q and K
                m = torch.nn.Linear(d // 4, elements, bias=False, device=device)
                if j % 2 == 0:  # the A maps: N(0, s²); the B maps keep the default uniform(±1/sqrt(D/4))
                    torch.nn.init.normal_(m.weight, 0.0, s)
                m.weight.requires_grad_(False)
                layer.append(m)
            self.maps.append(layer)

    def factors(self, layer, z):
        """z: a device tensor of D values -> (A_Q, B_Q, A_K, B_K)."""
        q = self.d // 4
        m = self.maps[layer]
        h, r = self.hidden, self.r
        return (m[0](z[0:q]).view(r, h), m[1](z[q:2 * q]).view(h, r),
                m[2](z[2 * q:3 * q]).view(r, h), m[3](z[3 * q:4 * q]).view(h, r))


class Lora:
    """Forward hooks adding B (A h) to the query and key projections of the layers that have factors."""

    def __init__(self, model, family, hidden):
        self.current = {}  # layer -> (A_Q, B_Q, A_K, B_K)
        self.handles = []
        self.hidden = hidden
        # found by their Hugging Face names (the state dict's), whatever the classes between them
        pattern = (re.compile(r"encoder\.layer\.(\d+)\.attention\..*\b(query|key)$") if family == "roberta"
                   else re.compile(r"transformer\.h\.(\d+)\.attn\.(c_attn)$"))
        for name, module in model.named_modules():
            m = pattern.search(name)
            if m:
                l, what = int(m.group(1)), m.group(2)
                hook = self._fused(l) if what == "c_attn" else self._linear(l, 0 if what == "query" else 2)
                self.handles.append(module.register_forward_hook(hook))
        layers = model.config.num_hidden_layers
        if len(self.handles) != (2 * layers if family == "roberta" else layers):
            self.close()
            raise RuntimeError(f"found {len(self.handles)} query/key projections for {layers} layers of {family}")

    def _linear(self, l, k):
        def hook(module, inputs, out):
            f = self.current.get(l)
            if f is None:
                return out
            return out + (inputs[0] @ f[k].t()) @ f[k + 1].t()
        return hook

    def _fused(self, l):
        c = self.hidden

        def hook(module, inputs, out):
            f = self.current.get(l)
            if f is None:
                return out
            x = inputs[0]
            dq = (x @ f[0].t()) @ f[1].t()
            dk = (x @ f[2].t()) @ f[3].t()
            return torch.cat((out[..., :c] + dq, out[..., c:2 * c] + dk, out[..., 2 * c:]), dim=-1)
        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def loss_of(model, family, ids, mask, gold, where, classes, label_ids):
    logits = model(input_ids=ids, attention_mask=mask).logits  # [rows, seq, vocab], as the public code's forward
    if family == "roberta":
        s = logits[:, where, :][:, label_ids]  # [examples, classes]
    else:
        logp = torch.log_softmax(logits[:, -2, :].float(), dim=-1)  # the label token is scored from the one before
        s = logp.gather(1, ids[:, -1:]).view(-1, classes)
    return torch.nn.functional.cross_entropy(s.float(), gold)


def run_shape(name, args, base_free, device):
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model, family, hidden = build(name, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    layers = SHAPES[name][1]
    vocab = model.config.vocab_size
    ids, gold, where = rows(family, args.per_class, args.classes, args.seq, vocab, device)
    mask = torch.ones_like(ids)
    label_ids = torch.tensor([ROBERTA_LABELS[c] if c < 2 else ROBERTA_LABELS[1] + c - 1
                              for c in range(args.classes)], device=device)
    proj = Projections(layers, hidden, args.subspace, args.rank, device)
    lora = Lora(model, family, hidden)
    rng = np.random.default_rng(5)
    layer = layers // 2
    candidates = [rng.uniform(-1, 1, args.subspace) for _ in range(args.population)]  # as CMA-ES asks: host arrays
    others = {l: rng.uniform(-1, 1, args.subspace) for l in range(layer)} if args.others == "below" else {}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if dtype == torch.float32:
        factors = proj.factors
    else:  # z -> factors in float32 as above, then one cast, so that the hooks' products run in the model's dtype
        def factors(l, z):
            return tuple(f.to(dtype) for f in proj.factors(l, z))

    def generation():
        with torch.no_grad():
            lora.current = {l: factors(l, torch.tensor(z, dtype=torch.float32, device=device))
                            for l, z in others.items()}
            losses = []
            for z in candidates:  # one after another, as the public code evaluates its population
                lora.current[layer] = factors(layer, torch.tensor(z, dtype=torch.float32, device=device))
                losses.append(loss_of(model, family, ids, mask, gold, where, args.classes, label_ids).item())
            return losses

    common = {"kind": "row", "system": "peer-sequential", "shape": name, "dtype": args.dtype,
              "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "population": args.population,
              "examples": args.per_class * args.classes, "seq": args.seq, "rows_per_member": int(ids.shape[0]),
              "layer": layer, "layers": layers, "others": args.others, "subspace": args.subspace, "rank": args.rank,
              "objective": "mlm" if family == "roberta" else "classification", "params": n_params,
              "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        if device == "cuda":
            sync()
            torch.cuda.reset_peak_memory_stats()
        losses = None
        for _ in range(args.warmup):
            losses = generation()
        seconds = []
        start = time.time()
        while len(seconds) < args.generations and (not seconds or time.time() - start < args.row_seconds):
            sync()
            t = time.perf_counter()
            losses = generation()
            sync()
            seconds.append(time.perf_counter() - t)
        if not all(math.isfinite(x) for x in losses):
            raise RuntimeError(f"non-finite loss among {losses}")
        total = sum(seconds)
        row = dict(common, generations=len(seconds), seconds=total,
                   generation_ms_median=1e3 * statistics.median(seconds), generations_per_s=len(seconds) / total,
                   members_per_s=len(seconds) * args.population / total, forwards_per_generation=args.population,
                   losses=losses, elapsed_s=round(time.time() - T0, 1))
        if device == "cuda":
            row.update(peak_alloc_bytes=torch.cuda.max_memory_allocated(),
                       peak_reserved_bytes=torch.cuda.max_memory_reserved(),
                       memgetinfo_used_bytes=base_free - torch.cuda.mem_get_info()[0])
        return row
    finally:
        lora.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="roberta-large,gpt2-large")
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--per-class", type=int, default=16)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--subspace", type=int, default=500)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--row-seconds", type=float, default=25)
    ap.add_argument("--deadline", type=float, default=1e9, help="seconds after start: no new row begins after it")
    ap.add_argument("--others", choices=("below", "zero"), default="below")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                    help="the model's and the LoRA products' dtype (fp32: the public code's)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = ap.parse_args()
    for s in args.shapes.split(","):
        if s not in SHAPES:
            sys.exit(f"dfo_peer.py: unknown shape {s} ({', '.join(SHAPES)})")
    if args.population < 1 or args.per_class < 1 or args.classes < 2 or args.seq < 4 or args.generations < 1:
        sys.exit("dfo_peer.py: population, per-class, generations >= 1, classes >= 2, seq >= 4")
    device = args.device
    base_free = 0
    if device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("dfo_peer.py: CUDA is not available to this torch (use --device cpu for a smoke test)")
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 products in float32, as zotune's
        torch.backends.cudnn.allow_tf32 = False
        torch.zeros(1, device="cuda")
        base_free = torch.cuda.mem_get_info()[0]
    torch.set_float32_matmul_precision("highest")
    for name in args.shapes.split(","):
        if time.time() - T0 > args.deadline:
            emit({"kind": "skipped", "system": "peer-sequential", "shape": name, "dtype": args.dtype,
                  "reason": "deadline"}, args.out)
            continue
        try:
            emit(run_shape(name, args, base_free, device), args.out)
        except Exception as e:  # noqa: BLE001 - report and go on with the next shape
            first = str(e).splitlines()[0][:300] if str(e) else ""
            emit({"kind": "error", "system": "peer-sequential", "shape": name, "dtype": args.dtype,
                  "error": f"{type(e).__name__}: {first}"}, args.out)
        finally:
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
