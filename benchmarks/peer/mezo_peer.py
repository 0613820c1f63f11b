#!/usr/bin/env python3
"""The peer for zotune's step benchmark: MeZO's zeroth-order step (Malladi et al. 2023) in PyTorch on
Hugging Face models with random weights, written here from the algorithm, in two variants.

One step (ZO-SGD, one SPSA sample): draw a per-step seed s; θ += ε·z; ℓ+ = loss(θ); θ -= 2ε·z; ℓ- = loss(θ);
θ += ε·z (restore); g = (ℓ+ - ℓ-) / (2ε); θ -= lr·(g·z + wd·θ) (weight decay only on weights that are neither
biases nor norm parameters). z ~ N(0, 1) per element, regenerated from s whenever it is needed, never stored.

Variants (--variants):
  eager  what the public MeZO trainer does: a Python loop over named_parameters(); before each of the four
         passes over θ (+ε, -2ε, +ε restore, update) torch.manual_seed(s), then per parameter tensor
         z = torch.normal(0, 1, size, dtype, device) and p.data.add_(z, alpha=c·ε); the projected gradient is
         read to the host (.item()); the update is the out-of-place p.data = p.data - lr·(g·z + wd·p.data)
         (- lr·g·z for biases and norms). The forward is the model's eager forward (transformers' default sdpa
         attention, use_cache=False) under torch.no_grad().
  tuned  the best a PyTorch user can do without writing kernels: every parameter is a view of ONE flat
         buffer (256-byte aligned slices), z is drawn ONCE per step with a per-step-seeded torch.Generator
         into a preallocated flat buffer (z.normal_(generator=g): one launch) and reused for +ε, -2ε and the
         update, so each pass over θ is one in-place launch (flat.add_(z, alpha=...)); restore and update are
         fused into one flat.addcmul_(z, c) with c = ε - lr·g kept on the device (no host synchronisation in
         the step); weight decay, when non-zero, is one torch._foreach_mul_ over the decayed views. Each of the
         two forwards (logits + HF loss) is a replay of one captured CUDA graph (falls back to the eager
         forward, reported as graph=false, if capture fails). Cost: one extra buffer the size of θ for z.
         torch.compile is not used: compiling every shape costs tens of seconds each, more than the whole row's
         budget in this benchmark, and the CUDA graph already removes the launch overhead it would remove.

LoRA (--lora R[:ALPHA[:TARGETS]], issue 11 item 8; off by default, and then every path above is unchanged): the
model as above (random weights, frozen, in the row's dtype) wrapped by peft.get_peft_model with
LoraConfig(r=R, lora_alpha=ALPHA (default 2R, as StepBench's α = 2R), target_modules = the model's modules for
TARGETS ('+'-separated, default q+v: GPT-2's fused c_attn, a Conv1D, so fan_in_fan_out=True; OPT's q_proj, v_proj;
also k, o, up/fc1, down/fc2 or a Hugging Face module name), lora_dropout=0, bias="none"). The adapters train in
float32 over the bf16/fp16 base as zotune trains them: get_peft_model(..., autocast_adapter_dtype=True) (peft's
default since 0.12) casts bf16/fp16 adapter weights to float32, and every trainable tensor still not float32 is
cast here (p.data = p.data.float()) and checked; peft's LoRA layer casts its input to the adapter's dtype and the
sum back to the base's. GPT-2 q+v is PEFT's A [R, C], B [3C, R] on c_attn: 4RC per layer, the same count as
zotune's q and v adapters (2 × (RC + CR)). Both variants then run over the TRAINABLE parameters only (those with
requires_grad, as MeZO's trainer selects them): eager loops over them with the seeded torch.normal per tensor;
tuned makes them views of one float32 flat buffer (z drawn once per step, fused restore + update, captured-graph
forwards). Rows carry peft, adapter_elements and adapter_bytes. The variant "infer" (LoRA mode only; run on the
bare base before it is wrapped) times one eager no-grad forward (logits + loss) and measures the memory of
inference the same way, the reference of "peak memory <= inference + adapters + optimiser state".

Encoders (issue 12.8; the model names bert-base, bert-large, roberta-base, roberta-large): the same two variants on
BertForMaskedLM / RobertaForMaskedLM (random weights from the config alone; bert-base-uncased's and roberta-large's
configs but the sizes; sdpa attention, no dropout), with MeZO's masked-LM prompt loss for RoBERTa instead of the LM
loss (its RobertaModelForPromptFinetuning, from LM-BFF: the body's last hidden state at each example's mask
position, the MLM head (lm_head / cls) on those rows only, the logits of the label words, cross-entropy against the
label; ALGORITHMS.md §6's mlm objective). Batch: MeZO's SST-2 prompt shape at BxT, full-length rows ([CLS]/<s>,
random ordinary tokens, the mask token three from the end, [SEP]/</s>), two label words, labels alternating 0, 1;
the same shape as zotune's StepBench -mlm rows (EncoderShapes.promptBatch). eager passes attention_mask = ones, as
MeZO's trainer passes the tokenizer's mask; tuned passes attention_mask=None (the rows have no padding, so this is
the same loss without the mask's work, and nothing in the captured forward depends on the mask's values). Rows carry
objective "mlm" and attention_mask. --lora is refused for encoders.

Measures per row (--warmup steps, then --steps timed): median ms per step (CUDA events around each step,
which ends with the update), tokens/s = batch·seq / step, the split forward / perturbation / update from a
separate instrumented pass (--split-steps steps with events between phases; perturbation = the +ε and -2ε
passes, plus the restore pass for eager; update = the update pass (tuned: fused restore + update) including
the gradient's host read for eager), peak memory as torch.cuda.max_memory_allocated and as cudaMemGetInfo
(free memory at process start minus free memory after the steps, i.e. what the process holds). Also measures
the cuBLAS bf16 (and fp32) 8192^3 GEMM rate and the device copy bandwidth (--rates), and, for each decoder (GPT-2,
OPT) model x dtype x shape of the plan, before any model is built, the forward's GEMMs at their real shapes through
cuBLAS in the row's dtype, each timed alone and summed (hf_forward.py's gemms_at_shape_ms: the GEMMs report_step.py's
floor counts), as "gemms_at_shape_ms": {"MODEL SHAPE DTYPE": ms} in the rates line (--rates), or in a line of kind
"gemms" (--gemms without --rates, for a later phase of the same run): report_step.py's second floor.

Output: JSON lines on stdout and appended to --out.

Usage: python3 mezo_peer.py --out peer.jsonl [--rates] --models gpt2-124M,opt-1.3b --shapes 16x128,16x512
       --dtypes bf16,fp16 [--variants eager,tuned] [--warmup 5 --steps 20 --split-steps 5] [--deadline S]
   or  python3 mezo_peer.py --out peer.jsonl --rows gpt2-124M:bf16:16x128+16x512,opt-30b:bf16:16x128:eager
   or  python3 mezo_peer.py --out peer.jsonl --lora 8 --rows gpt2-1558M:bf16:16x128+16x512:infer+eager+tuned
   or  python3 mezo_peer.py --out peer.jsonl --rows roberta-large:bf16:32x128+32x64:eager+tuned   (the mlm step)
"""
import argparse
import gc
import json
import os
import random
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    import transformers
except ImportError as e:
    sys.exit(f"mezo_peer.py: needs torch and transformers in this python3 ({e})")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from hf_forward import gemms_at_shape_ms  # noqa: E402 - benchmarks/hf_forward.py, after the path is set

