#!/usr/bin/env python3
"""Reference fixtures for Hugging Face sequence classifiers read by zotune (objective head, pooling pooler).

Writes, under OUT (normally src/test/resources/classifier-fixtures):
  <model>/model/         a Hugging Face folder as a user of transformers would have it: config.json,
                         model.safetensors (tiny random BertForSequenceClassification / RobertaForSequenceClassification,
                         3 labels), tokenizer.json and its companions (make_encoder_fixtures.py's tokenizers).
                         bert names its labels (id2label negative / neutral / positive); roberta keeps transformers'
                         default names LABEL_0..LABEL_2
  <model>/data.jsonl     zotune JSON Lines classification rows {"text", "label"}: bert's labels by name, roberta's
                         as the integers 0..2 (what LABEL_i stands for); the first three rows hold the labels in
                         id2label's order
  <model>/expected.json  header; per row the tokenizer's input_ids and transformers' float32 logits; the mean
                         cross-entropy of the rows against their labels; the predicted label ids
  manifest.json          the models and files (sizes, sha256)

Usage: python3 scripts/make_classifier_fixtures.py --out src/test/resources/classifier-fixtures
Needs torch, transformers, tokenizers, safetensors; no network. The Java side: HfClassifierFixtureTest (CPU) and
HfClassifierFixtureGpuTest (CUDA); both skip while OUT is absent. Deterministic: fixed seeds, the references computed
in float32 on the CPU with eager attention, the rows batched with right padding (each row's logits are its own).
"""

import argparse
import json
import shutil
from pathlib import Path

import torch
import transformers

import make_encoder_fixtures as enc

FORMAT = "zotune-classifier-fixture-v1"
GENERATOR = "scripts/make_classifier_fixtures.py"
SEED = 4321

BERT_ROWS = [("this film is bad.", "negative"), ("the weather today", "neutral"), ("the movie was great!", "positive"),
             ("I love this good movie, it's GREAT.", "positive"), ("bad, bad film", "negative"),
             ("capital of france is paris", "neutral"), ("naïve café costs 5 €", "neutral"),
             ("it was a good day", "positive")]
ROBERTA_ROWS = [("The film is bad.", 0), ("The weather today", 1), ("This movie was great!", 2),
                ("I love this good movie, it is great.", 2), ("bad, bad film", 0),
                ("The capital of France is Paris", 1), ("naïve café costs 5 €", 1), ("I was good", 2)]


def header():
    h = enc.header()
    h["format"] = FORMAT
    h["generator"] = GENERATOR
    return h


def specs():
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                  hidden_act="gelu", layer_norm_eps=1e-12, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0,
                  classifier_dropout=0.0, num_labels=3)
    out = []
    tok, vocab, pad, _ = enc.bert_tokenizer()
    labels = ["negative", "neutral", "positive"]
    out.append(("bert", transformers.BertConfig(
        vocab_size=vocab, max_position_embeddings=40, type_vocab_size=2, pad_token_id=pad,
        id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)}, **common),
        transformers.BertForSequenceClassification, tok, BERT_ROWS, labels))
    tok, vocab, pad, _ = enc.roberta_tokenizer()
    out.append(("roberta", transformers.RobertaConfig(
        vocab_size=vocab, max_position_embeddings=42, type_vocab_size=1, pad_token_id=pad, bos_token_id=0,
        eos_token_id=2, **common), transformers.RobertaForSequenceClassification, tok, ROBERTA_ROWS,
        [0, 1, 2]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    names = []
    for name, cfg, cls, tok, rows, labels in specs():
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval()
        with torch.no_grad():  # larger weights than the init, so that the logits differ by more than rounding
            for pname, p in model.named_parameters():
                p.add_(torch.randn(p.shape, generator=gen) * (0.5 if pname.startswith("classifier") else 0.05))
        mdir = args.out / name / "model"
        mdir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(mdir, safe_serialization=True)
        tok.save_pretrained(mdir)
        texts = [t for t, _ in rows]
        gold = torch.tensor([labels.index(l) for _, l in rows])
        batch = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**batch).logits.float()
        loss = torch.nn.functional.cross_entropy(logits, gold)
        with open(args.out / name / "data.jsonl", "w", encoding="utf-8") as f:
            for t, l in rows:
                f.write(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n")
        doc = dict(header())
        doc.update({
            "model": name,
            "architecture": cls.__name__,
            "id2label": {str(k): v for k, v in model.config.id2label.items()},
            "rows": [{"text": t, "label": l, "input_ids": tok(t)["input_ids"], "logits": logits[i].tolist()}
                     for i, (t, l) in enumerate(rows)],
            "loss": float(loss),
            "predicted": logits.argmax(-1).tolist(),
        })
        (args.out / name / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                                      encoding="utf-8")
        names.append(name)
    enc.write_manifest(args.out, names, header())


if __name__ == "__main__":
    main()
