#!/usr/bin/env python3
"""What first-order fine-tuning reaches on all-MiniLM-L6-v2 with SST-2 at k = 512 per class: the ceiling the ZO runs
of issue 12 item 7 (target >= 85 % on the 872 GLUE dev sentences) are measured against.

For each seed: 512 + 512 training sentences and as many k-shot dev sentences drawn from GLUE's train.tsv (disjoint),
test = the 872 sentences of dev.tsv. Two methods, both on the encoder's mean-pooled output:
  - linear probe: the frozen encoder's embeddings, a logistic regression (full-batch L-BFGS, L2 1e-3);
  - full fine-tuning by backprop, AdamW (weight decay 0.01), batch 16, 5 epochs, dropout as the config says; each rate
    of the grid run; the epoch and rate picked on the k-shot dev, test reported there. The objective (--objective):
    head, the encoder + a linear head (zotune's objective head); or similarity, no new parameters, the logits
    cos(pool(x), pool(t_c)) / 0.05 against the label descriptions t_c "It was terrible." / "It was great." encoded by
    the same model in the same forward (zotune's objective similarity with SST-2's built-in descriptions,
    ALGORITHMS.md §6), whose zero-shot accuracy (epoch 0, in the pick too) each record carries.
Prints one JSON object per (method, seed, rate) and a summary (mean ± sample std over seeds).

Usage: python3 backprop_ceiling.py MODEL_DIR TRAIN_TSV DEV_TSV [--seeds 13,21,42] [--lrs 1e-5,3e-5,1e-4]
       [--k 512] [--epochs 5] [--max-length 128] [--objective head|similarity] [--out FILE]
MODEL_DIR: a Hugging Face BertModel folder (config.json, model.safetensors in any float dtype, tokenizer.json).
TRAIN_TSV: GLUE's SST-2 train.tsv (phrases, as MeZO samples) or the sentence-level training set
(datasets/sst2-sentences/stsa.binary.train, "label sentence" lines): the pool the k per class are drawn from."""
import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from sst2_splits import k_per_class, read_tsv


def draw(rows, k, seed):
    """k per class for training and k per class for the k-shot dev, disjoint, with numpy's generator of the seed: the
    same draw as probe.py's k = 512 splits (sst2_splits.k_per_class), the training rows then shuffled."""
    rng = np.random.default_rng(seed)
    train, dev = k_per_class(rows, k, rng)
    order = rng.permutation(len(train))
    return [train[i] for i in order], dev


def load_model(model_dir, device):
    config = BertConfig.from_pretrained(model_dir)
    model = BertModel(config, add_pooling_layer=False)
    state = {k: v.float() for k, v in load_file(f"{model_dir}/model.safetensors").items()}
    state = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.startswith("pooler.")]
    unexpected = [u for u in unexpected if not u.startswith("pooler.")]  # the pooler is not used here
    if missing or unexpected:
        sys.exit(f"weights do not match BertModel: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device)


def encode(tok, texts, max_length, device):
    enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def pooled(model, ids, mask):
    h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def embed(model, tok, texts, max_length, device, batch=256):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            ids, mask = encode(tok, texts[i:i + batch], max_length, device)
            out.append(pooled(model, ids, mask))
    return torch.cat(out)


def accuracy(logits, labels):
    return float((logits.argmax(-1) == labels).float().mean()) * 100


def probe(model, tok, train, dev, test, max_length, device):
    xs = [embed(model, tok, [t for t, _ in part], max_length, device) for part in (train, dev, test)]
    ys = [torch.tensor([l for _, l in part], device=device) for part in (train, dev, test)]
    head = torch.nn.Linear(xs[0].shape[1], 2).to(device)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(xs[0]), ys[0]) + 1e-3 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return accuracy(head(xs[1]), ys[1]), accuracy(head(xs[2]), ys[2])


DESCRIPTIONS = ["It was terrible.", "It was great."]  # zotune's built-in SST-2 label descriptions (LabelDescriptions)
TAU = 0.05


class Head(torch.nn.Module):
    """Objective head: a linear layer on the pooled output."""

    def __init__(self, hidden):
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 2)

    def forward(self, model, tok, pooled_x, max_length, device):
        return self.linear(pooled_x)


