package org.zotune.backend;

/** Integer data on the backend (token ids, positions, targets, masks); owned by the enclosing scope. */
public interface IntTensor {
    int length();
}