# name -> (family, layers, hidden, heads, ffn); the Java benchmark (StepShapes) uses the same names
MODELS = {
    "gpt2-124M": ("gpt2", 12, 768, 12, 3072),
    "gpt2-355M": ("gpt2", 24, 1024, 16, 4096),
    "gpt2-774M": ("gpt2", 36, 1280, 20, 5120),
    "gpt2-1558M": ("gpt2", 48, 1600, 25, 6400),
    "opt-1.3b": ("opt", 24, 2048, 32, 8192),
    "opt-2.7b": ("opt", 32, 2560, 32, 10240),
    "opt-6.7b": ("opt", 32, 4096, 32, 16384),
    "opt-30b": ("opt", 48, 7168, 56, 28672),
    "opt-40b": ("opt", 48, 8192, 64, 32768),  # a ~39B OPT-style shape, one size above OPT-30B
    # encoders: the masked-LM prompt step (StepBench's EncoderShapes, hf_forward.py's ENCODERS)
    "bert-base": ("bert", 12, 768, 12, 3072),
    "bert-large": ("bert", 24, 1024, 16, 4096),
    "roberta-base": ("roberta", 12, 768, 12, 3072),
    "roberta-large": ("roberta", 24, 1024, 16, 4096),
}
ENCODER_FAMILIES = ("bert", "roberta")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
T0 = time.time()
DEVICE = "cuda"  # a module constant so that a CPU smoke test can swap it


