"""SST-2 rows (and, for lpft.py, LM-BFF's binary single-sentence tasks') and the k-per-class draw shared by probe.py,
lpft.py and backprop_ceiling.py, so that they score the same examples, and what probe.py and lpft.py share besides:
their command line and environment, the k = 512 pool, `zotune embed`'s vectors, the logistic regression (imported
from the scripts' own folder)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def read_tsv(path):
    """(sentence, label) rows of a GLUE/LM-BFF SST-2 TSV with a header naming its "sentence" and "label" columns, or
    of a sentence-level file of "label sentence" lines (../shared/data/datasets/sst2-sentences/stsa.binary.*)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        first = f.readline().rstrip("\n")
        if first[:2] in ("0 ", "1 "):
            for line in [first] + f.read().splitlines():
                if line.strip():
                    rows.append((line[2:].strip(), int(line[0])))
            return rows
        head = first.split("\t")
        si, li = head.index("sentence"), head.index("label")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows.append((parts[si].strip(), int(parts[li])))
    return rows


def k_per_class(rows, k, rng):
    """k rows per label (0, then 1) for training and k more for a k-shot dev, disjoint: 2k indices drawn per label
    without replacement from numpy Generator `rng` (consumed in that order), the first k for training."""
    train, dev = [], []
    for label in (0, 1):
        idx = [i for i, r in enumerate(rows) if r[1] == label]
        pick = rng.choice(len(idx), size=2 * k, replace=False)
        train += [rows[idx[i]] for i in pick[:k]]
        dev += [rows[idx[i]] for i in pick[k:]]
    return train, dev


def fit(x, y, c):
    """Binary logistic regression: Newton's method on the mean log-loss + 1/(2·C·n)·|w|², x's last column the bias
    (not penalised), 50 iterations at most. Returns w (bias last)."""
    n, d = x.shape
    w = np.zeros(d)
    reg = np.full(d, 1.0 / (c * n))
    reg[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        g = x.T @ (p - y) / n + reg * w
        h = (x * (p * (1 - p))[:, None]).T @ x / n + np.diag(reg) + 1e-10 * np.eye(d)
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w


def accuracy(w, x, y):
    """Fraction of rows whose sign of x·w matches the 0/1 label y."""
    return float(np.mean(((x @ w) > 0).astype(np.float64) == y))


def setting():
    """(work, device, data, zotune, model, seeds) of a script called as `SCRIPT.py WORK [DEVICE]` with ZOTUNE and
    ZOTUNE_DATA in the environment; the seeds are run.sh's plan.json's, else 13, 21, 42."""
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "target/minilm")
    device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
    root = Path(__file__).resolve().parents[2]
    data = Path(os.environ.get("ZOTUNE_DATA", root.parent / "shared" / "data"))
    zotune = os.environ.get("ZOTUNE", str(root / "zotune"))
    seeds = [int(s) for s in json.loads((work / "plan.json").read_text())["seeds"].split()] \
        if (work / "plan.json").exists() else [13, 21, 42]
    return work, device, data, zotune, data / "models" / "all-MiniLM-L6-v2", seeds


def pool512(data, script):
    """The rows k = 512 is drawn from, as POOL512 (run.sh's variable) names them: glue (GLUE's SST-2 train.tsv, the
    default) or sentences (the sentence-level SST-2 training set)."""
    pool = os.environ.get("POOL512", "glue")
    if pool not in ("glue", "sentences"):
        sys.exit(f"{script}: POOL512 must be glue or sentences, not {pool}")
    return read_tsv(data / "datasets" / ("sst2-glue/train.tsv" if pool == "glue"
                                         else "sst2-sentences/stsa.binary.train"))


# LM-BFF's single-sentence binary tasks: the whole set in "label sentence" lines, and the test set LM-BFF holds out
SENTENCE_TASKS = {"mr": ("mr/rt-polarity.all", "MR"), "cr": ("cr/custrev.all", "CR"),
                  "mpqa": ("mpqa/mpqa.all", "MPQA"), "subj": ("subj/subj.all", "Subj")}


def read_lm_bff_csv(path):
    """(sentence, label) rows of an LM-BFF k-shot CSV of a single-sentence task (label,sentence; quoted as csv)."""
    import csv
    with open(path, encoding="utf-8", newline="") as f:
        return [(r[1].strip(), int(r[0])) for r in csv.reader(f) if r]


def task_rows(data, task, script):
    """(pool, test, name) of a k = 512 draw for `task`: sst2 is pool512's pool with the 872 GLUE dev sentences as
    test; mr, cr, mpqa and subj are their whole set less LM-BFF's held-out test set
    (lm-bff-k-shot/<TASK>/16-13/test.csv, the same file for every seed), which is the test."""
    if task == "sst2":
        return pool512(data, script), read_tsv(data / "datasets" / "sst2-glue" / "dev.tsv"), "SST-2"
    if task not in SENTENCE_TASKS:
        sys.exit(f"{script}: the task must be sst2, " + ", ".join(SENTENCE_TASKS) + f", not {task}")
    whole, name = SENTENCE_TASKS[task]
    test = read_lm_bff_csv(data / "datasets" / "lm-bff-k-shot" / task / "16-13" / "test.csv")
    raw = (data / "datasets" / whole).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # mr and subj are Latin-1 (zotune's readers fall back so too)
        text = raw.decode("latin-1")
    rows = [(line[2:].strip(), int(line[0])) for line in text.split("\n") if line.strip()]  # NEL is no line end here

    def key(sentence):  # LM-BFF's CSVs garble the few non-ASCII letters: compare without them
        return "".join(c for c in sentence if c < "\x80")
    held = {key(s) for s, _ in test}
    pool = [r for r in rows if key(r[0]) not in held]
    return pool, test, name


def embeddings(zotune, model, sentences, folder, device, normalize, script):
    """sentence -> float64 vector: `zotune embed --pooling mean` (with --normalize when asked) of every sentence, one
    call, its output kept in folder/embeddings.jsonl and reused while it has a line per sentence."""
    folder.mkdir(parents=True, exist_ok=True)
    text, emb = folder / "sentences.txt", folder / "embeddings.jsonl"
    text.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    if not emb.exists() or sum(1 for _ in open(emb, encoding="utf-8")) != len(sentences):
        r = subprocess.run([zotune, "embed", "--model", str(model), "--text-file", str(text), "--pooling", "mean",
                            *(["--normalize"] if normalize else []), "--out", str(emb), "--device", device],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{script}: zotune embed failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    with open(emb, encoding="utf-8") as f:
        vectors = {s: np.asarray(json.loads(line)["embedding"], dtype=np.float64) for s, line in zip(sentences, f)}
    if len(vectors) != len(sentences):
        sys.exit(f"{script}: {emb} has {len(vectors)} embeddings for {len(sentences)} sentences")
    return vectors
