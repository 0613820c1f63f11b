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
  manifest.json          the models and their files (sizes, sha256); the encoders under the key "encoders"
and for two tiny random BERTs (bert-mlm: BertForMaskedLM, task_type None; bert-bare: BertModel, task_type
FEATURE_EXTRACTION; PEFT names their modules base_model.model.bert.encoder... and base_model.model.encoder...):
  <name>/model, <name>/adapter as above
  <name>/expected.json   {"format", "input_ids", "mask_positions", "last_hidden_first", "last_hidden_last",
                         "base_last_hidden_first", and for bert-mlm "logits_at_masks" (one vocabulary row per mask
                         position), "base_logits_at_masks"}: one unpadded sequence, token types 0
The Java side is src/test/java/org/zotune/peft/LoraFixtureTest.java and LoraEncoderFixtureTest.java (both skip
while OUT is absent).

The targets exercise peft's matching rule: GPT-2 ["c_attn", "c_proj"] (c_proj names both attn.c_proj and
mlp.c_proj; Conv1D, fan_in_fan_out), OPT ["q_proj", "v_proj", "fc1"], Llama (grouped-query attention) every
projection; bert-mlm ["query", "value", "output.dense"] (PEFT's suffix rule: output.dense names both the
attention's output dense and the FFN's), bert-bare ["key", "intermediate.dense"]. r and lora_alpha differ per model
so that alpha/r is not 1 or 2 everywhere.

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


def encoder_specs():
    def config():
        return T.BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=40, max_position_embeddings=32, type_vocab_size=2,
                            attn_implementation="eager")
    return [
        dict(name="bert-mlm", cls=T.BertForMaskedLM, r=4, alpha=6, task_type=None,
             targets=["query", "value", "output.dense"], config=config()),
        dict(name="bert-bare", cls=T.BertModel, r=2, alpha=7, task_type="FEATURE_EXTRACTION",
             targets=["key", "intermediate.dense"], config=config()),
    ]


MASK_ID = 4


def encoder_outputs(model, ids, mlm, positions):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    hidden = out.hidden_states[-1][0].float()
    res = {"last_hidden_first": hidden[0].tolist(), "last_hidden_last": hidden[-1].tolist()}
    if mlm:
        res["logits_at_masks"] = [out.logits[0, p].float().tolist() for p in positions]
    return res


def make_encoder(i, s, out, manifest):
    torch.manual_seed(5000 + i)
    base = s["cls"](s["config"]).float().eval()
    perturb(base, 6000 + i)
    d = out / s["name"]
    base.save_pretrained(d / "model", safe_serialization=True)
    ids = torch.randint(5, VOCAB, (1, 10), generator=torch.Generator().manual_seed(7000 + i))
    positions = [3, 7]
    mlm = s["cls"] is T.BertForMaskedLM
    if mlm:
        for p in positions:
            ids[0, p] = MASK_ID
    base_out = encoder_outputs(base, ids, mlm, positions)
    cfg = LoraConfig(r=s["r"], lora_alpha=s["alpha"], target_modules=s["targets"], lora_dropout=0.0,
                     bias="none", task_type=s["task_type"])
    model = get_peft_model(base, cfg).eval()
    g = torch.Generator().manual_seed(8000 + i)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_A" in n or "lora_B" in n:  # known, non-zero A and B
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    got = encoder_outputs(model, ids, mlm, positions)
    model.save_pretrained(d / "adapter", safe_serialization=True)
    expected = {"format": FORMAT, "model": s["name"], "r": s["r"], "lora_alpha": s["alpha"],
                "targets": s["targets"], "task_type": s["task_type"], "input_ids": ids[0].tolist(),
                "mask_positions": positions if mlm else [],
                "base_last_hidden_first": base_out["last_hidden_first"]}
    expected.update(got)
    if mlm:
        expected["base_logits_at_masks"] = base_out["logits_at_masks"]
    write_json(d / "expected.json", expected)
    files = sorted(p for p in d.rglob("*") if p.is_file())
    manifest["encoders"].append({"name": s["name"], "files": [
        {"path": str(p.relative_to(out)), "bytes": p.stat().st_size, "sha256": sha256(p)} for p in files]})
    print(f"{s['name']}: adapted modules {sorted(n for n, _ in model.named_modules() if n.endswith('lora_A'))}")


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
                "models": [], "encoders": []}
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
    for i, s in enumerate(encoder_specs()):
        make_encoder(i, s, out, manifest)
    write_json(out / "manifest.json", manifest)


if __name__ == "__main__":
    main()