def emit(row, out):
    line = json.dumps(row)
    print(line, flush=True)
    with open(out, "a") as f:
        f.write(line + "\n")


def event_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def rates():
    n = 8192
    out = {}
    for name, dt in (("cublas_bf16_tflops", torch.bfloat16), ("cublas_fp32_tflops", torch.float32)):
        a = torch.randn(n, n, device="cuda", dtype=dt)
        b = torch.randn(n, n, device="cuda", dtype=dt)
        ms = event_ms(lambda: a @ b, 5, 20)
        out[name] = 2 * n ** 3 / (ms * 1e-3) / 1e12
        del a, b
    nbytes = 2 << 30
    src = torch.randint(0, 255, (nbytes,), device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    ms = event_ms(lambda: dst.copy_(src), 3, 20)
    out["copy_gbps"] = 2 * nbytes / (ms * 1e-3) / 1e9  # bytes read + written
    del src, dst
    torch.cuda.empty_cache()
    return out


def gemms_at_shapes(plan_rows):
    """{"MODEL SHAPE DTYPE": ms}: the forward's GEMMs at their real shapes (hf_forward.gemms_at_shape_ms) for each
    decoder row of the plan, in the row's dtype, timed before any model is built (the GPU otherwise idle)."""
    out = {}
    for name, dt, shapes, _ in plan_rows:
        family, layers, hidden, heads, ffn = MODELS[name]
        if family not in ("gpt2", "opt"):  # encoders: their floor counts the MLM head at the mask rows only
            continue
        vocab = 50257 if family == "gpt2" else 50272
        for shape in shapes:
            key = f"{name} {shape} {dt}"
            if key in out:
                continue
            b, t = (int(x) for x in shape.split("x"))
            try:
                out[key] = gemms_at_shape_ms(layers, hidden, heads, b, t, vocab=vocab, ffn=ffn, dtype=DTYPES[dt])
                print(f"{key}: the forward's GEMMs at their shapes, timed alone: {out[key]:.3f} ms", flush=True)
            except Exception as e:  # noqa: BLE001 - the row then reports no second floor
                print(f"{key}: GEMMs at shape not measured ({type(e).__name__}: {str(e)[:200]})", file=sys.stderr,
                      flush=True)
            torch.cuda.empty_cache()
    return out


def build(name, dtype):
    family, layers, hidden, heads, ffn = MODELS[name]
    if family == "bert":  # bert-base-uncased's config.json but the sizes
        cfg = transformers.BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                                      num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
                                      max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                                      pad_token_id=0)
        cls = transformers.BertForMaskedLM
    elif family == "roberta":  # roberta-large's: positions from padding_idx + 1 = 2
        cfg = transformers.RobertaConfig(vocab_size=50265, hidden_size=hidden, num_hidden_layers=layers,
                                         num_attention_heads=heads, intermediate_size=ffn, hidden_act="gelu",
                                         max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                                         pad_token_id=1, bos_token_id=0, eos_token_id=2)
        cls = transformers.RobertaForMaskedLM
    elif family == "gpt2":
        cfg = transformers.GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads, n_inner=ffn, n_positions=1024,
                                      vocab_size=50257)
        cls = transformers.GPT2LMHeadModel
    else:
        cfg = transformers.OPTConfig(vocab_size=50272, hidden_size=hidden, num_hidden_layers=layers, ffn_dim=ffn,
                                     num_attention_heads=heads, max_position_embeddings=2048,
                                     do_layer_norm_before=True, word_embed_proj_dim=hidden, enable_bias=True,
                                     activation_function="relu", tie_word_embeddings=True)
        cls = transformers.OPTForCausalLM
    with torch.device(DEVICE):  # initialise on the GPU: CPU init of billions of parameters takes minutes
        model = cls._from_config(cfg, attn_implementation="sdpa", dtype=dtype).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, cfg.vocab_size


