package org.zotune.backend;

import java.util.List;
import java.util.function.Supplier;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The one base for wrappers of {@link Ops}: every method, the fused defaults included, goes to the delegate, so
 * a wrapper overrides only what it changes and never drops a backend's fused kernel to the interface's unfused
 * default. ForwardingOpsTest fails when a method of Ops is not declared here, and when a class that wraps an Ops
 * does not extend this. {@link #close()} does not close the delegate: a wrapper does not own the ops it wraps.
 */
public abstract class ForwardingOps implements Ops {
    private final Ops delegate;

    protected ForwardingOps(Ops delegate) {
        if (delegate == null) {
            throw new IllegalArgumentException("ForwardingOps: the delegate is null");
        }
        this.delegate = delegate;
    }

    /** The wrapped ops. */
    protected final Ops delegate() {
        return delegate;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public DType computeType() {
        return delegate.computeType();
    }

    @Override
    public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
        return delegate.createParameters(tensors, dtype);
    }

    @Override
    public Parameters createZeroParameters(int[][] shapes, DType dtype) {
        return delegate.createZeroParameters(shapes, dtype);
    }

    @Override
    public Scope scope() {
        return delegate.scope();
    }

    @Override
    public Scope sharedInput(Tensor x) {
        return delegate.sharedInput(x);
    }

    @Override
    public IntTensor ints(int[] values) {
        return delegate.ints(values);
    }

    @Override
    public Tensor embedding(IntTensor ids, Tensor table) {
        return delegate.embedding(ids, table);
    }

    @Override
    public void addInPlace(Tensor x, Tensor y) {
        delegate.addInPlace(x, y);
    }

    @Override
    public void copy(Tensor dst, Tensor src) {
        delegate.copy(dst, src);
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return delegate.linear(x, w, bias);
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s) {
        return delegate.loraWeight(w, b, at, s);
    }

    @Override
    public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot) {
        return delegate.loraWeight(w, b, at, s, slot);
    }

    @Override
    public void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y) {
        delegate.loraDelta(x, at, b, s, y);
    }

    @Override
    public Tensor logits(Tensor x, Tensor w) {
        return delegate.logits(x, w);
    }

    @Override
    public Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
        return delegate.linearGeluTanh(x, w, bias);
    }

    @Override
    public Tensor linearGeluErf(Tensor x, Tensor w, Tensor bias) {
        return delegate.linearGeluErf(x, w, bias);
    }

    @Override
    public boolean foldsAttentionBias() {
        return delegate.foldsAttentionBias();
    }

    @Override
    public Tensor attentionBiased(Tensor q, Tensor k, Tensor v, Tensor bq, Tensor bk, Tensor bv, IntTensor mask,
                                  IntTensor positions, AttentionSpec spec) {
        return delegate.attentionBiased(q, k, v, bq, bk, bv, mask, positions, spec);
    }

    @Override
    public Tensor linearRelu(Tensor x, Tensor w, Tensor bias) {
        return delegate.linearRelu(x, w, bias);
    }

    @Override
    public void addLinearInPlace(Tensor residual, Tensor x, Tensor w, Tensor bias) {
        delegate.addLinearInPlace(residual, x, w, bias);
    }

    @Override
    public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                     Tensor normBias, float eps) {
        return delegate.addLinearLayerNorm(residual, x, w, bias, normWeight, normBias, eps);
    }

    @Override
    public Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                     Tensor normBias, float eps, Tensor out) {
        return delegate.addLinearLayerNorm(residual, x, w, bias, normWeight, normBias, eps, out);
    }

    @Override
    public Tensor addGeluErfMlpLayerNorm(Tensor residual, Tensor x, Tensor up, Tensor upBias, Supplier<Tensor> down,
                                         Tensor downBias, Tensor normWeight, Tensor normBias, float eps, Tensor out) {
        return delegate.addGeluErfMlpLayerNorm(residual, x, up, upBias, down, downBias, normWeight, normBias, eps,
                out);
    }

    @Override
    public Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps) {
        return delegate.addLinearRmsNorm(residual, x, w, bias, normWeight, eps);
    }

    @Override
    public Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps,
                                   Tensor out) {
        return delegate.addLinearRmsNorm(residual, x, w, bias, normWeight, eps, out);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        return delegate.layerNorm(x, weight, bias, eps);
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        return delegate.rmsNorm(x, weight, eps);
    }

    @Override
    public void geluTanhInPlace(Tensor x) {
        delegate.geluTanhInPlace(x);
    }

    @Override
    public void geluErfInPlace(Tensor x) {
        delegate.geluErfInPlace(x);
    }

    @Override
    public void tanhInPlace(Tensor x) {
        delegate.tanhInPlace(x);
    }

    @Override
    public void reluInPlace(Tensor x) {
        delegate.reluInPlace(x);
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        return delegate.siluMul(gate, up);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        return delegate.attention(q, k, v, mask, positions, spec);
    }

    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec) {
        return delegate.attentionPacked(qkv, bias, mask, positions, spec);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec,
                            KvPrefix prefix) {
        return delegate.attention(q, k, v, mask, positions, spec, prefix);
    }

    @Override
    public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec,
                                  KvPrefix prefix) {
        return delegate.attentionPacked(qkv, bias, mask, positions, spec, prefix);
    }

    @Override
    public void storeKeysValues(Tensor k, int kCol, Tensor v, int vCol, Tensor bias, IntTensor positions,
                                AttentionSpec spec, Tensor keys, Tensor values, int stride, int fixedRows) {
        delegate.storeKeysValues(k, kCol, v, vCol, bias, positions, spec, keys, values, stride, fixedRows);
    }

    @Override
    public Tensor crossEntropy(Tensor logits, IntTensor targets) {
        return delegate.crossEntropy(logits, targets);
    }

    @Override
    public float[] toHost(Tensor t) {
        return delegate.toHost(t);
    }

    @Override
    public Tensor rows(Tensor t, int from, int to) {
        return delegate.rows(t, from, to);
    }

    /** Does not close the delegate (a wrapper does not own it). */
    @Override
    public void close() {
    }
}
