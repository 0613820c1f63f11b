#!/usr/bin/env python3
"""Reference fixtures for zotune's encoders (BERT, RoBERTa) from Hugging Face transformers.

Writes, under OUT (normally src/test/resources/encoder-fixtures):
  <model>/model/                a complete Hugging Face folder a user can load with from_pretrained / pipeline:
                                config.json, model.safetensors (tiny random BertForMaskedLM / RobertaForMaskedLM),
                                tokenizer.json (+ tokenizer_config.json, special_tokens_map.json): a WordPiece
                                tokenizer (BERT's normalizer, [CLS] $A [SEP]) or a byte-level BPE one (RoBERTa's
                                <s> $A </s>, <mask> with lstrip), built offline from a vocabulary written here
  <model>/expected.json         header; inputs (right-padded random ids with two masks per sequence and token
                                types), the MLM loss, the mask positions, float32 MLM logits at every mask; and
                                "fill_mask": transformers' pipeline("fill-mask") on the folder for a few sentences
                                with one mask each (the tokenizer's input_ids, the mask position, top-k token ids,
                                token_str, scores)
  <model>/expected.safetensors  last_hidden_state [batch, seq, hidden] (float32)
  manifest.json                 the models and files (sizes, sha256)

Usage: python3 scripts/make_encoder_fixtures.py --out src/test/resources/encoder-fixtures
Needs torch, transformers, tokenizers, safetensors; no network. The Java side: EncoderFixtureTest and
ApiFillMaskFixtureTest (both skip while OUT is absent).
Deterministic: fixed seeds, vocabularies and merges written here, references computed in float32 on the CPU with
eager attention.
"""

import argparse
import hashlib
import json
import platform
import shutil
from pathlib import Path

import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

FORMAT = "zotune-encoder-fixture-v1"
GENERATOR = "scripts/make_encoder_fixtures.py"
SEED = 1234
TOP_K = 5

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_WORDS = ["the", "is", "was", "it", "this", "of", "and", "to", "movie", "film", "great", "good", "bad", "paris",
              "capital", "france", "weather", "today", "love", "day", "##s", "##ing", "##ed", "##ly", ".", ",", "!",
              "?", "'", "-"]
BERT_SENTENCES = ["The capital of France is [MASK].", "This movie was [MASK]!", "[MASK] weather today",
                  "I love this [MASK] film, it's GREAT.", "naïve [MASK] café costs 5 €"]

ROBERTA_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
ROBERTA_WORDS = ["The", " the", " capital", " of", " France", " is", " Paris", "This", " this", " movie", " film",
                 " was", " great", " good", " bad", " love", " weather", " today", "I", " I", " it", ".", "!", ",",
                 " café"]
ROBERTA_SENTENCES = ["The capital of France is <mask>.", "This movie was <mask>!", "<mask> weather today",
                     "I love this <mask> film, it is great.", "naïve <mask> café costs 5 €"]


def header():
    return {
        "format": FORMAT,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "generator": GENERATOR,
    }