def decays(model):
    """Names of the parameters that get weight decay: neither a bias nor a norm's parameter."""
    norm = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, torch.nn.LayerNorm):
            norm.update(f"{mname}.{p}" if mname else p for p, _ in mod.named_parameters(recurse=False))
    return {n for n, _ in model.named_parameters() if not n.endswith("bias") and n not in norm}


class MlmPrompt:
    """An encoder's batch for MeZO's masked-LM prompt loss: ids [B, T] with one mask token per row at mask_pos,
    label_words (one vocabulary id per label), labels [B]; attention_mask ones (eager, as MeZO's trainer) or None."""

    def __init__(self, family, vocab, b, t, attention_mask):
        if t < 4:
            raise ValueError(f"a masked-LM prompt row needs seq >= 4, got {b}x{t}")
        lo, first, last, mask = (4, 0, 2, 50264) if family == "roberta" else (999, 101, 102, 103)
        ids = torch.randint(lo, vocab, (b, t), device=DEVICE, generator=torch.Generator(device=DEVICE).manual_seed(7))
        ids[ids == mask] = lo  # the mask token only at the mask position
        ids[:, 0] = first
        ids[:, -1] = last
        ids[:, t - 3] = mask  # MeZO's SST-2 template ends "<mask> . </s>"
        self.ids = ids
        self.rows = torch.arange(b, device=DEVICE)
        self.mask_pos = torch.full((b,), t - 3, dtype=torch.long, device=DEVICE)
        # two ordinary label words (StepBench's EncoderShapes.labelTokens): which words does not change the work
        self.label_words = torch.tensor([6587, 372] if family == "roberta" else [6659, 2307], device=DEVICE)
        self.labels = torch.arange(b, device=DEVICE) % 2
        self.attention_mask = torch.ones_like(ids) if attention_mask else None

    def with_mask(self, attention_mask):
        other = MlmPrompt.__new__(MlmPrompt)
        other.__dict__.update(self.__dict__)
        other.attention_mask = torch.ones_like(self.ids) if attention_mask else None
        return other

    def loss(self, model):
        """MeZO's RobertaModelForPromptFinetuning: the body, the MLM head at the mask rows, the label words' logits,
        cross-entropy."""
        body = getattr(model, model.base_model_prefix)
        h = body(input_ids=self.ids, attention_mask=self.attention_mask).last_hidden_state
        at_mask = h[self.rows, self.mask_pos]  # [B, C]
        head = model.lm_head if hasattr(model, "lm_head") else model.cls
        scores = head(at_mask)[:, self.label_words]  # [B, labels]
        return F.cross_entropy(scores.float(), self.labels)


def loss_of(model, ids):
    if isinstance(ids, MlmPrompt):
        return ids.loss(model)
    return model(input_ids=ids, labels=ids, use_cache=False).loss


