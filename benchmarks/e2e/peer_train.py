#!/usr/bin/env python3
"""The peer of `zotune train` in the end-to-end benchmark (benchmarks/e2e/run.sh, issue 14 item 5): a whole
MeZO-style training run in PyTorch on a Hugging Face model folder, from process start to its final JSON line.

What it does, as MeZO's large-model trainer does for SST-2 prompt classification (Malladi et al. 2023,
`--train_as_classification`), written here from the algorithm:
  load    the model folder (AutoModelForCausalLM, bf16, sdpa attention, on the GPU) and its tokenizer; the GLUE
          SST-2 TSVs; k training examples per class drawn with the seed (zotune's data.k_shot does the same)
  encode  each example as zotune's built-in `sst2` template renders it: prompt "<sentence> It was", candidates
          "<sentence> It was terrible" (label 0) and "... great" (label 1); each full text encoded on its own,
          the answer = its tokens after the longest common prefix with the prompt's tokens (MeZO's and zotune's
          rule), prompts cut from the left to --max-length tokens
  collate per batch of --batch-size examples: both candidates of every example as rows, padded to the batch's
          longest row by the tokenizer (tokenizer.pad, as transformers' collators), answer positions marked
  step    ZO-SGD with one SPSA sample (mezo_peer.py's steps): θ += εz; ℓ+; θ -= 2εz; ℓ-; θ += εz; g = (ℓ+ - ℓ-)/2ε;
          θ -= lr·g·z; the loss is the cross-entropy of softmax(s) against the gold candidate, s_c = the mean
          log-probability of candidate c's answer tokens (length-normalised, ALGORITHMS.md §6, as zotune's
          classification objective)
  eval    the dev set (GLUE dev, 872 examples) before the first step and every --eval-every steps (and after the
          last): accuracy (argmax s, first on ties) and the classification loss, batches of --batch-size examples
  save    with --save DIR: at every evaluation a checkpoint of θ (safetensors, the previous one deleted: MeZO's
          save_total_limit 1), the weights again as best/ when the dev accuracy improved, and model/ at the end,
          as `zotune train` writes checkpoint/, best/ and model/

Variants (--variant):
  eager  MeZO's trainer: mezo_peer.Eager's step (a Python loop over the parameters, torch.manual_seed + torch.normal
         per tensor for each of the four passes, g read to the host every step); the forward is the model's eager
         forward with the attention mask, logits at every position (in float32, as transformers' own causal-LM loss
         takes them), per-token cross-entropy over the vocabulary masked to the answer tokens (MeZO's
         forward_wrap_with_option_len)
  tuned  mezo_peer.Tuned's step (one flat parameter buffer, z drawn once per step, fused restore + update, no host
         synchronisation inside a step); rows padded up to a multiple of --bucket tokens and each bucket's forward
         + loss replayed as a captured CUDA graph (graphs share one memory pool; captured on first use); the body's
         last hidden states are gathered at the answer positions before the head, so the vocabulary projection runs
         on the answer tokens only; no attention mask: with right padding and causal attention the scored positions
         never see a pad (a capture failure falls back to the eager forward, reported as graph=false)

Prints progress to stderr and one JSON object as its last stdout line (also appended to --out): wall_s from the
start of this process to that line, load_s (imports, model, data, encoding), train_s (the steps, synchronised at
each evaluation), eval_s, save_s, ms_per_step = train_s / steps, steps_per_s, the evaluations (step, accuracy,
loss, seconds), the padded row lengths of the training batches (mean, max, how many distinct, at how many steps
the length differs from the step before's) and the CUDA graph buckets used.

--device cpu runs the same loop on the CPU (eager forwards only, no graphs): a smoke test of the code without a GPU,
its times mean nothing.

Usage: python3 peer_train.py --model DIR --train train.tsv --dev dev.tsv --variant eager|tuned [--steps 1000]
       [--eval-every 250] [--batch-size 16] [--k-shot 512] [--lr 1e-6] [--eps 1e-3] [--seed 1] [--save DIR]
       [--out peer.jsonl]
"""
import time

T0 = time.time()  # the wall clock starts before the heavy imports

