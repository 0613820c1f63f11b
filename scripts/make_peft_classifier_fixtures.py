#!/usr/bin/env python3
"""Reference fixtures for LoRA adapters that Hugging Face peft makes on sequence classifiers (task_type SEQ_CLS),
read by `zotune eval --adapter` over the classifier fixtures' models.

Writes, under FIXTURES (normally src/test/resources/classifier-fixtures, made by make_classifier_fixtures.py first):
  <model>/peft-lora/adapter/        peft's save_pretrained of a LoRA adapter (r 2, lora_alpha 4, query and value) on
                                    <model>/model: adapter_config.json, adapter_model.safetensors with the classifier
                                    module in modules_to_save, as peft saves it (BERT: classifier.weight/bias; RoBERTa:
                                    classifier.dense.* and classifier.out_proj.*); lora_B and every modules_to_save
                                    tensor moved off its start, so that each changes the logits
  <model>/peft-lora/expected.json   header; per row of <model>/data.jsonl peft's float32 logits (id2label order);
                                    the predicted label ids
  peft-manifest.json                the files (sizes, sha256)

Usage: python3 scripts/make_peft_classifier_fixtures.py --fixtures src/test/resources/classifier-fixtures
Needs torch, transformers, peft; no network. The Java side: PeftClassifierCliTest (peftsOwnAdaptersScoreAsPeft...,
CPU and CUDA; skipped while peft-manifest.json is absent). Deterministic: fixed seeds and string hashes
(PYTHONHASHSEED=0), float32 on the CPU with eager attention. The base is loaded from the relative path "model" (peft
records it as base_model_name_or_path: no machine path).
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import torch

import make_encoder_fixtures as enc

FORMAT = "zotune-peft-classifier-fixture-v1"
GENERATOR = "scripts/make_peft_classifier_fixtures.py"
SEED = 2468
MODELS = ["bert", "roberta"]


def header():
    import peft
    h = enc.header()
    h["format"] = FORMAT
    h["generator"] = GENERATOR
    h["peft"] = peft.__version__
    return h


def make(folder: Path, gen):
    import peft
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = folder / "peft-lora"
    if out.exists():
        shutil.rmtree(out)
    cwd = os.getcwd()
    os.chdir(folder)  # the base as "model": what peft records as base_model_name_or_path
    try:
        model = AutoModelForSequenceClassification.from_pretrained("model", attn_implementation="eager",
                                                                   dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained("model")
        cfg = peft.LoraConfig(task_type="SEQ_CLS", r=2, lora_alpha=4, target_modules=["query", "value"])
        pm = peft.get_peft_model(model, cfg)
        moved = []
        with torch.no_grad():
            for n, p in pm.named_parameters():
                if "lora_B" in n or "modules_to_save" in n:
                    p.add_(torch.randn(p.shape, generator=gen) * 0.3)
                    moved.append(n)
        pm.eval()
        pm.save_pretrained("peft-lora/adapter")
        rows = [json.loads(l) for l in open("data.jsonl", encoding="utf-8") if l.strip()]
        with torch.no_grad():
            logits = pm(**tok([r["text"] for r in rows], padding=True, return_tensors="pt")).logits.float()
    finally:
        os.chdir(cwd)
    doc = dict(header())
    doc.update({
        "model": folder.name,
        "architecture": type(model).__name__,
        "adapter": "peft-lora/adapter",
        "moved": moved,
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
        "rows": [{"text": r["text"], "label": r["label"], "logits": logits[i].tolist()} for i, r in enumerate(rows)],
        "predicted": logits.argmax(-1).tolist(),
    })
    (out / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    saved = json.load(open(out / "adapter" / "adapter_config.json"))
    print(f"{folder.name}: {type(model).__name__} + peft {doc['peft']} LoRA, modules_to_save "
          f"{saved['modules_to_save']}, {len(moved)} tensors moved")


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # peft writes target_modules, a set, in string-hash order: fixed hashes give the same adapter_config.json
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", required=True, type=Path)
    args = ap.parse_args()
    for m in MODELS:
        if not (args.fixtures / m / "model").is_dir():
            raise SystemExit(f"{args.fixtures / m / 'model'}: absent (make_classifier_fixtures.py first)")
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    for m in MODELS:
        make(args.fixtures / m, gen)
    files = []
    for m in MODELS:
        for f in sorted((args.fixtures / m / "peft-lora").rglob("*")):
            if f.is_file():
                files.append({"path": str(f.relative_to(args.fixtures)), "bytes": f.stat().st_size,
                              "sha256": enc.sha256(f)})
    manifest = dict(header())
    manifest["models"] = MODELS
    manifest["files"] = files
    (args.fixtures / "peft-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
