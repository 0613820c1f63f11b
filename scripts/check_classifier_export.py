#!/usr/bin/env python3
"""Loads a zotune head run's exported folder (model/ or best/, `zotune merge --out`) with transformers'
AutoModelForSequenceClassification, or the run's PEFT adapter (adapter/, best/adapter) with peft onto that class made
from its base, and compares the logits with the scores `zotune eval --predictions` wrote.

Usage (on a host with torch + transformers, and peft for --adapter; no network):
  zotune eval --model RUN/model --format jsonl --data rows.jsonl --predictions pred.jsonl
  python3 scripts/check_classifier_export.py RUN/model rows.jsonl pred.jsonl [--tolerance 1e-4]
  zotune eval --model BASE --adapter RUN/adapter --format jsonl --data rows.jsonl --predictions pred.jsonl
  python3 scripts/check_classifier_export.py BASE rows.jsonl pred.jsonl --adapter RUN/adapter

With --adapter, FOLDER is the base (a ...ForSequenceClassification folder, or a bare model with a pooler: the class
is made from it with the adapter's number of classifier rows); peft's PeftModel.from_pretrained loads the LoRA or
prefix adapter, its modules_to_save the classifier module (RoBERTa's dense + out_proj, BERT's linear layer), and the
script fails when peft left any of the adapter's tensors out. A prefix adapter's logits are not compared: peft's
prompt-learning forward numbers the tokens' positions after the prefix, zotune keeps them (check_prefix_peft.py).

rows.jsonl: zotune JSON Lines classification rows {"text", "label"}; pred.jsonl: one {"index", "gold", "predicted",
"scores"} line per row. zotune's scores are in its label order (the data's labels as they first appear), transformers'
logits in id2label's order: the script maps them by name (id2label's LABEL_i as the label "i", as zotune reads it).
Prints the largest |difference| relative to the largest logit and whether every row's argmax agrees; exits 1 when
the relative difference exceeds the tolerance or an argmax differs. Runs in float32 on the CPU with eager attention.
Only meaningful for a head trained with pooling pooler (config.json's zotune_pooling): transformers' classes classify
the pooler's output.
"""

import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("rows")
    ap.add_argument("predictions")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--adapter", help="a zotune head run's PEFT adapter folder, loaded with peft onto FOLDER")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if args.adapter:
        model = with_adapter(args.folder, args.adapter)
        if json.load(open(f"{args.adapter}/adapter_config.json")).get("peft_type") == "PREFIX_TUNING":
            # peft's prompt-learning forward numbers the real tokens' positions after the prefix; zotune keeps them
            # (ALGORITHMS.md §9): the logits differ by design, so only what peft loaded is checked
            print(f"{args.adapter}: a prefix adapter: logits not compared (peft shifts the positions by the prefix)")
            sys.exit(0)
    else:
        cfg = json.load(open(f"{args.folder}/config.json"))
        if cfg.get("zotune_pooling", "pooler") != "pooler":
            sys.exit(f"{args.folder}: zotune_pooling is {cfg['zotune_pooling']}: transformers classifies the "
                     "pooler's output, so its logits are not zotune's")
        model = AutoModelForSequenceClassification.from_pretrained(args.folder, attn_implementation="eager",
                                                                   dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(args.folder)
    rows = [json.loads(l) for l in open(args.rows, encoding="utf-8") if l.strip()]
    preds = [json.loads(l) for l in open(args.predictions, encoding="utf-8") if l.strip()]
    if len(rows) != len(preds):
        sys.exit(f"{len(rows)} rows but {len(preds)} predictions")
    order = []  # zotune's label order: the data's labels as they first appear
    for r in rows:
        if str(r["label"]) not in order:
            order.append(str(r["label"]))
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    names = [n[6:] if n == f"LABEL_{i}" else n for i, n in enumerate(names)]
    with torch.no_grad():
        batch = tok([r["text"] for r in rows], padding=True, return_tensors="pt")
        logits = model(**batch).logits.float()
    worst, largest, agree = 0.0, 0.0, 0
    for i, p in enumerate(preds):
        hf = {names[c]: float(logits[i, c]) for c in range(len(names))}
        zo = {order[c]: float(s) for c, s in enumerate(p["scores"]) if c < len(order)}
        for k, v in zo.items():
            worst = max(worst, abs(v - hf[k]))
            largest = max(largest, abs(hf[k]))
        agree += max(hf, key=hf.get) == p["predicted"]
    rel = worst / largest if largest else worst
    what = f"{args.folder} + peft adapter {args.adapter}" if args.adapter else args.folder
    print(f"{what}: {type(model).__name__}, {len(rows)} rows: logits max |zotune - transformers| {worst:.3g} "
          f"(largest {largest:.3g}, relative {rel:.3g}); argmax agrees on {agree} of {len(rows)}")
    sys.exit(0 if rel <= args.tolerance and agree == len(rows) else 1)


def with_adapter(base, adapter):
    """The sequence classifier made from BASE with peft's load of ADAPTER; exits when peft left a tensor out."""
    import torch
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification

    f = safe_open(f"{adapter}/adapter_model.safetensors", "pt")
    meta = f.metadata() or {}
    if meta.get("zotune_pooling", "pooler") != "pooler":
        sys.exit(f"{adapter}: zotune_pooling is {meta['zotune_pooling']}: transformers classifies the pooler's "
                 "output, so its logits are not zotune's")
    saved = {k: f.get_tensor(k) for k in f.keys()}
    rows = next(v.shape[0] for k, v in saved.items() if k.endswith(("classifier.weight", "classifier.out_proj.weight")))
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=rows, attn_implementation="eager",
                                                               dtype=torch.float32)
    pm = PeftModel.from_pretrained(model, adapter).eval()
    # peft's state names with its adapter name taken out are the file's (prompt_embeddings: the prompt encoder's)
    state = {k.replace(".modules_to_save.default", "").replace(".lora_A.default", ".lora_A")
             .replace(".lora_B.default", ".lora_B"): v for k, v in pm.state_dict().items()}
    state["prompt_embeddings"] = state.get("prompt_encoder.default.embedding.weight")
    for k, v in saved.items():
        got = state.get(k)
        if got is None:
            sys.exit(f"{adapter}: peft loaded no tensor for {k}")
        d = (got.float() - v.float()).abs().max().item()
        if d != 0:
            sys.exit(f"{adapter}: peft holds {k} {d:.3g} away from the file's")
    print(f"{adapter}: peft loaded all {len(saved)} tensors bit for bit")
    return pm


if __name__ == "__main__":
    main()
