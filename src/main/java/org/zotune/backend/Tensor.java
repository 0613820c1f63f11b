package org.zotune.backend;

import org.zotune.tensor.DType;

/**
 * A backend tensor viewed as a row-major matrix [rows, cols] (a vector is [1, n]; activations are
 * [batch·seq, features]). Its memory belongs to the {@link Ops} that made it: activations to the
 * enclosing {@link Ops#scope()}, parameters to their {@link Parameters}.
 */
public interface Tensor {
    int rows();

    int cols();

    DType dtype();

    default long numel() {
        return (long) rows() * cols();
    }
}
