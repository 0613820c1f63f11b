#!/usr/bin/env python3
"""LoRA reference fixtures for zotune from Hugging Face transformers + peft.

Writes, under OUT (normally src/test/resources/lora-fixtures), for each of gpt2, opt and llama:
  <name>/model/{config.json, model.safetensors}          a tiny random base (save_pretrained, float32)
  <name>/adapter/{adapter_config.json, adapter_model.safetensors}
                                                         a peft LoraConfig adapter with random NON-ZERO A and B
                                                         (peft's own save_pretrained, safetensors)
  <name>/expected.json   {"format", "input_ids": [...], "loss", "base_loss", "logits_first", "logits_last"}:
                         one unpadded sequence; loss is the mean next-token cross-entropy of the adapted model,
                         base_loss the base's; logits rows (float32) at the first and the last position
  manifest.json          the models and their files (sizes, sha256)
The Java side is src/test/java/org/zotune/peft/LoraFixtureTest.java (skips while OUT is absent).

The targets exercise peft's matching rule: GPT-2 ["c_attn", "c_proj"] (c_proj names both attn.c_proj and
mlp.c_proj; Conv1D, fan_in_fan_out), OPT ["q_proj", "v_proj", "fc1"], Llama (grouped-query attention) every
projection. r and lora_alpha differ per model so that alpha/r is not 1 or 2 everywhere.

Usage: python3 scripts/make_lora_fixtures.py --out src/test/resources/lora-fixtures
Needs torch, transformers, peft, safetensors; no network. Deterministic (fixed seeds, float32, CPU, eager attention).
"""

import argparse
import hashlib
import json
import platform
import shutil
from pathlib import Path

import torch
import transformers as T
import peft
from peft import LoraConfig, get_peft_model

FORMAT = "zotune-lora-fixture-v1"
VOCAB = 96


def specs():
    return [
        dict(name="gpt2", r=4, alpha=8, targets=["c_attn", "c_proj"], fan_in_fan_out=True,
             config=T.GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=32,
                                 attn_implementation="eager")),
        dict(name="opt", r=2, alpha=5, targets=["q_proj", "v_proj", "fc1"], fan_in_fan_out=False,
             config=T.OPTConfig(vocab_size=VOCAB, hidden_size=16, ffn_dim=40, num_hidden_layers=2,
                                num_attention_heads=2, max_position_embeddings=32, word_embed_proj_dim=16,
                                do_layer_norm_before=True, pad_token_id=1, attn_implementation="eager")),
        dict(name="llama", r=4, alpha=12,
             targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
             fan_in_fan_out=False,
             config=T.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                  tie_word_embeddings=False, attn_implementation="eager")),
    ]


def model_class(name):
    return {"gpt2": T.GPT2LMHeadModel, "opt": T.OPTForCausalLM, "llama": T.LlamaForCausalLM}[name]


def perturb(model, seed):
    # random-init weights are small; norms and biases off their defaults so that every term matters
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def loss_and_logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, labels=ids)
    return float(out.loss), out.logits[0].float()


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=1) + "\n")


def sha256(path: Path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    torch.use_deterministic_algorithms(True)
    manifest = {"format": FORMAT, "generator": "scripts/make_lora_fixtures.py",
                "versions": {"python": platform.python_version(), "torch": torch.__version__,
                             "transformers": T.__version__, "peft": peft.__version__},
                "models": []}
    for i, s in enumerate(specs()):
        torch.manual_seed(1000 + i)
        base = model_class(s["name"])(s["config"]).float().eval()
        perturb(base, 2000 + i)
        d = out / s["name"]
        base.save_pretrained(d / "model", safe_serialization=True)
        ids = torch.randint(2, VOCAB, (1, 12), generator=torch.Generator().manual_seed(3000 + i))
        base_loss, _ = loss_and_logits(base, ids)

        cfg = LoraConfig(r=s["r"], lora_alpha=s["alpha"], target_modules=s["targets"], lora_dropout=0.0,
                         bias="none", fan_in_fan_out=s["fan_in_fan_out"], task_type="CAUSAL_LM")
        model = get_peft_model(base, cfg).eval()
        g = torch.Generator().manual_seed(4000 + i)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_A" in n or "lora_B" in n:  # B is zero at init: make both non-zero
                    p.copy_(0.3 * torch.randn(p.shape, generator=g))
        loss, logits = loss_and_logits(model, ids)
        model.save_pretrained(d / "adapter", safe_serialization=True)
        write_json(d / "expected.json", {
            "format": FORMAT, "model": s["name"], "r": s["r"], "lora_alpha": s["alpha"], "targets": s["targets"],
            "input_ids": ids[0].tolist(), "loss": loss, "base_loss": base_loss,
            "logits_first": logits[0].tolist(), "logits_last": logits[-1].tolist()})
        files = sorted(p for p in d.rglob("*") if p.is_file())
        manifest["models"].append({"name": s["name"], "files": [
            {"path": str(p.relative_to(out)), "bytes": p.stat().st_size, "sha256": sha256(p)} for p in files]})
        print(f"{s['name']}: loss {loss:.6f} (base {base_loss:.6f})")
    write_json(out / "manifest.json", manifest)


if __name__ == "__main__":
    main()
