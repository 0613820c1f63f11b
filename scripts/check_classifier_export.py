#!/usr/bin/env python3
"""Loads a zotune head run's exported folder (model/ or best/, `zotune merge --out`) with transformers'
AutoModelForSequenceClassification and compares its logits with the scores `zotune eval --predictions` wrote.

Usage (on a host with torch + transformers; no network):
  zotune eval --model RUN/model --format jsonl --data rows.jsonl --predictions pred.jsonl
  python3 scripts/check_classifier_export.py RUN/model rows.jsonl pred.jsonl [--tolerance 1e-4]

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
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cfg = json.load(open(f"{args.folder}/config.json"))
    if cfg.get("zotune_pooling", "pooler") != "pooler":
        sys.exit(f"{args.folder}: zotune_pooling is {cfg['zotune_pooling']}: transformers classifies the pooler's "
                 "output, so its logits are not zotune's")
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
    print(f"{args.folder}: {type(model).__name__}, {len(rows)} rows: logits max |zotune - transformers| {worst:.3g} "
          f"(largest {largest:.3g}, relative {rel:.3g}); argmax agrees on {agree} of {len(rows)}")
    sys.exit(0 if rel <= args.tolerance and agree == len(rows) else 1)


if __name__ == "__main__":
    main()
