"""SST-2 rows and the k-per-class draw shared by probe.py and backprop_ceiling.py, so that both score the same
examples (imported from the scripts' own folder)."""


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
