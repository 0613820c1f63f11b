package org.zotune.backend.cuda;

/**
 * A float32 matrix whose values are not written yet: a ZO shadow weight R(θ ± εu) (ShadowWeights). Given to
 * {@link CudaOps#defer} with the tensor that is to hold it, it is written there before any op reads that tensor,
 * except a 3xTF32 product, which asks for its split rows instead: the split is computed from θ directly, and the
 * float32 copy is never written nor read again (two passes over the matrix fewer per product).
 */
public interface DeferredMatrix {
    /** Writes the values into the tensor given to {@link CudaOps#defer}, on the ops' stream. */
    void materialize();

    /**
     * Writes rows [row0, row0 + rows) as 3xTF32 split rows into {@code out} [rows, 3·cols] (Tf32SplitKernels' layout,
     * lo in part {@code loPart}), on the ops' stream: bitwise the split of what {@link #materialize} writes.
     */
    void splitRows(int row0, int rows, int loPart, long out);
}
