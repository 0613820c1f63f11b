package org.zotune.backend;

import java.util.List;
import org.zotune.tensor.DType;

/**
 * A model's parameters in one flat buffer per dtype (views 256-byte aligned, in the model's order),
 * so that one kernel launch can cover every parameter. Owns its memory.
 */
public interface Parameters extends WeightSource, AutoCloseable {
    int count();

    DType dtype();

    /** Element offset of parameter i in the flat buffer. */
    long offset(int index);

    /** Total elements in the flat buffer, padding included. */
    long totalElements();

    List<Tensor> views();

    @Override
    void close();
}
