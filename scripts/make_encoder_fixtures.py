#!/usr/bin/env python3
"""Reference fixtures for zotune's encoders (BERT, RoBERTa) from Hugging Face transformers.

Writes, under OUT (normally src/test/resources/fixtures/encoders):
  <model>/model/{config.json, model.safetensors}  tiny random-initialised BertForMaskedLM / RobertaForMaskedLM
  <model>/expected.json       header, inputs (right-padded, with masks and token types), the MLM loss,
                              mask positions, and float32 MLM logits at every mask
  <model>/expected.safetensors  last_hidden_state [batch, seq, hidden] (float32)
  manifest.json               the models and files (sizes, sha256)

Usage: python3 scripts/make_encoder_fixtures.py --out DIR
Needs torch, transformers, safetensors; no network, no tokenizer (ids are drawn at random from the vocabulary).
Deterministic: fixed seeds, references computed in float32 on the CPU with eager attention.
Not yet run: it runs on the GPU host (this repository's CI machines have no transformers).
"""

import argparse
import hashlib
import json
import platform
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

FORMAT = "zotune-encoder-fixture-v1"
GENERATOR = "scripts/make_encoder_fixtures.py"
VOCAB = 97
SEED = 1234


def header():
    return {
        "format": FORMAT,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "generator": GENERATOR,
    }


def specs():
    common = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=48, hidden_act="gelu", layer_norm_eps=1e-12,
                  attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0)
    return [
        ("bert", transformers.BertConfig(max_position_embeddings=40, type_vocab_size=2, pad_token_id=0,
                                         **common),
         transformers.BertForMaskedLM, 3),  # mask id: an ordinary id used as [MASK]
        ("roberta", transformers.RobertaConfig(max_position_embeddings=42, type_vocab_size=1, pad_token_id=1,
                                               bos_token_id=0, eos_token_id=2, **common),
         transformers.RobertaForMaskedLM, 4),
    ]


def inputs(name, cfg, mask_id, gen):
    # three sequences of awkward lengths, right-padded; special ids kept out of the random body
    lengths = [17, 9, 13]
    seq = max(lengths)
    ids = torch.full((len(lengths), seq), cfg.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(lengths), seq), dtype=torch.long)
    types = torch.zeros((len(lengths), seq), dtype=torch.long)
    labels = torch.full((len(lengths), seq), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        body = torch.randint(5, VOCAB, (n,), generator=gen)
        ids[b, :n] = body
        att[b, :n] = 1
        if cfg.type_vocab_size > 1:
            types[b, n // 2:n] = 1
        for t in torch.randperm(n - 2, generator=gen)[:2] + 1:
            labels[b, t] = ids[b, t]
            ids[b, t] = mask_id
    return ids, att, types, labels


def sha256(path: Path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    files = []
    for name, cfg, cls, mask_id in specs():
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval()
        with torch.no_grad():  # larger weights than the init so errors show
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        mdir = args.out / name / "model"
        mdir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(mdir, safe_serialization=True)
        ids, att, types, labels = inputs(name, cfg, mask_id, gen)
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=att, token_type_ids=types, labels=labels,
                        output_hidden_states=True)
        masks = (labels != -100).nonzero().tolist()
        doc = dict(header())
        doc.update({
            "model": name,
            "architecture": cls.__name__,
            "input_ids": ids.tolist(),
            "attention_mask": att.tolist(),
            "token_type_ids": types.tolist(),
            "labels": labels.tolist(),
            "mask_positions": masks,
            "mlm_loss": float(out.loss),
            "mlm_logits_at_masks": [out.logits[b, t].float().tolist() for b, t in masks],
        })
        exp = args.out / name / "expected.json"
        exp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        st = args.out / name / "expected.safetensors"
        save_file({"last_hidden_state": out.hidden_states[-1].float().contiguous()}, str(st),
                  metadata={k: str(v) for k, v in header().items()})
        for f in sorted((args.out / name).rglob("*")):
            if f.is_file():
                files.append({"path": str(f.relative_to(args.out)), "bytes": f.stat().st_size,
                              "sha256": sha256(f)})
    manifest = dict(header())
    manifest["files"] = files
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
