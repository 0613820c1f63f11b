#!/usr/bin/env python3
"""A RoBERTa tokenizer fixture for zotune from Hugging Face transformers (no network).

transformers' RobertaTokenizerFast is built from the shared data's GPT-2 BPE files (RoBERTa's BPE is GPT-2's; its
own vocab.json numbers the pieces differently, so the special tokens <s>, </s>, <unk>, <pad>, <mask> are added by
transformers past GPT-2's 50,257 ids, with RoBERTa's rules: <mask> lstrip, RobertaProcessing). Writes, under OUT
(normally src/test/resources/roberta-tokenizer):
  tokenizer.json   the fast tokenizer as transformers built it (backend_tokenizer.save)
  expected.json    {"format", "versions", "special": {token: id}, "single": [{"text", "ids"}],
                    "pair": [{"first", "second", "ids"}]}: ids with the default special tokens (tok(text),
                    tok(first, second))
The Java side is src/test/java/org/zotune/model/tokenizer/RobertaTokenizerFixtureTest.java (skips while OUT is
absent).

Usage: python3 scripts/make_roberta_tokenizer_fixture.py --bpe /path/to/shared/data/tokenizers/gpt2-bpe \
           --out src/test/resources/roberta-tokenizer
"""

import argparse
import json
import platform
import shutil
from pathlib import Path

import tokenizers
import transformers as T

FORMAT = "zotune-roberta-tokenizer-fixture-v1"

SINGLE = ["Hello world", " Hello world", "It was <mask>.", "It was <mask> great", "<mask>", "a <mask> b <mask>",
          "The movie was terrible!  Really?", "naïve café — 10% off", "<s>Hello</s>", "", "   ", "tab\there\nnewline"]
PAIR = [("Hello world", "It was"), ("The plot is dull.", "It was <mask>."), ("premise ?", " hypothesis"),
        ("a", "")]


def roberta(bpe):
    """transformers' RoBERTa tokenizer over GPT-2's BPE files. transformers 5 takes the vocabulary and merges as
    values (vocab=, merges=) and silently ignores the 4.x keywords vocab_file=/merges_file= (leaving a vocabulary of
    the five special tokens only), so the values are passed where the class takes them and the result is checked."""
    vocab = json.loads((bpe / "encoder.json").read_text(encoding="utf-8"))
    lines = (bpe / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(m.split(" ")) for m in lines if m and not m.startswith("#version")]
    if int(T.__version__.split(".")[0]) >= 5:
        tok = T.RobertaTokenizer(vocab=vocab, merges=merges)  # 5.x: the tokenizers-backed class
    else:
        tok = T.RobertaTokenizerFast(vocab_file=str(bpe / "encoder.json"), merges_file=str(bpe / "vocab.bpe"))
    hello = tok("Hello world")["input_ids"]
    if len(tok) < len(vocab) or len(hello) != 4:
        raise SystemExit(f"the RoBERTa tokenizer did not load GPT-2's BPE: {len(tok)} tokens, 'Hello world' -> {hello}")
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bpe", required=True, help="folder with encoder.json and vocab.bpe")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    bpe = Path(args.bpe)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tok = roberta(bpe)
    tok.backend_tokenizer.save(str(out / "tokenizer.json"), pretty=False)  # compact: 1.5 MB instead of 3.5
    special = {t: tok.convert_tokens_to_ids(t) for t in ["<s>", "</s>", "<unk>", "<pad>", "<mask>"]}
    expected = {
        "format": FORMAT,
        "versions": {"python": platform.python_version(), "transformers": T.__version__,
                     "tokenizers": tokenizers.__version__},
        "special": special,
        "single": [{"text": t, "ids": tok(t)["input_ids"]} for t in SINGLE],
        "pair": [{"first": a, "second": b, "ids": tok(a, b)["input_ids"]} for a, b in PAIR],
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"special {special}; {len(SINGLE)} texts, {len(PAIR)} pairs")


if __name__ == "__main__":
    main()