import argparse  # noqa: E402 - after T0 on purpose
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    import transformers  # noqa: E402
except ImportError as e:
    sys.exit(f"peer_train.py: needs torch and transformers in this python3 ({e})")
try:
    from safetensors.torch import save_file  # noqa: E402
except ImportError:
    save_file = None

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peer"))
import mezo_peer  # noqa: E402 - the step implementations (Eager, Tuned)

TEMPLATE_WORDS = ("terrible", "great")  # zotune's built-in sst2 template: label 0, label 1
DEV = "cuda"  # --device cpu: a smoke test of the loop without a GPU (no graphs; its times mean nothing)


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def log(msg):
    print(f"[peer {time.time() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def read_sst2(path):
    """GLUE SST-2 TSV (header sentence, label) -> [(sentence, label)]; text trimmed as zotune's reader does."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None or "sentence" not in header or "label" not in header:
            sys.exit(f"peer_train.py: {path}: expected a GLUE SST-2 TSV with columns sentence, label")
        si, li = header.index("sentence"), header.index("label")
        for n, r in enumerate(rows, start=2):
            if len(r) <= max(si, li):
                sys.exit(f"peer_train.py: {path}:{n}: {len(r)} columns, expected {len(header)}")
            if r[li].strip() not in ("0", "1"):
                sys.exit(f"peer_train.py: {path}:{n}: label {r[li]!r} is not 0 or 1")
            out.append((r[si].strip(), int(r[li])))
    if not out:
        sys.exit(f"peer_train.py: {path}: no examples")
    return out


def k_shot(examples, k, seed):
    """k examples per label, drawn with the seed; all of them when k is 0."""
    if k <= 0:
        return list(examples)
    rng = random.Random(seed)
    out = []
    for label in (0, 1):
        pool = [e for e in examples if e[1] == label]
        if len(pool) < k:
            sys.exit(f"peer_train.py: --k-shot {k}: label {label} has only {len(pool)} training examples")
        out += rng.sample(pool, k)
    rng.shuffle(out)
    return out


def encode(tok, examples, max_length):
    """Per example: ([row ids of candidate 0, candidate 1], [answer start of each row], gold)."""
    out = []
    for sentence, label in examples:
        prompt = f"{sentence} It was".rstrip(" ")
        p_ids = tok(prompt, add_special_tokens=True)["input_ids"]
        rows, starts = [], []
        for word in TEMPLATE_WORDS:
            ids = tok(f"{sentence} It was {word}", add_special_tokens=True)["input_ids"]
            common = 0
            while common < min(len(ids), len(p_ids)) and ids[common] == p_ids[common]:
                common += 1
            if common == len(ids):
                sys.exit(f"peer_train.py: candidate '{word}' adds no token to {prompt!r}")
            rows.append(ids)
            starts.append(common)
        cut = max(0, max(len(r) for r in rows) - max_length)  # the same prompt tokens off every row, from the left
        if cut:
            if cut >= min(starts):
                sys.exit(f"peer_train.py: an answer does not fit into --max-length {max_length}: {sentence[:60]!r}")
            rows = [r[cut:] for r in rows]
            starts = [s - cut for s in starts]
        out.append((rows, starts, label))
    return out


class Collated:
    """One batch on the GPU: ids, mask [R, L]; answer token positions; gold [E]; host-side sizes."""

    def __init__(self, tok, batch, answer_width, pad_to=1):
        rows = [r for ex in batch for r in ex[0]]
        starts = [s for ex in batch for s in ex[1]]
        longest = max(len(r) for r in rows)
        length = -(-longest // pad_to) * pad_to
        padded = tok.pad({"input_ids": rows}, padding="max_length", max_length=length, return_tensors="pt")
        self.length = length
        self.longest = longest
        self.rows = len(rows)
        self.examples = len(batch)
        # answer token a of row r is at position pos[r, a] (its logits at pos - 1), weight 1/len (0: unused slot)
        pos = torch.ones(len(rows), answer_width, dtype=torch.long)
        weight = torch.zeros(len(rows), answer_width)
        target = torch.zeros(len(rows), answer_width, dtype=torch.long)
        for r, (ids, s) in enumerate(zip(rows, starts)):
            n = len(ids) - s
            if n > answer_width:
                raise ValueError(f"an answer of {n} tokens, the batches were sized for {answer_width}")
            for a in range(n):
                pos[r, a] = s + a
                target[r, a] = ids[s + a]
                weight[r, a] = 1.0 / n
        self.ids = padded["input_ids"].to(DEV, non_blocking=True)
        self.mask = padded["attention_mask"].to(DEV, non_blocking=True)
        self.pos = pos.to(DEV, non_blocking=True)
        self.target = target.to(DEV, non_blocking=True)
        self.weight = weight.to(DEV, non_blocking=True)
        self.gold = torch.tensor([ex[2] for ex in batch], dtype=torch.long).to(DEV, non_blocking=True)


def eager_scores(model, b):
    """MeZO's way: full logits, per-token cross-entropy over the vocabulary at every position, kept on the answers."""
    logits = model(input_ids=b.ids, attention_mask=b.mask, use_cache=False).logits.float()  # as HF's own loss does
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b.ids[:, 1:].reshape(-1),
                          reduction="none").view(b.rows, -1)
    answer = torch.zeros_like(nll)
    answer.scatter_add_(1, b.pos - 1, b.weight)  # 1/len at each answer token's predicting position (unused: +0)
    return -(nll * answer).sum(1).view(b.examples, -1)


