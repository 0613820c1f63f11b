#!/usr/bin/env python3
"""The linear probe that objective head starts from in run.sh's phase "lpft" (LP-FT: linear probe, then full
fine-tuning; issue 12.7's k = 512): for each seed, SST-2 k = 512 per class drawn as probe.py and backprop_ceiling.py
draw it (sst2_splits.k_per_class with numpy's default_rng(seed); POOL512 glue or sentences as run.sh takes it),
written as the run's own train and dev files, so that the probe and the ZO runs after it see exactly the same
1,024 + 1,024 examples (and backprop_ceiling.py the same too); a logistic regression (sst2_splits.fit, C picked on the
dev file) on `zotune embed`'s mean-pooled, *unnormalised* embeddings (what objective head's mean pooling feeds its
linear layer); and a model folder whose classifier is that probe, for `zotune train --model` with objective head.

  ZOTUNE=dist/zotune ZOTUNE_DATA=path/to/shared/data python3 lpft.py WORK [DEVICE]   (DEVICE default cuda)
  (LPFT_K: per class, default 512; smaller for a quick check on the CPU. LPFT_TASK: sst2, the default, or one of
  LM-BFF's binary single-sentence tasks mr, cr, mpqa, subj: k per class drawn from the whole set less LM-BFF's
  held-out test set, which is the test; sst2_splits.task_rows)

Writes WORK/lpft/s<seed>/{train.tsv,dev.tsv,model/}, WORK/lpft/test.tsv and WORK/lpft.json (per seed: the task, C,
dev and test accuracy of the probe). The folder: config.json (the base's, marked as objective head exports it:
BertForSequenceClassification, num_labels 2, id2label 0/1, zotune_pooling mean), tokenizer.json, and a sharded checkpoint: the base's
model.safetensors linked as body.safetensors, the probe in classifier.safetensors, model.safetensors.index.json
mapping every tensor to its file. The binary probe w·x + b becomes the two-row head W = [-w/2; w/2], b = [-b/2; b/2],
whose softmax is the probe's sigmoid, so the head run's first dev evaluation (step 0) reproduces the probe's dev
accuracy: a check that zotune pools what `zotune embed` pools."""
import json
import os
import struct
import sys

import numpy as np

from sst2_splits import accuracy, embeddings, fit, k_per_class, setting, task_rows

GRID = [0.01, 0.1, 1.0, 10.0, 100.0]
K = int(os.environ.get("LPFT_K", "512"))  # per class; smaller for a quick check
TASK = os.environ.get("LPFT_TASK", "sst2")


def write_tsv(path, rows):
    """GLUE-style SST-2 TSV (zotune's data.format sst2)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for s, y in rows:
            f.write(f"{s}\t{y}\n")


def write_safetensors(path, tensors):
    """A safetensors file of float32 tensors: 8-byte little-endian header length, the JSON header (dtype, shape,
    data_offsets per tensor), then the raw little-endian data in header order."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def tensor_names(path):
    """The tensor names in a safetensors file's header."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return [k for k in json.loads(f.read(n)) if k != "__metadata__"]


def probe_folder(base, out, w):
    """A model folder: the base's tensors and tokenizer, plus the two-row head of the binary probe w (bias last)."""
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((base / "config.json").read_text())
    config.update({"architectures": ["BertForSequenceClassification"], "num_labels": 2,
                   "id2label": {"0": "0", "1": "1"}, "label2id": {"0": 0, "1": 1}, "zotune_pooling": "mean"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer.json").write_bytes((base / "tokenizer.json").read_bytes())
    body = out / "body.safetensors"
    if body.is_symlink() or body.exists():
        body.unlink()
    body.symlink_to((base / "model.safetensors").resolve())
    half = np.asarray(w, dtype=np.float64) / 2
    write_safetensors(out / "classifier.safetensors", {
        "classifier.weight": np.stack([-half[:-1], half[:-1]]).astype(np.float32),
        "classifier.bias": np.array([-half[-1], half[-1]], dtype=np.float32)})
    weight_map = {n: "body.safetensors" for n in tensor_names(body)}
    weight_map.update({"classifier.weight": "classifier.safetensors", "classifier.bias": "classifier.safetensors"})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map},
                                                                 indent=1) + "\n")


def main():
    work, device, data, zotune, model, seeds = setting()
    rows, test, name = task_rows(data, TASK, "lpft.py")
    for label in (0, 1):  # k for training and k more for dev, disjoint (CR has 367 negative sentences)
        have = sum(1 for r in rows if r[1] == label)
        if have < 2 * K:
            sys.exit(f"lpft.py: {name} has {have} sentences of label {label}, fewer than 2 × {K} (train and dev)")
    (work / "lpft").mkdir(parents=True, exist_ok=True)
    write_tsv(work / "lpft" / "test.tsv", test)  # the head runs' test file (zotune's data.format sst2)
    splits = {seed: k_per_class(rows, K, np.random.default_rng(seed)) for seed in seeds}
    sentences = sorted({s for train, dev in splits.values() for part in (train, dev, test) for s, _ in part})
    vectors = embeddings(zotune, model, sentences, work / "lpft", device, False, "lpft.py")

    def xy(part):
        x = np.stack([vectors[s] for s, _ in part])
        return np.hstack([x, np.ones((len(part), 1))]), np.array([y for _, y in part], dtype=np.float64)

    out = []
    for seed, (train, dev) in splits.items():
        d = work / "lpft" / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        write_tsv(d / "train.tsv", train)
        write_tsv(d / "dev.tsv", dev)
        xt, xd, xs = xy(train), xy(dev), xy(test)
        _, _, c = max((accuracy(fit(*xt, c), *xd), -c, c) for c in GRID)  # ties: the stronger L2
        w = fit(*xt, c)
        probe_folder(model, d / "model", w)
        row = {"task": name, "seed": seed, "c": c, "dev": accuracy(w, *xd), "test": accuracy(w, *xs)}
        out.append(row)
        print(f"lpft probe seed {seed}: C {c:g}, dev {row['dev']:.4f}, test {row['test']:.4f}", flush=True)
    (work / "lpft.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
