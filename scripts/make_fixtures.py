#!/usr/bin/env python3
"""Reference fixtures for zotune from Hugging Face transformers.

Writes, under OUT (normally src/test/resources/fixtures):
  tokenizers/expected.json            ids of awkward texts under the GPT-2 and Llama 2 tokenizers
  tokenizers/llama2/tokenizer.json    the Llama 2 tokenizer as transformers builds it from tokenizer.model
  <model>/model/{config.json, model.safetensors}   tiny random-initialised checkpoints (save_pretrained)
  <model>/expected.json, expected.safetensors      inputs, losses and logits computed by transformers
  manifest.json                       the list of models and files (sizes, sha256)
README.md in OUT describes the format (written by hand, not by this script).

Usage: python3 scripts/make_fixtures.py --tokenizers DIR --out DIR
DIR for --tokenizers holds gpt2-bpe/{encoder.json,vocab.bpe} and llama2-32k/tokenizer.model
(the shared data folder's tokenizers/). Needs torch, transformers, tokenizers, safetensors,
sentencepiece; no network. Deterministic: fixed seeds, references computed in float32 on the CPU
with eager attention.
"""

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import transformers
import tokenizers
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "zotune-fixture-v1"
TOKENIZER_FORMAT = "zotune-tokenizer-fixture-v1"
GENERATOR = "scripts/make_fixtures.py"
NUM_COLUMNS = 64
BIG_VOCAB = 4096  # above this, full logit rows only at the last real position of the single sequence

TOKENIZER_TEXTS = [
    "Hello world",
    " Hello world",
    "Hello world  ",
    "multiple   spaces    between\twords",
    "line one\nline two\n\nline four\n",
    "\ttabs\tand\t\ttabs",
    "digits 1234567890, 3.14159 and 1,000,000",
    "Punctuation!? (yes) [no] {maybe} -- \"quoted\" 'single' ... ;: @#$%^&*",
    "It's, don't, we'll, I'M, they've",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00c5ngstr\u00f6m Stra\u00dfe",
    "\u4e2d\u6587\u5b57\u7b26\u6d4b\u8bd5\uff0c\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\ud55c\uad6d\uc5b4",
    "emoji \U0001F600\U0001F44D\U0001F3FD and \u2764\ufe0f and \U0001F1EB\U0001F1F7",
    "before<|endoftext|>after <|endoftext|>",
    "<s> starts and </s> ends <unk>",
    "",
    "   ",
    "\n",
    "https://example.com/path?q=a&b=c#frag",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]

# Model inputs from text: one sequence, and a batch of three of different lengths.
SINGLE_TEXT = "The quick brown fox jumps over the lazy dog, then naps under an old oak tree."
BATCH_TEXTS = [
    "Hello there!",
    "Zeroth-order methods estimate gradients from forward passes only, so memory stays low.",
    "Caf\u00e9 au lait, s'il vous pla\u00eet.",
]
# Random-id models: lengths of the single sequence and of the batch rows.
RANDOM_SINGLE_LEN = 16
RANDOM_BATCH_LENS = [5, 16, 11]


def log(*args):
    print(*args, flush=True)


def header():
    return {
        "format": FORMAT,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "python": platform.python_version(),
        "generator": GENERATOR,
    }


# ----------------------------------------------------------------------------------------------
# Tokenizers


def build_tokenizers(src: Path, work: Path):
    """The GPT-2 and Llama 2 tokenizers as transformers builds them from the original files."""
    gdir = work / "gpt2"
    gdir.mkdir(parents=True)
    shutil.copyfile(src / "gpt2-bpe" / "encoder.json", gdir / "vocab.json")
    shutil.copyfile(src / "gpt2-bpe" / "vocab.bpe", gdir / "merges.txt")
    gcls = getattr(transformers, "GPT2TokenizerFast", None) or transformers.GPT2Tokenizer
    gpt2 = gcls.from_pretrained(str(gdir))

    ldir = work / "llama2"
    ldir.mkdir(parents=True)
    shutil.copyfile(src / "llama2-32k" / "tokenizer.model", ldir / "tokenizer.model")
    lcls = getattr(transformers, "LlamaTokenizerFast", None) or transformers.LlamaTokenizer
    # Llama 2's tokenizer_config.json says add_bos_token true, add_eos_token false; a bare
    # tokenizer.model does not carry that, so say it here.
    llama = lcls.from_pretrained(str(ldir), add_bos_token=True, add_eos_token=False)
    if len(gpt2) != 50257 or len(llama) != 32000:
        raise SystemExit(f"unexpected vocab sizes: gpt2 {len(gpt2)}, llama {len(llama)}")
    if llama("Hello")["input_ids"][0] != 1:
        raise SystemExit("llama tokenizer does not add BOS")
    return gpt2, llama


