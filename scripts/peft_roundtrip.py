#!/usr/bin/env python3
"""PEFT round trip for zotune's LoRA adapters, both directions, on one Hugging Face base (float32, CPU).

1. zotune -> peft: zotune scores a text with a zotune-made adapter (zotune perplexity --adapter, which also dumps
   the token ids), then peft's PeftModel.from_pretrained loads the same adapter folder onto the transformers base
   and scores the same ids.
2. peft -> zotune: this script makes an adapter with peft itself (LoraConfig, random NON-ZERO A and B, saved with
   save_pretrained), scores the ids with peft, and zotune perplexity --adapter scores them with that folder.
Each direction prints both losses and their relative difference and fails (exit 1) above --tolerance (1e-5).

Usage (the GPU host has torch, transformers and peft; zotune built there):
  ./zotune train --config run.yaml          # a LoRA run (peft.method: lora) on BASE writes RUN/adapter
  python3 scripts/peft_roundtrip.py --zotune ./zotune --base BASE --adapter RUN/adapter --text-file T.txt
BASE is a Hugging Face folder (GPT-2, OPT or Llama with its tokenizer files); --adapter may be left out to run
direction 2 only. --targets sets direction 2's target modules (default: q_proj,v_proj; c_attn for GPT-2).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import transformers as T
from peft import LoraConfig, PeftModel, get_peft_model


def zotune_loss(zotune, base, adapter, text_file, work: Path):
    dump = work / "dump.json"
    cmd = zotune.split() + ["perplexity", "--model", str(base), "--text-file", str(text_file), "--device", "cpu",
                            "--dtype", "f32", "--adapter", str(adapter), "--dump-logits", str(dump)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"zotune failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    loss = json.loads(r.stdout.strip().splitlines()[-1])["loss"]
    ids = json.loads(dump.read_text())["input_ids"]
    return float(loss), ids


def peft_loss(model, ids):
    t = torch.tensor([ids])
    with torch.no_grad():
        return float(model(input_ids=t, labels=t).loss)


def load_base(base):
    return T.AutoModelForCausalLM.from_pretrained(base, torch_dtype=torch.float32,
                                                  attn_implementation="eager").eval()


def report(what, z, p, tol):
    rel = abs(z - p) / max(abs(p), 1e-30)
    ok = rel <= tol
    print(f"{what}: zotune {z:.9g}  peft {p:.9g}  relative difference {rel:.3g}  {'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zotune", default="./zotune", help="the zotune command (e.g. './zotune' or 'java -jar ...')")
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapter", help="a zotune-made adapter folder (direction 1)")
    ap.add_argument("--text-file", required=True)
    ap.add_argument("--targets", help="direction 2's target modules, comma-separated")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ids = None
        if args.adapter:
            z, ids = zotune_loss(args.zotune, args.base, args.adapter, args.text_file, work)
            model = PeftModel.from_pretrained(load_base(args.base), args.adapter).eval()
            ok &= report("zotune adapter -> peft", z, peft_loss(model, ids), args.tolerance)

        base = load_base(args.base)
        gpt2 = base.config.model_type == "gpt2"
        targets = args.targets.split(",") if args.targets else (["c_attn"] if gpt2 else ["q_proj", "v_proj"])
        cfg = LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0, bias="none",
                         fan_in_fan_out=gpt2, task_type="CAUSAL_LM")
        model = get_peft_model(base, cfg).eval()
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_A" in n or "lora_B" in n:
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))
        made = work / "peft-adapter"
        model.save_pretrained(made, safe_serialization=True)
        z, ids2 = zotune_loss(args.zotune, args.base, made, args.text_file, work)
        ok &= report("peft adapter -> zotune", z, peft_loss(model, ids2), args.tolerance)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