class Similarity(torch.nn.Module):
    """Objective similarity: cos(pool(x), pool(t_c)) / τ, the descriptions through the same model (and its mode)."""

    def forward(self, model, tok, pooled_x, max_length, device):
        ids, mask = encode(tok, DESCRIPTIONS, max_length, device)
        t = pooled(model, ids, mask)
        return F.normalize(pooled_x, dim=-1) @ F.normalize(t, dim=-1).T / TAU


def finetune(model_dir, tok, train, dev, test, lr, epochs, max_length, device, seed, objective="head"):
    """(best (dev, epoch, test) over the epochs, the zero-shot (dev, test) or None); with objective similarity the
    zero-shot weights are epoch 0 of the pick."""
    torch.manual_seed(seed)
    model = load_model(model_dir, device)
    head = (Head(model.config.hidden_size) if objective == "head" else Similarity()).to(device)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    dev_y = torch.tensor([l for _, l in dev], device=device)
    test_y = torch.tensor([l for _, l in test], device=device)

    def scores(texts):
        model.eval()
        with torch.no_grad():
            return head(model, tok, embed(model, tok, texts, max_length, device), max_length, device)

    best, zero = (-1.0, 0, 0.0), None
    if objective == "similarity":
        zero = (accuracy(scores([t for t, _ in dev]), dev_y), accuracy(scores([t for t, _ in test]), test_y))
        best = (zero[0], 0, zero[1])
    for epoch in range(1, epochs + 1):
        model.train()
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(train), generator=g).tolist()
        for i in range(0, len(order), 16):
            part = [train[j] for j in order[i:i + 16]]
            ids, mask = encode(tok, [t for t, _ in part], max_length, device)
            y = torch.tensor([l for _, l in part], device=device)
            loss = F.cross_entropy(head(model, tok, pooled(model, ids, mask), max_length, device), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        d = accuracy(scores([t for t, _ in dev]), dev_y)
        t = accuracy(scores([t for t, _ in test]), test_y)
        if d > best[0]:
            best = (d, epoch, t)
    return best, zero


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("train")
    ap.add_argument("dev")
    ap.add_argument("--seeds", default="13,21,42")
    ap.add_argument("--lrs", default="1e-5,3e-5,1e-4")
    ap.add_argument("--k", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--objective", choices=["head", "similarity"], default="head")
    ap.add_argument("--out")
    a = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{a.model}/tokenizer.json", unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    tok.backend_tokenizer.no_padding()
    tok.backend_tokenizer.no_truncation()
    rows, test = read_tsv(a.train), read_tsv(a.dev)
    out = open(a.out, "w") if a.out else None
    results = {"probe": [], "finetune": []}

    def emit(rec):
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    for seed in (int(s) for s in a.seeds.split(",")):
        train, dev = draw(rows, a.k, seed)
        t0 = time.time()
        d, t = probe(load_model(a.model, device), tok, train, dev, test, a.max_length, device)
        emit({"method": "linear probe", "seed": seed, "dev": d, "test": t, "seconds": round(time.time() - t0, 1)})
        results["probe"].append((d, t))
        runs = []
        for lr in (float(x) for x in a.lrs.split(",")):
            t0 = time.time()
            (d, epoch, t), zero = finetune(a.model, tok, train, dev, test, lr, a.epochs, a.max_length, device,
                                           seed, a.objective)
            emit({"method": "backprop fine-tuning", "objective": a.objective, "seed": seed, "lr": lr,
                  "best_epoch": epoch, "dev": d, "test": t, "seconds": round(time.time() - t0, 1),
                  **({"zero_shot_dev": zero[0], "zero_shot_test": zero[1]} if zero else {})})
            runs.append((d, t, lr))
        best = max(runs)  # the rate with the best k-shot dev accuracy
        results["finetune"].append((best[0], best[1]))
        emit({"method": "backprop fine-tuning, rate picked on dev", "seed": seed, "lr": best[2], "dev": best[0],
              "test": best[1]})
    for method, vals in results.items():
        tests = [t for _, t in vals]
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        emit({"summary": method, "objective": a.objective, "test_mean": round(statistics.mean(tests), 2), "test_std": round(sd, 2),
              "seeds": len(tests), "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"})


if __name__ == "__main__":
    main()