def write_tokenizer_fixtures(gpt2, llama, src: Path, out: Path):
    import sentencepiece as spm

    tdir = out / "tokenizers"
    (tdir / "llama2").mkdir(parents=True, exist_ok=True)
    tok_json = tdir / "llama2" / "tokenizer.json"
    # Compact JSON (the pretty form is 2.5x larger); same content as save_pretrained's tokenizer.json.
    llama.backend_tokenizer.save(str(tok_json), pretty=False)
    reloaded = tokenizers.Tokenizer.from_file(str(tok_json))
    sp = spm.SentencePieceProcessor(model_file=str(src / "llama2-32k" / "tokenizer.model"))

    cases = []
    disagree_json = 0
    for name, tok in (("gpt2", gpt2), ("llama2", llama)):
        for text in TOKENIZER_TEXTS:
            ids = tok(text)["input_ids"]
            case = {
                "tokenizer": name,
                "text": text,
                "ids": ids,
                "ids_no_special": tok(text, add_special_tokens=False)["input_ids"],
                "tokens": tok.convert_ids_to_tokens(ids),
                "decoded": tok.decode(ids, skip_special_tokens=True),
            }
            if name == "llama2":
                json_ids = reloaded.encode(text).ids
                case["tokenizer_json_agrees"] = json_ids == ids
                disagree_json += json_ids != ids
                # For information: SentencePiece itself (BOS added as transformers does). transformers 5
                # differs from it on some whitespace runs; the fixture's ids are transformers'.
                case["sentencepiece_ids"] = [1] + sp.encode(text)
            cases.append(case)
    if disagree_json:
        log(f"WARNING: saved tokenizer.json disagrees with transformers on {disagree_json} texts")
    doc = {
        "format": TOKENIZER_FORMAT,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "generator": GENERATOR,
        "settings": {
            "gpt2": {"class": type(gpt2).__name__, "built_from": "gpt2-bpe/encoder.json as vocab.json, vocab.bpe as merges.txt",
                     "add_bos_token": bool(getattr(gpt2, "add_bos_token", False)), "vocab_size": len(gpt2)},
            "llama2": {"class": type(llama).__name__, "built_from": "llama2-32k/tokenizer.model",
                       "add_bos_token": True, "add_eos_token": False, "vocab_size": len(llama),
                       "tokenizer_json": "llama2/tokenizer.json"},
        },
        "cases": cases,
    }
    write_json(tdir / "expected.json", doc)
    n_sp = sum(1 for c in cases if c["tokenizer"] == "llama2" and c["sentencepiece_ids"] != c["ids"])
    log(f"tokenizers: {len(cases)} cases; llama2 ids differ from sentencepiece on {n_sp} texts")


# ----------------------------------------------------------------------------------------------
# Models