class Eager:
    """The public trainer's way (see the module docstring)."""

    def __init__(self, model, ids, eps, lr, wd, trainable_only=False):
        if isinstance(ids, MlmPrompt):
            ids = ids.with_mask(True)  # MeZO's trainer passes the tokenizer's attention mask
        self.model, self.ids, self.eps, self.lr, self.wd = model, ids, eps, lr, wd
        self.named = list(model.named_parameters())  # shared (tied) parameters appear once
        if trainable_only:  # LoRA: MeZO's trainer perturbs and updates the parameters with requires_grad only
            self.named = [(n, p) for n, p in self.named if p.requires_grad]
        self.decay = decays(model)
        self.graph = False

    def perturb(self, seed, scale):
        torch.manual_seed(seed)
        for _, p in self.named:
            z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
            p.data.add_(z, alpha=scale * self.eps)

    def forward(self):
        return loss_of(self.model, self.ids).detach()

    def grad(self, l1, l2):
        return ((l1 - l2) / (2 * self.eps)).item()

    def update(self, seed, g):
        torch.manual_seed(seed)
        for name, p in self.named:
            z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
            if name in self.decay:
                p.data = p.data - self.lr * (g * z + self.wd * p.data)
            else:
                p.data = p.data - self.lr * (g * z)

    def step(self, seed, ev=None):
        rec = _recorder(ev)
        rec()
        self.perturb(seed, 1)
        rec()
        l1 = self.forward()
        rec()
        self.perturb(seed, -2)
        rec()
        l2 = self.forward()
        rec()
        g = self.grad(l1, l2)
        self.perturb(seed, 1)
        rec()
        self.update(seed, g)
        rec()
        return l1, l2

    @staticmethod
    def split(t):
        # t: phase times +perturb, fwd, -perturb, fwd, grad+restore, update
        return {"forward": t[1] + t[3], "perturb": t[0] + t[2] + t[4], "update": t[5]}