def tuned_scores(model, ids, pos, target, weight, examples):
    """Hidden states gathered at the predicting positions, the head on those only, log-softmax in float32."""
    hidden = model.base_model(input_ids=ids, use_cache=False).last_hidden_state  # [R, L, C]
    r = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1)
    h = hidden[r, pos - 1]  # [R, A, C]
    logp = torch.log_softmax(model.get_output_embeddings()(h).float(), -1)
    tok = logp.gather(2, target.unsqueeze(2)).squeeze(2)  # [R, A]
    return (tok * weight).sum(1).view(examples, -1)


class Forwards:
    """The loss (and scores) of a collated batch: eager, or per-length-bucket captured CUDA graphs."""

    def __init__(self, model, variant, pad_to):
        self.model, self.variant, self.pad_to = model, variant, pad_to
        self.graphs = {}  # (rows, length, answer width) -> (graph, static inputs, static outputs)
        self.pool = None
        self.graph_ok = variant == "tuned" and DEV == "cuda"

    def run(self, b):
        if self.variant == "eager":
            s = eager_scores(self.model, b)
            return F.cross_entropy(s, b.gold), s
        if self.graph_ok:
            try:
                return self._replay(b)
            except Exception as e:  # noqa: BLE001 - any capture failure: eager forward from here on
                log(f"tuned: CUDA graph capture failed ({type(e).__name__}: {str(e)[:200]}); eager forward")
                self.graph_ok = False
                self.graphs.clear()
                sync()
        s = tuned_scores(self.model, b.ids, b.pos, b.target, b.weight, b.examples)
        return F.cross_entropy(s, b.gold), s

    def _replay(self, b):
        key = (b.rows, b.length, b.pos.shape[1])
        if key not in self.graphs:
            self.graphs[key] = self._capture(b)
        g, ins, outs = self.graphs[key]
        for name in ("ids", "pos", "target", "weight", "gold"):
            ins[name].copy_(getattr(b, name))
        g.replay()
        return outs[0].clone(), outs[1].clone()

    def _capture(self, b):
        ins = {n: getattr(b, n).clone() for n in ("ids", "pos", "target", "weight", "gold")}

        def fn():
            s = tuned_scores(self.model, ins["ids"], ins["pos"], ins["target"], ins["weight"], b.examples)
            return F.cross_entropy(s, ins["gold"]), s

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self.pool):
            outs = fn()
        return g, ins, outs


class Step:
    """mezo_peer's eager or tuned ZO-SGD step with this run's forward (set .batch before each step)."""

    @staticmethod
    def make(variant, model, forwards, eps, lr, wd):
        base = mezo_peer.Eager if variant == "eager" else mezo_peer.Tuned

        class Impl(base):
            def _capture(self):  # mezo_peer.Tuned captures its own language-model forward; here Forwards does
                self.graph = False

            def forward(self):
                return forwards.run(self.batch)[0].detach()

        impl = Impl(model, None, eps, lr, wd)
        impl.batch = None
        return impl


