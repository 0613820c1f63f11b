#!/usr/bin/env python3
"""Prefix-tuning reference fixtures from Hugging Face transformers + peft (PrefixTuningConfig, no projection).

Writes, under OUT (normally src/test/resources/prefix-fixtures):
  <model>/model/{config.json, model.safetensors}   tiny random GPT-2 / OPT / Llama (save_pretrained)
  <model>/adapter/{adapter_config.json, adapter_model.safetensors}
                                                   peft's own save_pretrained of a prefix adapter whose
                                                   prompt embedding was set to random non-zero values
  <model>/expected.json        header, input_ids, attention_mask (right padded), position_ids, p, layers
  <model>/expected.safetensors logits [batch, seq, vocab] (float32) and peft's per-layer prefix
                               layer.<l>.keys / layer.<l>.values [Hkv, p, D] from PeftModel.get_prompt
  manifest.json                the models and files (sizes, sha256)

Positions: zotune keeps the real tokens at positions 0..T-1 with a prefix (MeZO's prefix tuning patches the
attention and leaves the model's positions alone). PeftModel.forward instead lets the model count the prefix as
past tokens, so GPT-2, OPT and Llama put the real tokens at p..p+T-1 (and it drops position_ids). The reference
`logits` are therefore computed by calling the base model directly with peft's get_prompt() as past_key_values,
the attention mask extended by p ones, and explicit position_ids = cumsum(mask) - 1 (0..T-1 on real tokens).
`logits_peft_forward` (PeftModel's own forward, shifted positions) is stored too, for the record only.

Usage: python3 scripts/make_prefix_fixtures.py --out src/test/resources/prefix-fixtures
Needs torch, transformers, peft, safetensors; no network. Deterministic (fixed seeds, float32, CPU, eager attention).
Not yet run: it runs on the GPU host (this repository's CI machines have no transformers/peft).
"""

import argparse
import hashlib
import json
import platform
from pathlib import Path

import peft
import torch
import transformers
from safetensors.torch import save_file

FORMAT = "zotune-prefix-fixture-v1"
GENERATOR = "scripts/make_prefix_fixtures.py"
VOCAB = 97
TOKENS = 4  # p
SEED = 4321


def header():
    return {"format": FORMAT, "transformers": transformers.__version__, "torch": torch.__version__,
            "peft": peft.__version__, "python": platform.python_version(), "generator": GENERATOR}


def specs():
    return [
        ("gpt2", transformers.GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=4, n_positions=32,
                                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
         transformers.GPT2LMHeadModel),
        ("opt", transformers.OPTConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                       ffn_dim=32, max_position_embeddings=32, word_embed_proj_dim=16,
                                       do_layer_norm_before=True, dropout=0.0, attention_dropout=0.0,
                                       pad_token_id=1, bos_token_id=2, eos_token_id=2),
         transformers.OPTForCausalLM),
        ("llama", transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2,
                                           num_attention_heads=4, num_key_value_heads=4, intermediate_size=32,
                                           max_position_embeddings=32, rope_theta=10000.0, tie_word_embeddings=False),
         transformers.LlamaForCausalLM),
        # grouped-query attention: how peft sizes the prefix then is part of what the fixture records
        ("llama-gqa", transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=2, intermediate_size=32,
                                               max_position_embeddings=32, rope_theta=10000.0,
                                               tie_word_embeddings=False),
         transformers.LlamaForCausalLM),
    ]


def legacy(pkv, layers):
    """peft's get_prompt result (a tuple of (k, v) per layer, or a transformers Cache) as per-layer (k, v)."""
    if isinstance(pkv, (tuple, list)):
        return [(k, v) for k, v in pkv]
    if hasattr(pkv, "to_legacy_cache"):
        return [(k, v) for k, v in pkv.to_legacy_cache()]
    return [(pkv.layers[l].keys, pkv.layers[l].values) for l in range(layers)]


def cache(pairs):
    from transformers import DynamicCache
    if hasattr(DynamicCache, "from_legacy_cache"):
        return DynamicCache.from_legacy_cache(tuple(pairs))
    c = DynamicCache()
    for l, (k, v) in enumerate(pairs):
        c.update(k, v, l)
    return c


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make(out, name, config, cls):
    torch.manual_seed(SEED)
    config._attn_implementation = "eager"
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # off the defaults: norms not ones, biases not zero
            p.add_(0.1 * torch.randn_like(p))
    d = out / name
    model.save_pretrained(d / "model", safe_serialization=True)

    pc = peft.PrefixTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=TOKENS,
                                 prefix_projection=False)
    pm = peft.get_peft_model(model, pc).eval()
    emb = pm.prompt_encoder["default"].embedding.weight
    with torch.no_grad():
        emb.copy_(0.5 * torch.randn_like(emb))
    pm.save_pretrained(d / "adapter", safe_serialization=True)

    ids = torch.randint(3, VOCAB, (3, 7), generator=torch.Generator().manual_seed(SEED + 1))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[2, 3:] = 0
    ids = ids * mask + config.pad_token_id * (1 - mask) if config.pad_token_id is not None else ids * mask
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    layers = config.num_hidden_layers
    with torch.no_grad():
        pairs = legacy(pm.get_prompt(batch_size=ids.shape[0]), layers)
        full_mask = torch.cat([torch.ones(ids.shape[0], TOKENS, dtype=mask.dtype), mask], dim=1)
        logits = model(input_ids=ids, attention_mask=full_mask, position_ids=positions,
                       past_key_values=cache(pairs), use_cache=True).logits.float()
        shifted = pm(input_ids=ids, attention_mask=mask).logits.float()
    tensors = {"logits": logits.contiguous(), "logits_peft_forward": shifted.contiguous()}
    for l, (k, v) in enumerate(pairs):
        tensors[f"layer.{l}.keys"] = k[0].float().contiguous()  # [Hkv, p, D] of sequence 0 (all equal)
        tensors[f"layer.{l}.values"] = v[0].float().contiguous()
    save_file(tensors, str(d / "expected.safetensors"), metadata={k: str(v) for k, v in header().items()})
    expected = dict(header(), model=name, hf_class=cls.__name__, tokens=TOKENS, layers=layers,
                    input_ids=ids.tolist(), attention_mask=mask.tolist(), position_ids=positions.tolist(),
                    prompt_embeddings_shape=list(emb.shape), peft_config=json.loads(
                        (d / "adapter" / "adapter_config.json").read_text()))
    (d / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    return [p for p in sorted(d.rglob("*")) if p.is_file()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    files = []
    names = []
    for name, config, cls in specs():
        files += make(args.out, name, config, cls)
        names.append(name)
    manifest = dict(header(), models=names, files=[
        {"path": str(p.relative_to(args.out)), "size": p.stat().st_size, "sha256": sha256(p)} for p in files])
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