class Tuned:
    """Flat parameter buffer, z drawn once per step, fused restore + update, CUDA-graph forwards."""

    ALIGN = 128  # elements: 256 bytes in bf16/fp16

    def __init__(self, model, ids, eps, lr, wd, trainable_only=False):
        if isinstance(ids, MlmPrompt):
            ids = ids.with_mask(False)  # no padding in the rows: no mask work, nothing value-dependent in the graph
        self.model, self.ids, self.eps, self.lr, self.wd = model, ids, eps, lr, wd
        if not hasattr(model, "_peer_flat"):  # once per model: the shapes of a row share it
            model._peer_flat = self._flatten(model, trainable_only)
        flat, self.decay_views = model._peer_flat
        self.flat = flat
        self.z = torch.empty_like(flat)
        self.gen = torch.Generator(device=DEVICE)
        gc.collect()
        torch.cuda.empty_cache()
        self.graph = False
        self.static = None
        try:
            self._capture()
        except Exception as e:  # noqa: BLE001 - any capture failure falls back to the eager forward
            print(f"tuned: CUDA graph capture failed ({type(e).__name__}: {e}); eager forward", file=sys.stderr)
            self.cuda_graph = None
            torch.cuda.synchronize()

    @classmethod
    def _flatten(cls, model, trainable_only=False):
        named = list(model.named_parameters())  # shared (tied) parameters appear once
        if trainable_only:  # LoRA: the adapters only (float32), the frozen base stays where it is
            named = [(n, p) for n, p in named if p.requires_grad]
        dtype = named[0][1].dtype
        sizes = [(p.numel() + cls.ALIGN - 1) // cls.ALIGN * cls.ALIGN for _, p in named]
        flat = torch.zeros(sum(sizes), dtype=dtype, device=DEVICE)
        decay = decays(model)
        decay_views = []
        off = 0
        for (name, p), size in zip(named, sizes):
            view = flat[off:off + p.numel()]
            view.copy_(p.data.reshape(-1))
            p.data = view.view_as(p)  # the old storage is freed here
            if name in decay:
                decay_views.append(p.data)
            off += size
        return flat, decay_views

    def _capture(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):
                loss_of(self.model, self.ids)
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(g):
            self.static = loss_of(self.model, self.ids)
        self.cuda_graph = g
        self.graph = True

    def forward(self):
        if self.graph:
            self.cuda_graph.replay()
            return self.static.clone()
        return loss_of(self.model, self.ids).detach()

    def step(self, seed, ev=None):
        rec = _recorder(ev)
        rec()
        self.gen.manual_seed(seed)
        self.z.normal_(0, 1, generator=self.gen)
        self.flat.add_(self.z, alpha=self.eps)
        rec()
        l1 = self.forward()
        rec()
        self.flat.add_(self.z, alpha=-2 * self.eps)
        rec()
        l2 = self.forward()
        rec()
        g = (l1.float() - l2.float()) / (2 * self.eps)
        if self.wd != 0:
            self.flat.add_(self.z, alpha=self.eps)
            torch._foreach_mul_(self.decay_views, 1 - self.lr * self.wd)
            self.flat.addcmul_(self.z, -self.lr * g)
        else:
            self.flat.addcmul_(self.z, self.eps - self.lr * g)  # restore and update in one pass
        rec()
        return l1, l2

    @staticmethod
    def split(t):
        return {"forward": t[1] + t[3], "perturb": t[0] + t[2], "update": t[4]}

    def close(self):
        self.cuda_graph = None
        self.static = None
        self.z = None


class Infer:
    """Inference, the memory reference of the LoRA rows: one eager no-grad forward (logits + loss) per step."""

    def __init__(self, model, ids, eps, lr, wd, trainable_only=False):
        self.model, self.ids = model, ids
        self.graph = False

    def step(self, seed, ev=None):
        rec = _recorder(ev)
        rec()
        loss = loss_of(self.model, self.ids).detach()
        rec()
        return loss, loss

    @staticmethod
    def split(t):
        return {"forward": t[0], "perturb": 0.0, "update": 0.0}


# --lora targets: zotune's names -> the Hugging Face module names per family (GPT-2's q, k, v are the fused c_attn)
LORA_TARGETS = {
    "gpt2": {"q": "c_attn", "k": "c_attn", "v": "c_attn", "o": "attn.c_proj", "up": "mlp.c_fc", "fc1": "mlp.c_fc",
             "down": "mlp.c_proj", "fc2": "mlp.c_proj"},
    "opt": {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "out_proj", "up": "fc1", "fc1": "fc1", "down": "fc2",
            "fc2": "fc2"},
}


def parse_lora(spec):
    """R[:ALPHA[:TARGETS]] -> (r, alpha, [target, ...]); alpha defaults to 2R (StepBench's), targets to q+v."""
    p = spec.split(":")
    try:
        r = int(p[0])
        alpha = float(p[1]) if len(p) > 1 and p[1] else 2.0 * r
    except ValueError:
        sys.exit(f"mezo_peer.py: --lora {spec}: expected R[:ALPHA[:TARGETS]] (e.g. 8, 8:16, 8:16:q+v)")
    targets = p[2].split("+") if len(p) > 2 and p[2] else ["q", "v"]
    if r <= 0 or alpha <= 0 or len(p) > 3:
        sys.exit(f"mezo_peer.py: --lora {spec}: R and ALPHA must be > 0, at most three fields R:ALPHA:TARGETS")
    return r, alpha, targets


def lora_wrap(model, family, lora):
    """The model with peft's LoRA on the targets; adapters float32 and the only trainable tensors."""
    try:
        import peft
    except ImportError:
        sys.exit("mezo_peer.py: --lora needs the peft package (pip install peft); not found in this python3")
    r, alpha, targets = lora
    names = []
    for t in targets:
        m = LORA_TARGETS[family].get(t, t)  # a name not in the table is taken as a Hugging Face module name
        if m not in names:
            names.append(m)
    cfg = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=names, lora_dropout=0.0, bias="none",
                          fan_in_fan_out=family == "gpt2", task_type="CAUSAL_LM")
    try:
        wrapped = peft.get_peft_model(model, cfg, autocast_adapter_dtype=True)
    except TypeError:  # peft < 0.12 has no autocast_adapter_dtype: the cast below does it
        wrapped = peft.get_peft_model(model, cfg)
    trainable = [(n, p) for n, p in wrapped.named_parameters() if p.requires_grad]
    if not trainable:
        raise RuntimeError(f"peft selected no module for targets {names}")
    for n, p in trainable:
        if p.dtype != torch.float32:
            p.data = p.data.float()
        if "lora_" not in n or p.dtype != torch.float32:
            raise RuntimeError(f"unexpected trainable tensor {n} ({p.dtype}): only float32 lora_A/lora_B should train")
    wrapped.eval()
    return wrapped, names, sum(p.numel() for _, p in trainable)


def _recorder(ev):
    """Records a timing event into the list ev at each call (nothing when ev is None)."""
    def rec():
        if ev is not None:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            ev.append(e)
    return rec


