#!/usr/bin/env python3
"""The linear probe of issue 12.7 (run.sh's phase "probe"): logistic regression on the frozen all-MiniLM-L6-v2's
mean-pooled, normalised embeddings, computed by `zotune embed` (one call for every sentence needed), with the
L2 strength C picked on the dev split from a grid; writes WORK/probe.json, which report.py adds to the table.

  ZOTUNE=dist/zotune ZOTUNE_DATA=path/to/shared/data python3 probe.py WORK [DEVICE]   (DEVICE default cuda)

Splits as run.sh's: k = 16, the LM-BFF SST-2 folders of each seed (train 16 per class, dev 16 per class, test the 872
GLUE dev sentences); k = 512, 512 per class for train and 512 per class for dev drawn from GLUE train (or, with
POOL512=sentences as run.sh takes it, the sentence-level SST-2 train) with the seed
(numpy's default_rng; not the same examples as zotune's data.seed draw, the same distribution), test the 872 GLUE
dev sentences. The fit: Newton's method on the mean log-loss + 1/(2·C·n)·|w|² (bias not penalised), 50 iterations at
most, numpy only. Test accuracy is read at the picked C only."""
import json

import numpy as np

from sst2_splits import accuracy, embeddings, fit, k_per_class, pool512, read_tsv, setting

work, device, data, zotune, model, seeds = setting()
GRID = [0.01, 0.1, 1.0, 10.0, 100.0]

splits = {}  # (k, seed) -> (train, dev, test)
glue_test = read_tsv(data / "datasets" / "sst2-glue" / "dev.tsv")
glue_train = pool512(data, "probe.py")
for seed in seeds:
    d = data / "datasets" / "lm-bff-k-shot" / "SST-2" / f"16-{seed}"
    splits[(16, seed)] = (read_tsv(d / "train.tsv"), read_tsv(d / "dev.tsv"), glue_test)
    train, dev = k_per_class(glue_train, 512, np.random.default_rng(seed))
    splits[(512, seed)] = (train, dev, glue_test)

sentences = sorted({s for sp in splits.values() for part in sp for s, _ in part})
vectors = embeddings(zotune, model, sentences, work / "probe", device, True, "probe.py")


def xy(rows):
    x = np.stack([vectors[s] for s, _ in rows])
    return np.hstack([x, np.ones((len(rows), 1))]), np.array([y for _, y in rows], dtype=np.float64)


out = []
for k in (16, 512):
    row = {"task": "SST-2", "k": k, "c": [], "dev": [], "test": []}
    for seed in seeds:
        train, dev, test = (xy(p) for p in splits[(k, seed)])
        scored = [(accuracy(fit(*train, c), *dev), -c, c) for c in GRID]  # ties: the stronger L2
        _, _, c = max(scored)
        w = fit(*train, c)
        row["c"].append(c)
        row["dev"].append(accuracy(w, *dev))
        row["test"].append(accuracy(w, *test))
    row["c"] = "/".join(f"{c:g}" for c in row["c"])
    out.append(row)
    print(f"probe k={k}: C {row['c']}, dev {row['dev']}, test {row['test']}")
(work / "probe.json").write_text(json.dumps(out, indent=1) + "\n")