def perturb(model, seed, stds=(0.2, 0.05)):
    """Moves every parameter off its default (LayerNorm ones/zeros, zero biases) by seeded noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied parameters appear once
            std = stds[0] if p.dim() == 1 else stds[1]
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * std)


def model_specs(gpt2_tok, llama_tok):
    """Each entry: name, class, config, storage dtype, how to make inputs."""
    T = transformers
    # Sizes are small so that the fixtures stay a few MB with real 32k/50k vocabularies.
    return [
        dict(name="gpt2", cls=T.GPT2LMHeadModel, dtype=torch.float32, seed=1001,
             config=T.GPT2Config(vocab_size=50257, n_embd=8, n_layer=2, n_head=2, n_positions=64,
                                 activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                 initializer_range=0.3, tie_word_embeddings=True,
                                 bos_token_id=50256, eos_token_id=50256),
             inputs="text", tokenize=lambda s: gpt2_tok(s)["input_ids"], pad_id=50256),
        dict(name="opt-pre", cls=T.OPTForCausalLM, dtype=torch.float16, seed=1002,
             config=T.OPTConfig(vocab_size=50272, hidden_size=16, ffn_dim=40, num_hidden_layers=2,
                                num_attention_heads=4, max_position_embeddings=64, do_layer_norm_before=True,
                                word_embed_proj_dim=16, activation_function="relu", enable_bias=True,
                                init_std=0.3, tie_word_embeddings=True,
                                pad_token_id=1, bos_token_id=2, eos_token_id=2),
             # OPT's tokenizer is GPT-2's BPE with </s> (2) prepended; this model is random, so GPT-2's
             # ids stand in for OPT's re-ordered vocabulary.
             inputs="text", tokenize=lambda s: [2] + gpt2_tok(s, add_special_tokens=False)["input_ids"], pad_id=1),
        dict(name="opt-post", cls=T.OPTForCausalLM, dtype=torch.float32, seed=1003,
             config=T.OPTConfig(vocab_size=1000, hidden_size=16, ffn_dim=40, num_hidden_layers=2,
                                num_attention_heads=4, max_position_embeddings=64, do_layer_norm_before=False,
                                word_embed_proj_dim=8, activation_function="relu", enable_bias=True,
                                init_std=0.3, tie_word_embeddings=True,
                                pad_token_id=1, bos_token_id=2, eos_token_id=2),
             inputs="random", pad_id=1),
        dict(name="llama-gqa", cls=T.LlamaForCausalLM, dtype=torch.bfloat16, seed=1004,
             config=T.LlamaConfig(vocab_size=32000, hidden_size=16, intermediate_size=40, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                  rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                                  initializer_range=0.3, bos_token_id=1, eos_token_id=2),
             inputs="text", tokenize=lambda s: llama_tok(s)["input_ids"], pad_id=0),
        dict(name="llama3-rope", cls=T.LlamaForCausalLM, dtype=torch.float32, seed=1005,
             # head_dim 32 with theta 5e5: frequency 0 keeps its value (wavelength < 32/4), frequency 1
             # is interpolated (8..32), the rest are divided by 8 (> 32): all three llama3 branches.
             config=T.LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=48, num_hidden_layers=2,
                                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                                  rms_norm_eps=1e-6, rope_theta=500000.0,
                                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                                  tie_word_embeddings=True, initializer_range=0.1,
                                  bos_token_id=1, eos_token_id=2),
             # initializer_range 0.1 (not 0.3): with 0.3 the logits reach |x| ~ 12 and transformers' own
             # bf16 forward lands 3-4.5e-2 from its f32 one, so no bf16 implementation could meet 3e-2.
             inputs="random", pad_id=0, perturb_std=(0.1, 0.02),
             # Real Llama 3 checkpoints spell RoPE as top-level rope_theta + rope_scaling; transformers 5
             # writes rope_parameters. This fixture keeps the checkpoint spelling (llama-gqa keeps 5's).
             classic_rope=True),
    ]


def make_inputs(spec, rng):
    """[(case name, padding, sequences)] with sequences as lists of ids."""
    if spec["inputs"] == "text":
        single = [spec["tokenize"](SINGLE_TEXT)]
        batch = [spec["tokenize"](t) for t in BATCH_TEXTS]
        texts_single, texts_batch = [SINGLE_TEXT], list(BATCH_TEXTS)
    else:
        v = spec["config"].vocab_size
        single = [[rng.randrange(3, v) for _ in range(RANDOM_SINGLE_LEN)]]
        batch = [[rng.randrange(3, v) for _ in range(n)] for n in RANDOM_BATCH_LENS]
        texts_single, texts_batch = None, None
    return [("single", "none", single, texts_single),
            ("right", "right", batch, texts_batch),
            ("left", "left", batch, texts_batch)]


def pad(seqs, side, pad_id):
    t = max(len(s) for s in seqs)
    ids, mask = [], []
    for s in seqs:
        n = t - len(s)
        if side == "left":
            ids.append([pad_id] * n + s)
            mask.append([0] * n + [1] * len(s))
        else:
            ids.append(s + [pad_id] * n)
            mask.append([1] * len(s) + [0] * n)
    return ids, mask


def choose_columns(vocab, seqs_all, rng):
    cols = {0, 1, 2, 3, vocab - 2, vocab - 1}
    for seqs in seqs_all:
        for s in seqs:
            for i in s:
                if len(cols) < NUM_COLUMNS - 16:
                    cols.add(i)
    while len(cols) < NUM_COLUMNS:
        cols.add(rng.randrange(vocab))
    return sorted(cols)


def classic_rope_config(path: Path):
    cfg = json.loads(path.read_text())
    rp = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rp.pop("rope_theta")
    cfg["rope_scaling"] = rp
    path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def build_model(spec, mdir: Path):
    torch.manual_seed(spec["seed"])
    model = spec["cls"](spec["config"])
    perturb(model, spec["seed"] + 7, spec.get("perturb_std", (0.2, 0.05)))
    model = model.to(spec["dtype"])
    model.save_pretrained(str(mdir))
    for extra in os.listdir(mdir):
        if extra not in ("config.json", "model.safetensors"):
            os.remove(mdir / extra)
    if spec.get("classic_rope"):
        classic_rope_config(mdir / "config.json")
    # The reference runs on exactly the stored weights, read back and widened to float32.
    ref = spec["cls"].from_pretrained(str(mdir), dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    stored = {k: v.float() for k, v in model.state_dict().items()}
    for k, v in ref.state_dict().items():
        if k in stored and not torch.equal(stored[k], v):
            raise SystemExit(f"{spec['name']}: reloaded tensor {k} differs from the saved one")
    if spec.get("classic_rope"):
        rp = ref.config.rope_parameters
        want = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 32, "rope_theta": 500000.0}
        got = {k: rp.get(k) for k in want}
        if got != want:
            raise SystemExit(f"{spec['name']}: rope parameters read back as {rp}")
    return ref


def bf16_self_error(ref, ids, mask):
    """max|a - b| / max|b| between transformers' own bf16 forward (weights rounded to bf16) and its f32 one on
    the real positions: what a correct bf16 implementation can be expected to reach."""
    import copy
    low = copy.deepcopy(ref).to(torch.bfloat16)
    input_ids = torch.tensor(ids, dtype=torch.long)
    attn = torch.tensor(mask, dtype=torch.long)
    with torch.no_grad():
        a = low(input_ids=input_ids, attention_mask=attn).logits.float()
        b = ref(input_ids=input_ids, attention_mask=attn).logits.float()
    m = attn.bool()
    return float((a[m] - b[m]).abs().max() / b[m].abs().max())


def run_case(ref, ids, mask):
    input_ids = torch.tensor(ids, dtype=torch.long)
    attn = torch.tensor(mask, dtype=torch.long)
    labels = input_ids.clone()
    labels[attn == 0] = -100
    # Variant that also drops targets predicted from a padding position (left padding: the first real
    # token). Their logits come from a query with no visible key, which implementations treat differently.
    labels_real = labels.clone()
    labels_real[:, 1:][attn[:, :-1] == 0] = -100
    with torch.no_grad():
        out = ref(input_ids=input_ids, attention_mask=attn, labels=labels)
        out_real = ref(input_ids=input_ids, attention_mask=attn, labels=labels_real)
    logits = out.logits.float()
    if not torch.equal(logits, out_real.logits.float()):
        raise SystemExit("logits changed between two identical forward passes")
    n = int((labels[:, 1:] != -100).sum())
    n_real = int((labels_real[:, 1:] != -100).sum())
    return logits, float(out.loss), n, float(out_real.loss), n_real


def write_model_fixture(spec, out: Path, rng):
    name = spec["name"]
    mdir = out / name / "model"
    mdir.mkdir(parents=True, exist_ok=True)
    ref = build_model(spec, mdir)
    vocab = spec["config"].vocab_size

    with safe_open(str(mdir / "model.safetensors"), framework="pt") as f:
        tensors = []
        for k in f.keys():
            sl = f.get_slice(k)
            tensors.append({"name": k, "shape": list(sl.get_shape()), "dtype": sl.get_dtype()})
    tensors.sort(key=lambda t: t["name"])

    cases_in = make_inputs(spec, rng)
    columns = choose_columns(vocab, [c[2] for c in cases_in], rng)
    col_index = torch.tensor(columns, dtype=torch.long)
    arrays = {}
    cases = []
    for case_name, padding, seqs, texts in cases_in:
        ids, mask = pad(seqs, padding if padding != "none" else "right", spec["pad_id"])
        logits, loss, n, loss_real, n_real = run_case(ref, ids, mask)
        b, t, v = logits.shape
        assert v == vocab
        m = torch.tensor(mask, dtype=torch.bool)
        cols = logits[:, :, col_index].clone()
        cols[~m] = float("nan")  # padding positions are not part of the reference
        arrays[f"{case_name}.columns"] = cols.contiguous()
        positions = []
        for bi in range(b):
            real = [ti for ti in range(t) if mask[bi][ti]]
            if vocab <= BIG_VOCAB:
                positions += [[bi, real[0]], [bi, real[-1]]]
            elif case_name == "single":
                positions.append([bi, real[-1]])
        if positions:
            arrays[f"{case_name}.rows"] = torch.stack([logits[bi, ti] for bi, ti in positions]).contiguous()
        case = {
            "name": case_name,
            "padding": padding,
            "batch": b,
            "seq": t,
            "input_ids": ids,
            "attention_mask": mask,
            "loss": loss,
            "loss_targets": n,
            "loss_real": loss_real,
            "loss_real_targets": n_real,
            "columns_tensor": f"{case_name}.columns",
            "rows_tensor": f"{case_name}.rows" if positions else None,
            "row_positions": positions,
            "max_abs_logit": float(logits[m].abs().max()),
            "hf_bf16_rel_error": bf16_self_error(ref, ids, mask),
        }
        if texts is not None:
            case["texts"] = texts
        cases.append(case)
        log(f"{name}/{case_name}: {b}x{t} loss {loss:.6f} ({n} targets), real-input loss {loss_real:.6f} "
            f"({n_real}), max|logit| {case['max_abs_logit']:.4f}, transformers bf16 vs f32 "
            f"{case['hf_bf16_rel_error']:.2e}")

    meta = {k: str(v) for k, v in header().items()}
    save_file(arrays, str(out / name / "expected.safetensors"), metadata=meta)
    doc = dict(header())
    doc.update({
        "model": name,
        "hf_class": spec["cls"].__name__,
        "model_dir": "model",
        "storage_dtype": str(spec["dtype"]).replace("torch.", ""),
        "compute": {"dtype": "float32", "device": "cpu", "attn_implementation": "eager"},
        "seed": spec["seed"],
        "vocab_size": vocab,
        "inputs": spec["inputs"],
        "pad_id": spec["pad_id"],
        "parameter_count": sum(p.numel() for p in ref.parameters()),
        "tensors": tensors,
        "columns": columns,
        "cases": cases,
    })
    write_json(out / name / "expected.json", doc)


# ----------------------------------------------------------------------------------------------


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256(path: Path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizers", required=True, type=Path,
                    help="folder with gpt2-bpe/ and llama2-32k/ (shared data's tokenizers/)")
    ap.add_argument("--out", required=True, type=Path, help="output folder (src/test/resources/fixtures)")
    ap.add_argument("--only", nargs="*", help="model names to make (default: all)")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # fixed reduction order on the CPU
    args.out.mkdir(parents=True, exist_ok=True)
    log("header", json.dumps(header()))
    with tempfile.TemporaryDirectory() as work:
        gpt2_tok, llama_tok = build_tokenizers(args.tokenizers, Path(work))
        write_tokenizer_fixtures(gpt2_tok, llama_tok, args.tokenizers, args.out)
        models = []
        for spec in model_specs(gpt2_tok, llama_tok):
            if args.only and spec["name"] not in args.only:
                continue
            write_model_fixture(spec, args.out, random.Random(spec["seed"]))
            models.append(spec["name"])

    files = []
    for p in sorted(args.out.rglob("*")):
        if p.is_file() and p.name != "manifest.json" and p.name != "README.md":
            files.append({"path": p.relative_to(args.out).as_posix(), "bytes": p.stat().st_size,
                          "sha256": sha256(p)})
    if args.only and (args.out / "manifest.json").is_file():
        # A partial run keeps the models made before (their files are listed below as they are on disk).
        before = json.loads((args.out / "manifest.json").read_text(encoding="utf-8"))["models"]
        models = before + [m for m in models if m not in before]
    manifest = dict(header())
    manifest.update({"models": models, "tokenizer_fixture": "tokenizers/expected.json", "files": files})
    write_json(args.out / "manifest.json", manifest)
    total = sum(f["bytes"] for f in files)
    log(f"wrote {len(files)} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
