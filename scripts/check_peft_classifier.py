#!/usr/bin/env python3
"""Makes a LoRA adapter with peft on a Hugging Face BertForSequenceClassification (task SEQ_CLS: the classifier in
modules_to_save) and compares peft's logits with the scores `zotune eval --adapter` gives it.

Usage (on a host with torch, transformers, peft and zotune's dist bundle; no network):
  python3 scripts/check_peft_classifier.py FIXTURE OUT --zotune dist/zotune [--device cpu|cuda] [--tolerance 1e-4]

FIXTURE: a folder with model/ (a BertForSequenceClassification, e.g. src/test/resources/classifier-fixtures/bert)
and data.jsonl (zotune JSON Lines rows {"text", "label"} whose first rows list the labels in id2label's order).
The adapter (r 2, alpha 4 on query and value; lora_B and the classifier's copy moved off their start so that both
count) is saved to OUT/adapter as peft saves it, with none of zotune's metadata; zotune reads its rows through the
base's id2label and pools by the pooler. Prints the largest |difference| relative to the largest logit and the argmax
agreement; exits 1 when the relative difference exceeds the tolerance or an argmax differs.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fixture", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--zotune", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    import peft
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(7)
    base = args.fixture / "model"
    model = AutoModelForSequenceClassification.from_pretrained(base, attn_implementation="eager",
                                                               dtype=torch.float32).eval()
    cfg = peft.LoraConfig(task_type="SEQ_CLS", r=2, lora_alpha=4, target_modules=["query", "value"])
    pm = peft.get_peft_model(model, cfg)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n or ("modules_to_save" in n and "classifier" in n):
                p.add_(torch.randn(p.shape) * 0.3)
    pm.eval()
    adapter = args.out / "adapter"
    pm.save_pretrained(adapter)
    tok = AutoTokenizer.from_pretrained(base)
    rows = [json.loads(l) for l in open(args.fixture / "data.jsonl", encoding="utf-8") if l.strip()]
    with torch.no_grad():
        logits = pm(**tok([r["text"] for r in rows], padding=True, return_tensors="pt")).logits.float()
    pred = args.out / "pred.jsonl"
    run = subprocess.run([args.zotune, "eval", "--model", str(base), "--adapter", str(adapter), "--format", "jsonl",
                          "--data", str(args.fixture / "data.jsonl"), "--device", args.device, "--predictions",
                          str(pred), "--no-progress"], capture_output=True, text=True)
    print(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "", file=sys.stderr)
    if run.returncode != 0:
        sys.exit(f"zotune eval failed ({run.returncode}): {run.stderr.strip()}")
    print("zotune:", [l for l in run.stderr.splitlines() if l.startswith("objective")], run.stdout.strip().splitlines()[-1])
    saved = json.load(open(adapter / "adapter_config.json"))
    print(f"peft {peft.__version__}: task_type {saved['task_type']}, modules_to_save {saved['modules_to_save']}")
    preds = [json.loads(l) for l in open(pred, encoding="utf-8")]
    worst, largest, agree = 0.0, 0.0, 0
    for i, p in enumerate(preds):
        for c, s in enumerate(p["scores"]):
            worst = max(worst, abs(s - float(logits[i, c])))
            largest = max(largest, abs(float(logits[i, c])))
        agree += model.config.id2label[int(logits[i].argmax())] == p["predicted"]
    rel = worst / largest
    print(f"{args.fixture.name} + peft LoRA SEQ_CLS adapter, zotune eval --device {args.device}: logits max "
          f"|zotune - peft| {worst:.3g} (largest {largest:.3g}, relative {rel:.3g}); argmax agrees on {agree} of "
          f"{len(preds)}")
    sys.exit(0 if rel <= args.tolerance and agree == len(preds) else 1)


if __name__ == "__main__":
    main()
