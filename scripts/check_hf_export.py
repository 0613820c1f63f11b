#!/usr/bin/env python3
"""Loads a zotune-exported Hugging Face folder (a run's model/ or best/, or `zotune replay --out`) with
transformers and prints its mean next-token loss on a text, to compare with zotune's own number.

Usage (on a host with torch + transformers; no network):
  zotune perplexity --model RUN/model --text-file story.txt --dump-logits ids.json   # zotune's loss + the ids
  python3 scripts/check_hf_export.py RUN/model --ids ids.json                         # transformers' loss
  python3 scripts/check_hf_export.py RUN/model --text story.txt                       # HF tokenizer in the folder

--ids takes the JSON that `zotune perplexity --dump-logits` writes ({"input_ids": [...], ...}) or a plain JSON
list, so folders whose tokenizer is not a Hugging Face one (a llama2.c tok*.bin, as for the bundled
stories260K) can be checked with zotune's tokenisation. The loss is transformers' causal-LM loss
(labels = input_ids: the mean cross-entropy of the N - 1 next-token predictions), computed in float32 on the CPU
with eager attention; it should match zotune's "loss" to ~1e-5 relative.
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="the exported Hugging Face folder")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ids", help="JSON token ids (zotune perplexity --dump-logits output, or a list)")
    src.add_argument("--text", help="a UTF-8 text file, tokenised with the folder's Hugging Face tokenizer")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:  # transformers >= 4.56 names it dtype (torch_dtype is deprecated)
        model = AutoModelForCausalLM.from_pretrained(args.folder, dtype=torch.float32, attn_implementation="eager")
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(args.folder, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
    model = model.to(args.device).eval()
    if args.ids:
        with open(args.ids, encoding="utf-8") as f:
            data = json.load(f)
        ids = data["input_ids"] if isinstance(data, dict) else data
    else:
        tok = AutoTokenizer.from_pretrained(args.folder)
        with open(args.text, encoding="utf-8") as f:
            ids = tok(f.read())["input_ids"]
    if len(ids) < 2:
        sys.exit("need at least 2 tokens")
    x = torch.tensor([ids], device=args.device)
    with torch.no_grad():
        loss = model(input_ids=x, labels=x).loss.item()
    print(json.dumps({"tokens": len(ids), "loss": loss, "model_type": model.config.model_type,
                      "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
