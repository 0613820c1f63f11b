#!/usr/bin/env python3
"""zotune's encoder prefix adapters against Hugging Face peft (float32, CPU).

1. --seq-cls DIR: a prefix adapter of an `objective: head` run (task_type SEQ_CLS, the classifier in
   modules_to_save). peft's PeftModel.from_pretrained loads it onto BertForSequenceClassification (or Roberta...)
   made from --base; the script compares what peft loaded with the file: the prompt embedding and the classifier
   that modules_to_save holds, bit for bit, and fails when peft left either out.
2. --prefix DIR --embeddings FILE: a prefix adapter without modules_to_save (e.g. an `objective: similarity` run's)
   and `zotune embed --adapter DIR` output for --texts (mean pooling, not normalised). peft loads the adapter onto the
   bare model; the script runs the model with peft's get_prompt() as past_key_values, the attention mask extended by
   p ones and position_ids 0..T-1 (zotune keeps the real tokens' positions; peft's own forward would shift them by
   p), mean-pools the last hidden states over the real tokens and compares with zotune's (--tolerance, relative to
   the largest |value|).

Usage (the GPU host has torch, transformers and peft):
  python3 scripts/check_prefix_peft.py --base BASE --seq-cls RUN_HEAD/adapter \
      --prefix RUN_SIM/adapter --texts texts.txt --embeddings emb.jsonl
Exit 1 on a mismatch, printing each comparison's numbers either way.
"""

import argparse
import json
import sys

import torch
import transformers as T
from peft import PeftModel
from safetensors.torch import load_file


def check_seq_cls(base, adapter):
    file = load_file(f"{adapter}/adapter_model.safetensors")
    labels = file["base_model.classifier.weight"].shape[0]
    model = T.AutoModelForSequenceClassification.from_pretrained(base, num_labels=labels,
                                                                 attn_implementation="eager").eval()
    pm = PeftModel.from_pretrained(model, adapter).eval()
    ok = True
    emb = pm.prompt_encoder["default"].embedding.weight.detach()
    d = (emb - file["prompt_embeddings"]).abs().max().item()
    print(f"seq-cls: prompt_embeddings {tuple(emb.shape)} loaded, max |diff| {d:.3g}")
    ok &= d == 0
    wrapper = pm.base_model.classifier
    saved = getattr(wrapper, "modules_to_save", None)
    if saved is None or "default" not in saved:
        print(f"seq-cls: the classifier is not a modules_to_save wrapper ({type(wrapper).__name__})")
        return False
    for name in ("weight", "bias"):
        got = getattr(saved["default"], name).detach()
        want = file[f"base_model.classifier.{name}"]
        d = (got - want).abs().max().item()
        print(f"seq-cls: classifier.{name} {tuple(got.shape)} loaded into modules_to_save, max |diff| {d:.3g}")
        ok &= d == 0
    return ok


def check_prefix(base, adapter, texts, embeddings, tolerance):
    tok = T.AutoTokenizer.from_pretrained(base)
    model = T.AutoModel.from_pretrained(base, attn_implementation="eager").eval()
    pm = PeftModel.from_pretrained(model, adapter).eval()
    lines = [l.rstrip("\n") for l in open(texts, encoding="utf-8") if l.strip()]
    want = [json.loads(l)["embedding"] for l in open(embeddings, encoding="utf-8")]
    p = pm.peft_config["default"].num_virtual_tokens
    worst = 0.0
    scale = 0.0
    for text, z in zip(lines, want):
        enc = tok(text, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        n = ids.shape[1]
        with torch.no_grad():
            past = pm.get_prompt(batch_size=1)
            out = pm.base_model(input_ids=ids, attention_mask=torch.cat([torch.ones(1, p, dtype=mask.dtype), mask], 1),
                                position_ids=torch.arange(n).unsqueeze(0), past_key_values=past)
        h = out.last_hidden_state[0]
        pooled = (h * mask[0, :, None]).sum(0) / mask[0].sum()
        z = torch.tensor(z)
        worst = max(worst, (pooled - z).abs().max().item())
        scale = max(scale, z.abs().max().item())
    rel = worst / scale
    print(f"prefix: {len(want)} texts, peft's prefix on {type(model).__name__} vs zotune embed --adapter: "
          f"max |diff| {worst:.3g} (relative to max |value| {scale:.3g}: {rel:.3g}, tolerance {tolerance})")
    return rel <= tolerance


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--base", required=True)
    a.add_argument("--seq-cls")
    a.add_argument("--prefix")
    a.add_argument("--texts")
    a.add_argument("--embeddings")
    a.add_argument("--tolerance", type=float, default=1e-5)
    args = a.parse_args()
    print(f"torch {torch.__version__}, transformers {T.__version__}, peft {__import__('peft').__version__}")
    ok = True
    if args.seq_cls:
        ok &= check_seq_cls(args.base, args.seq_cls)
    if args.prefix:
        if not (args.texts and args.embeddings):
            sys.exit("--prefix needs --texts and --embeddings")
        ok &= check_prefix(args.base, args.prefix, args.texts, args.embeddings, args.tolerance)
    print("ok" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
