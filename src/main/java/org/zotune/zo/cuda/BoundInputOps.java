package org.zotune.zo.cuda;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The CUDA ops as a forward pass sees them inside the engine: everything is delegated, except that while
 * inputs are bound, the k-th {@code ints(...)} call of a forward returns the k-th persistent device tensor
 * (whose values the engine rewrites before each graph replay) instead of uploading a graph constant.
 */
final class BoundInputOps implements Ops {
    private final Ops ops;
    private List<IntTensor> bound;
    private int next;

    BoundInputOps(Ops ops) {
        this.ops = ops;
    }

    /** Binds the inputs (null: plain uploads) and starts a new forward pass at the first of them. */
    void bind(List<IntTensor> inputs) {
        this.bound = inputs;
        this.next = 0;
    }

    /** A new forward pass starts: its first ints() call gets the first bound input again. */
    void rewind() {
        next = 0;
    }

    @Override
    public IntTensor ints(int[] values) {
        if (bound == null) {
            return ops.ints(values);
        }
        if (next >= bound.size() || bound.get(next).length() != values.length) {
            throw new ZotuneException("the forward pass created int input " + next + " of length " + values.length
                    + " but its dry run recorded " + (next < bound.size() ? "length " + bound.get(next).length()
                    : bound.size() + " inputs") + ": the model's inputs must depend on the batch only");
        }
        return bound.get(next++);
    }

    @Override
    public String name() {
        return ops.name();
    }

    @Override
    public DType computeType() {
        return ops.computeType();
    }

    @Override
    public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
        return ops.createParameters(tensors, dtype);
    }

    @Override
    public Scope scope() {
        return ops.scope();
    }

    @Override
    public Tensor embedding(IntTensor ids, Tensor table) {
        return ops.embedding(ids, table);
    }

    @Override
    public void addInPlace(Tensor x, Tensor y) {
        ops.addInPlace(x, y);
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        ops.copy(dst, src);
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return ops.linear(x, w, bias);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        return ops.layerNorm(x, weight, bias, eps);
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        return ops.rmsNorm(x, weight, eps);
    }

    @Override
    public void geluTanhInPlace(Tensor x) {
        ops.geluTanhInPlace(x);
    }

    @Override
    public void reluInPlace(Tensor x) {
        ops.reluInPlace(x);
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        return ops.siluMul(gate, up);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        return ops.attention(q, k, v, mask, positions, spec);
    }

    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        return ops.attentionPacked(qkv, bias, mask, positions, spec);
    }

    @Override
    public Tensor logits(Tensor x, Tensor w) {
        return ops.logits(x, w);
    }

    @Override
    public Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
        return ops.linearGeluTanh(x, w, bias);
    }

    @Override
    public void addLinearInPlace(Tensor residual, Tensor x, Tensor w, Tensor bias) {
        ops.addLinearInPlace(residual, x, w, bias);
    }

    @Override
    public Tensor crossEntropy(Tensor logits, IntTensor targets) {
        return ops.crossEntropy(logits, targets);
    }

    @Override
    public float[] toHost(Tensor t) {
        return ops.toHost(t);
    }

    @Override
    public Tensor rows(Tensor t, int from, int to) {
        return ops.rows(t, from, to);
    }

    @Override
    public void close() {
        // the engine does not own the ops
    }
}