def evaluate(forwards, tok, dev, batch_size, width):
    loss_sum = torch.zeros((), device=DEV, dtype=torch.float64)
    right = torch.zeros((), device=DEV, dtype=torch.long)
    for i in range(0, len(dev), batch_size):
        part = dev[i:i + batch_size]
        b = Collated(tok, part, width, forwards.pad_to)
        loss, s = forwards.run(b)
        loss_sum += loss.double() * len(part)
        right += (s.argmax(1) == b.gold).sum()
    return (loss_sum / len(dev)).item(), right.item() / len(dev)


def save_weights(model, path):
    if save_file is None:
        sys.exit("peer_train.py: --save needs the safetensors package")
    os.makedirs(path, exist_ok=True)
    # one host copy per tensor: the tuned variant's parameters are views of one flat buffer
    tensors = {n: p.detach().to("cpu", copy=True).contiguous() for n, p in model.named_parameters()}
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a Hugging Face model folder (scripts/make_random_gpt2.py)")
    ap.add_argument("--train", required=True, help="GLUE SST-2 train.tsv")
    ap.add_argument("--dev", required=True, help="GLUE SST-2 dev.tsv (872 examples)")
    ap.add_argument("--variant", required=True, choices=["eager", "tuned"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--k-shot", type=int, default=512, help="training examples per class (0: all)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bucket", type=int, default=32, help="tuned: rows padded to a multiple of this many tokens")
    ap.add_argument("--save", default="", help="folder for checkpoints, best/ and model/ (default: no saving)")
    ap.add_argument("--out", default="", help="also append the JSON result line to this file")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: a smoke test only")
    args = ap.parse_args()
    global DEV
    DEV = mezo_peer.DEVICE = args.device
    if args.steps <= 0 or args.batch_size <= 0 or args.eval_every < 0 or args.bucket <= 0:
        sys.exit("peer_train.py: --steps, --batch-size and --bucket must be > 0, --eval-every >= 0")
    for f in (args.train, args.dev, os.path.join(args.model, "config.json")):
        if not os.path.isfile(f):
            sys.exit(f"peer_train.py: {f}: not found")
    if DEV == "cuda" and not torch.cuda.is_available():
        sys.exit("peer_train.py: no CUDA device visible to torch")
    torch.manual_seed(args.seed)
    dt = torch.bfloat16
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=dt, attn_implementation="sdpa",
                                                                  device_map=DEV)
    except (TypeError, ValueError, ImportError) as e:  # an older transformers (torch_dtype) or no accelerate
        log(f"from_pretrained(dtype=..., device_map={DEV!r}) failed ({type(e).__name__}: {e}); retrying")
        model = transformers.AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=dt,
                                                                  attn_implementation="sdpa").to(DEV)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if any(p.dtype != dt for p in model.parameters()):
        sys.exit("peer_train.py: the model did not load in bf16")
    tok = transformers.AutoTokenizer.from_pretrained(args.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # GPT-2 has none; pads are never scored (right padding, causal)
    tok.padding_side = "right"
    if hasattr(tok, "deprecation_warnings"):  # pad() after encoding is what the collators do; no advice wanted
        tok.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True
    train = encode(tok, k_shot(read_sst2(args.train), args.k_shot, args.seed), args.max_length)
    dev = encode(tok, read_sst2(args.dev), args.max_length)
    width = max(len(r) - s for ex in train + dev for r, s in zip(ex[0], ex[1]))  # the longest answer, in tokens
    if len(train) < args.batch_size:
        sys.exit(f"peer_train.py: {len(train)} training examples, fewer than --batch-size {args.batch_size}")
    forwards = Forwards(model, args.variant, args.bucket if args.variant == "tuned" else 1)
    with torch.no_grad():
        step = Step.make(args.variant, model, forwards, args.eps, args.lr, 0.0)
    n_params = sum(p.numel() for p in model.parameters())
    sync()
    load_s = time.time() - T0
    log(f"loaded {n_params / 1e9:.2f}B parameters, {len(train)} training and {len(dev)} dev examples "
        f"in {load_s:.1f}s ({args.variant})")

    order_rng = random.Random(args.seed)
    seed_rng = random.Random(1234)  # per-step seeds, as mezo_peer draws them
    order, at = [], 0
    evals, lengths = [], []
    train_s = eval_s = save_s = 0.0
    best_acc = -1.0
    last_ckpt = None

    def do_eval(t):
        nonlocal eval_s, save_s, best_acc, last_ckpt
        t0 = time.time()
        with torch.no_grad():
            loss, acc = evaluate(forwards, tok, dev, args.batch_size, width)
        sec = time.time() - t0
        eval_s += sec
        evals.append({"step": t, "accuracy": acc, "loss": loss, "seconds": round(sec, 3)})
        log(f"eval at step {t}: accuracy {acc:.4f}, loss {loss:.4f} ({sec:.1f}s)")
        if args.save:
            t0 = time.time()
            if t > 0:
                ckpt = os.path.join(args.save, f"checkpoint-{t}")
                save_weights(model, ckpt)
                if last_ckpt:
                    shutil.rmtree(last_ckpt, ignore_errors=True)
                last_ckpt = ckpt
                if acc > best_acc:
                    save_weights(model, os.path.join(args.save, "best"))
            save_s += time.time() - t0
        if t > 0:
            best_acc = max(best_acc, acc)

    do_eval(0)
    losses = []
    t_seg = time.time()
    with torch.no_grad():
        for t in range(1, args.steps + 1):
            if at + args.batch_size > len(order):  # a new epoch, reshuffled; the remainder is dropped
                order, at = list(range(len(train))), 0
                order_rng.shuffle(order)
            b = Collated(tok, [train[i] for i in order[at:at + args.batch_size]], width, forwards.pad_to)
            at += args.batch_size
            lengths.append(b.longest)
            step.batch = b
            l1, l2 = step.step(seed_rng.randrange(1_000_000_000))
            losses.append((l1.float() + l2.float()) / 2)  # on the device: no synchronisation here
            if (args.eval_every and t % args.eval_every == 0) or t == args.steps:
                sync()
                train_s += time.time() - t_seg
                log(f"step {t}: loss {float(losses[-1]):.4f}, {t / train_s:.2f} steps/s")
                do_eval(t)
                t_seg = time.time()
    if args.save:
        t0 = time.time()
        save_weights(model, os.path.join(args.save, "model"))
        save_s += time.time() - t0
    sync()
    row = {"kind": "peer-train", "system": "peer-" + args.variant, "variant": args.variant,
           "gpu": torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu", "torch": torch.__version__, "transformers": transformers.__version__,
           "model": os.path.basename(os.path.normpath(args.model)), "params": n_params, "dtype": "bf16",
           "steps": args.steps, "batch_size": args.batch_size, "eval_every": args.eval_every,
           "train_examples": len(train), "dev_examples": len(dev), "lr": args.lr, "eps": args.eps,
           "load_s": round(load_s, 3), "train_s": round(train_s, 3), "eval_s": round(eval_s, 3),
           "save_s": round(save_s, 3), "saves": bool(args.save),
           "ms_per_step": train_s / args.steps * 1e3, "steps_per_s": args.steps / train_s,
           "final_train_loss": float(torch.stack(losses[-50:]).mean()),  # the last 50 steps' (l+ + l-)/2
           "evals": evals, "row_length_mean": statistics.mean(lengths), "row_length_max": max(lengths),
           "row_lengths_distinct": len(set(lengths)),
           "row_length_changes": sum(1 for a, b in zip(lengths, lengths[1:]) if a != b),
           "graph": forwards.graph_ok, "graph_shapes": sorted(k[1] for k in forwards.graphs),
           "peak_alloc_bytes": torch.cuda.max_memory_allocated() if DEV == "cuda" else 0,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    row["wall_s"] = round(time.time() - T0, 3)
    line = json.dumps(row)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