def run_row(system, impl, b, t, args, base_free, n_params, common):
    rng = random.Random(1234)  # the per-step seeds, as MeZO draws them
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()  # after the set-up (the tuned variant's flattening copies θ once)
    step_ms = []
    for i in range(args.warmup + args.steps):
        seed = rng.randrange(1_000_000_000)
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        l1, l2 = impl.step(seed)
        e.record()
        e.synchronize()
        if i >= args.warmup:
            step_ms.append(a.elapsed_time(e))
    phases = []
    for _ in range(args.split_steps):
        ev = []
        impl.step(rng.randrange(1_000_000_000), ev)
        ev[-1].synchronize()
        phases.append([ev[k].elapsed_time(ev[k + 1]) for k in range(len(ev) - 1)])
    split = {k: statistics.median(impl.split(p)[k] for p in phases) for k in ("forward", "perturb", "update")}
    torch.cuda.synchronize()
    ms = statistics.median(step_ms)
    free = torch.cuda.mem_get_info()[0]
    row = dict(common, system=system, ms=ms, ms_min=min(step_ms), steps=len(step_ms), split=split,
               tokens_per_s=b * t / (ms * 1e-3), peak_alloc_bytes=torch.cuda.max_memory_allocated(),
               peak_reserved_bytes=torch.cuda.max_memory_reserved(), memgetinfo_used_bytes=base_free - free,
               params=n_params, graph=impl.graph, loss_plus=float(l1), loss_minus=float(l2))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rates", action="store_true", help="measure the cuBLAS GEMM rate and copy bandwidth first,"
                    " and the forward's GEMMs at each decoder row's shapes (implies --gemms)")
    ap.add_argument("--gemms", action="store_true", help="measure the forward's GEMMs at each decoder row's shapes"
                    " first (a line of kind gemms; with --rates, in the rates line)")
    ap.add_argument("--models", default="gpt2-124M")
    ap.add_argument("--shapes", default="16x128")
    ap.add_argument("--dtypes", default="bf16")
    ap.add_argument("--variants", default="eager,tuned")
    ap.add_argument("--rows", default="", help="MODEL:DTYPE[:SHAPE+SHAPE[:VARIANT+VARIANT]],... (overrides the"
                    " four options above)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--split-steps", type=int, default=5)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--deadline", type=float, default=1e9, help="seconds after start: no new row begins after it")
    ap.add_argument("--lora", default="", help="R[:ALPHA[:TARGETS]]: time the MeZO-LoRA step (peft's LoRA, rank R,"
                    " alpha ALPHA (default 2R), TARGETS q+v by default; variants infer, eager, tuned)")
    args = ap.parse_args()
    lora = parse_lora(args.lora) if args.lora else None
    for _, _, _, variants in plan(args):
        bad = [v for v in variants if v not in (("infer", "eager", "tuned") if lora else ("eager", "tuned"))]
        if bad:
            sys.exit(f"mezo_peer.py: unknown variant {bad[0]} (eager, tuned; infer with --lora)")
    for name, _, _, _ in plan(args):
        if name not in MODELS:
            sys.exit(f"mezo_peer.py: unknown model {name} ({', '.join(MODELS)})")
        if lora and MODELS[name][0] in ENCODER_FAMILIES:
            sys.exit(f"mezo_peer.py: --lora times decoders only; {name} is an encoder (its rows time the mlm step)")
    if lora:
        try:
            import peft  # noqa: F401 - fail before the GPU work, in one line
        except ImportError:
            sys.exit("mezo_peer.py: --lora needs the peft package (pip install peft); not found in this python3")
    torch.manual_seed(0)
    torch.cuda.init()
    torch.zeros(1, device=DEVICE)
    base_free = torch.cuda.mem_get_info()[0]
    if args.rates:
        head = {"kind": "rates", "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
                "transformers": transformers.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "total_bytes": torch.cuda.mem_get_info()[1]}
        head.update(rates())
        head["gemms_at_shape_ms"] = gemms_at_shapes(plan(args))
        emit(head, args.out)
    elif args.gemms:
        emit({"kind": "gemms", "gemms_at_shape_ms": gemms_at_shapes(plan(args))}, args.out)
    for name, dt, shapes, variants in plan(args):
        if time.time() - T0 > args.deadline:
            emit({"kind": "skipped", "model": name, "dtype": dt, "reason": "deadline"}, args.out)
            continue
        model = None
        try:
            model, vocab = build(name, DTYPES[dt])
            n_params = sum(p.numel() for p in model.parameters())
            extra = {}
            if lora:  # infer first, on the bare base; then the adapters go on for the other variants
                variants = (["infer"] if "infer" in variants else []) + [v for v in variants if v != "infer"]
            wrapped = False
            for variant in variants:
                if lora and variant != "infer" and not wrapped:
                    model, modules, n_adapter = lora_wrap(model, MODELS[name][0], lora)
                    wrapped = True
                    extra = {"peft": f"lora r={lora[0]} alpha={lora[1]:g} " + ",".join(lora[2]),
                             "lora_modules": modules, "adapter_elements": n_adapter, "adapter_bytes": 4 * n_adapter}
                elif lora and variant == "infer":
                    extra = {"peft": "inference (bare base)"}
                for shape in shapes:
                    b, t = (int(x) for x in shape.split("x"))
                    common = dict({"kind": "row", "model": name, "shape": shape, "dtype": dt, "variant": variant},
                                  **extra)
                    family = MODELS[name][0]
                    if family in ENCODER_FAMILIES:
                        common.update(objective="mlm", attention_mask="ones" if variant == "eager" else "none")
                    if time.time() - T0 > args.deadline:
                        emit(dict(common, kind="skipped", reason="deadline"), args.out)
                        continue
                    if family in ENCODER_FAMILIES:
                        ids = MlmPrompt(family, vocab, b, t, attention_mask=variant == "eager")
                    else:
                        ids = torch.randint(0, vocab, (b, t), device=DEVICE,
                                            generator=torch.Generator(device=DEVICE).manual_seed(7))
                    impl = None
                    try:
                        cls = Infer if variant == "infer" else Eager if variant == "eager" else Tuned
                        with torch.no_grad():
                            impl = cls(model, ids, args.eps, args.lr, args.wd, trainable_only=lora is not None)
                            row = run_row("peer-" + variant, impl, b, t, args, base_free, n_params, common)
                        emit(row, args.out)
                    except torch.cuda.OutOfMemoryError as e:
                        emit(dict(common, kind="error", system="peer-" + variant, params=n_params,
                                  error="OOM: " + str(e).split("\n")[0][:200]), args.out)
                    except Exception as e:  # noqa: BLE001 - report and go on with the next row
                        emit(dict(common, kind="error", system="peer-" + variant, params=n_params,
                                  error=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"),
                             args.out)
                    finally:
                        if impl is not None and hasattr(impl, "close"):
                            impl.close()
                        impl = None
                        gc.collect()
                        torch.cuda.empty_cache()
        except torch.cuda.OutOfMemoryError as e:
            emit({"kind": "error", "model": name, "dtype": dt, "system": "peer",
                  "error": "OOM building the model: " + str(e).split("\n")[0][:200]}, args.out)
        except Exception as e:  # noqa: BLE001 - report and go on with the next model
            emit({"kind": "error", "model": name, "dtype": dt, "system": "peer",
                  "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}, args.out)
        finally:
            model = None
            gc.collect()
            torch.cuda.empty_cache()


def plan(args):
    """(model, dtype, shapes, variants) per row group: --rows MODEL:DTYPE[:SHAPE+SHAPE[:VARIANT+VARIANT]],...
    or every combination of --models, --dtypes, --shapes, --variants."""
    if args.rows:
        out = []
        for item in args.rows.split(","):
            p = item.split(":")
            shapes = p[2].split("+") if len(p) > 2 and p[2] else args.shapes.split(",")
            variants = p[3].split("+") if len(p) > 3 and p[3] else args.variants.split(",")
            out.append((p[0], p[1], shapes, variants))
        return out
    return [(m, d, args.shapes.split(","), args.variants.split(","))
            for m in args.models.split(",") for d in args.dtypes.split(",")]


if __name__ == "__main__":
    main()