def byte_symbols():
    """GPT-2's byte-to-character table (printable bytes stand for themselves, the rest map past 255), by byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def bert_tokenizer():
    vocab = list(BERT_SPECIAL)
    for w in [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)] \
            + BERT_WORDS:
        if w not in vocab:
            vocab.append(w)
    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in BERT_SPECIAL])
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]", clean_up_tokenization_spaces=False, model_max_length=32)
    return fast, len(vocab), ids["[PAD]"], ids["[MASK]"]


def roberta_tokenizer():
    table = byte_symbols()
    vocab = list(ROBERTA_SPECIAL) + [table[b] for b in range(256)]
    merges = []
    for word in ROBERTA_WORDS:  # each word's left-to-right prefixes as merges, in this order of rank
        chars = [table[b] for b in word.encode("utf-8")]
        cur = chars[0]
        for c in chars[1:]:
            if (cur, c) not in merges:
                merges.append((cur, c))
            cur += c
            if cur not in vocab:
                vocab.append(cur)
    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.BPE(vocab=ids, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # (sep, cls) positionally: tokenizers 0.23 no longer takes cls= by keyword
    tok.post_processor = processors.RobertaProcessing(("</s>", ids["</s>"]), ("<s>", ids["<s>"]),
                                                      trim_offsets=True, add_prefix_space=False)
    tok.add_special_tokens([AddedToken(t, normalized=False, lstrip=(t == "<mask>")) for t in ROBERTA_SPECIAL])
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", clean_up_tokenization_spaces=False,
        mask_token=AddedToken("<mask>", lstrip=True, normalized=False, special=True),  # as in tokenizer.json
        model_max_length=32, model_input_names=["input_ids", "attention_mask"])
    return fast, len(vocab), ids["<pad>"], ids["<mask>"]


def specs():
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                  hidden_act="gelu", layer_norm_eps=1e-12, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0)
    out = []
    tok, vocab, pad, mask = bert_tokenizer()
    out.append(("bert", transformers.BertConfig(vocab_size=vocab, max_position_embeddings=40, type_vocab_size=2,
                                                pad_token_id=pad, **common),
                transformers.BertForMaskedLM, tok, mask, BERT_SENTENCES))
    tok, vocab, pad, mask = roberta_tokenizer()
    out.append(("roberta", transformers.RobertaConfig(vocab_size=vocab, max_position_embeddings=42,
                                                      type_vocab_size=1, pad_token_id=pad, bos_token_id=0,
                                                      eos_token_id=2, **common),
                transformers.RobertaForMaskedLM, tok, mask, ROBERTA_SENTENCES))
    return out


def inputs(cfg, mask_id, gen):
    # three sequences of awkward lengths, right-padded; special ids (0..4) kept out of the random body
    lengths = [17, 9, 13]
    seq = max(lengths)
    ids = torch.full((len(lengths), seq), cfg.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(lengths), seq), dtype=torch.long)
    types = torch.zeros((len(lengths), seq), dtype=torch.long)
    labels = torch.full((len(lengths), seq), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        body = torch.randint(5, cfg.vocab_size, (n,), generator=gen)
        ids[b, :n] = body
        att[b, :n] = 1
        if cfg.type_vocab_size > 1:
            types[b, n // 2:n] = 1
        for t in torch.randperm(n - 2, generator=gen)[:2] + 1:
            labels[b, t] = ids[b, t]
            ids[b, t] = mask_id
    return ids, att, types, labels


def fill_mask(mdir, sentences):
    """transformers' fill-mask pipeline on the saved folder, as a user would load it."""
    tok = transformers.AutoTokenizer.from_pretrained(mdir)
    model = transformers.AutoModelForMaskedLM.from_pretrained(mdir, attn_implementation="eager").eval()
    fm = transformers.pipeline("fill-mask", model=model, tokenizer=tok, device="cpu")
    raw = Tokenizer.from_file(str(Path(mdir) / "tokenizer.json"))  # what zotune reads
    cases = []
    for text in sentences:
        ids = tok(text)["input_ids"]
        if raw.encode(text).ids != ids:
            raise SystemExit(f"{mdir}: transformers' tokenizer gives {ids} for {text!r}, tokenizer.json alone "
                             f"{raw.encode(text).ids}")
        if ids.count(tok.mask_token_id) != 1:
            raise SystemExit(f"{mdir}: {text!r} has {ids.count(tok.mask_token_id)} masks, want one")
        top = fm(text, top_k=TOP_K)
        cases.append({
            "text": text,
            "input_ids": ids,
            "mask_position": ids.index(tok.mask_token_id),
            "top_k": [{"token": int(p["token"]), "token_str": p["token_str"], "score": float(p["score"])}
                      for p in top],
        })
    return cases


def sha256(path: Path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(out: Path, names, head):
    """manifest.json under OUT: the header, the models and every file below them (path, bytes, sha256)."""
    files = []
    for name in names:
        for f in sorted((out / name).rglob("*")):
            if f.is_file():
                files.append({"path": str(f.relative_to(out)), "bytes": f.stat().st_size, "sha256": sha256(f)})
    manifest = dict(head)
    manifest["models"] = names
    manifest["files"] = files
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {', '.join(names)} under {out} ({sum(f['bytes'] for f in files)} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    names = []
    for name, cfg, cls, tok, mask_id, sentences in specs():
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval()
        with torch.no_grad():  # larger weights than the init so errors show
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
        mdir = args.out / name / "model"
        mdir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(mdir, safe_serialization=True)
        tok.save_pretrained(mdir)
        ids, att, types, labels = inputs(cfg, mask_id, gen)
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=att, token_type_ids=types, labels=labels,
                        output_hidden_states=True)
        masks = (labels != -100).nonzero().tolist()
        doc = dict(header())
        doc.update({
            "model": name,
            "architecture": cls.__name__,
            "vocab_size": cfg.vocab_size,
            "mask_id": mask_id,
            "input_ids": ids.tolist(),
            "attention_mask": att.tolist(),
            "token_type_ids": types.tolist(),
            "labels": labels.tolist(),
            "mask_positions": masks,
            "mlm_loss": float(out.loss),
            "mlm_logits_at_masks": [out.logits[b, t].float().tolist() for b, t in masks],
            "fill_mask_top_k": TOP_K,
            "fill_mask": fill_mask(mdir, sentences),
        })
        exp = args.out / name / "expected.json"
        exp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        st = args.out / name / "expected.safetensors"
        save_file({"last_hidden_state": out.hidden_states[-1].float().contiguous()}, str(st),
                  metadata={k: str(v) for k, v in header().items()})
        names.append(name)
    write_manifest(args.out, names, header())


if __name__ == "__main__":
    main()
