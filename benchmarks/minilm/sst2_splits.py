"""SST-2 rows and the k-per-class draw shared by probe.py, lpft.py and backprop_ceiling.py, so that they score the same
examples, and the logistic regression of probe.py and lpft.py (imported from the scripts' own folder)."""
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
