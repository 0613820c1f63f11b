package org.zotune.backend;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * The operations a forward pass is written in. Two implementations: the plain-Java reference
 * ({@code backend.cpu}) and CUDA ({@code backend.cuda}); the reference is the oracle for the kernels.
 * Activations are row-major [rows, cols] in {@link #computeType()}; reductions accumulate in float32.
 */
public interface Ops extends AutoCloseable {

    /** "cpu" or "cuda". */
    String name();

    /** Activation dtype (f32, or bf16 with fp32 accumulation). */
    DType computeType();

    /**
     * Uploads parameters, in order, into one flat buffer of {@code dtype} (256-byte aligned views).
     * Host tensors in any dtype are converted.
     */
    Parameters createParameters(List<HostTensor> tensors, DType dtype);

    /**
     * Parameters of the given [rows, cols] shapes, every value zero, laid out as {@link #createParameters} lays them
     * out (a key/value cache's buffers: nothing to upload, so a backend may clear the memory where it is).
     */
    default Parameters createZeroParameters(int[][] shapes, DType dtype) {
        List<HostTensor> zeros = new ArrayList<>(shapes.length);
        for (int i = 0; i < shapes.length; i++) {
            zeros.add(HostTensor.ofFloats("zeros" + i, new float[Math.multiplyExact(shapes[i][0], shapes[i][1])],
                    shapes[i][0], shapes[i][1]));
        }
        return createParameters(zeros, dtype);
    }

    /** Opens an activation scope: every tensor made until it closes is released when it closes. */
    Scope scope();

    /**
     * Declares that the products made until the returned scope closes may read {@code x} as their input and that x
     * does not change meanwhile (q, k and v of one normed input), so that a backend prepares x once for all of them
     * (CUDA in float32: its 3xTF32 split). The results are those of the products without it; the default does
     * nothing.
     */
    default Scope sharedInput(Tensor x) {
        return () -> { };
    }

    IntTensor ints(int[] values);

    /** out[r] = table[ids[r]]: [ids.length, table.cols]. */
    Tensor embedding(IntTensor ids, Tensor table);

    /** x += y, elementwise (same shape). */
    void addInPlace(Tensor x, Tensor y);

    /** dst ← src (same shape): keeps a value in a tensor that outlives the scope it was computed in. */
    void copy(Tensor dst, Tensor src);

    /** x·wᵀ + bias: x [n, in], w [out, in], bias [1, out] or null. */
    Tensor linear(Tensor x, Tensor w, Tensor bias);

    /**
     * A LoRA-adapted weight W' = W + s·B·A as a new tensor of the compute type: {@code w} W [out, in] in the compute
     * type, {@code b} B [out, r] and {@code at} Aᵀ [in, r] float32 (the adapters train in float32 whatever the base's
     * dtype). Per element, with every intermediate in float32: d = Σ_j fl(s·B[o, j])·Aᵀ[i, j] (j = 0 .. r-1; the
     * reference sums in double and rounds once, a backend may accumulate in float32), then W'[o, i] = fl(W[o, i] + d)
     * rounded once to the compute type. Not a composition of the other ops, which would round B·A to the compute type.
     */
    Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s);

    /**
     * {@link #loraWeight(Tensor, Tensor, Tensor, float)} written into reused memory: the first out·in elements of
     * {@code slot} (a dense tensor of the compute type with at least that many, made once outside any scope) hold
     * W', returned as an [out, in] view of them, bitwise the same values. Nothing is allocated, so a pass that forms
     * one adapted weight at a time (each used before the next is formed) holds one W' however many layers it adapts;
     * on a device the slot's address is fixed and stream order keeps a weight's consumer ahead of its overwriting.
     */
    Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot);

    /**
     * LoRA's skinny product, in place: y += s·(x·Aᵀ)·Bᵀ on the output y = x·Wᵀ (+ bias) of an adapted projection,
     * the adapter applied to the activations instead of merged into W. {@code x} [n, in] and {@code y} [n, out] in
     * the compute type, {@code at} Aᵀ [in, r] and {@code b} B [out, r] float32. Per row, in float32:
     * t_j = Σ_i x[i]·Aᵀ[i, j] (the reference sums in double and rounds once; a backend may accumulate in float32 in
     * its own order), then d_o = Σ_j fl(s·B[o, j])·t_j (j in order) and y[o] = fl(y[o] + d_o) rounded once to the
     * compute type: the float32 factors are never rounded to the compute type.
     */
    void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y);

    /**
     * The LM head, {@code linear(x, w, null)}, for a result that is only read by {@link #crossEntropy},
     * {@link #rows} and {@link #toHost}: backends may keep its rows padded (an odd vocabulary).
     */
    default Tensor logits(Tensor x, Tensor w) {
        return linear(x, w, null);
    }

    /** GELU (tanh) of {@code linear(x, w, bias)}; backends may fuse the bias and activation into one pass. */
    default Tensor linearGeluTanh(Tensor x, Tensor w, Tensor bias) {
        Tensor y = linear(x, w, bias);
        geluTanhInPlace(y);
        return y;
    }

    /** GELU (erf, BERT's) of {@code linear(x, w, bias)}; backends may fuse the bias and activation into one pass. */
    default Tensor linearGeluErf(Tensor x, Tensor w, Tensor bias) {
        Tensor y = linear(x, w, bias);
        geluErfInPlace(y);
        return y;
    }

    /** ReLU of {@code linear(x, w, bias)}; backends may fuse the bias and activation into one pass. */
    default Tensor linearRelu(Tensor x, Tensor w, Tensor bias) {
        Tensor y = linear(x, w, bias);
        reluInPlace(y);
        return y;
    }

    /** residual += linear(x, w, bias); backends may fuse the bias and the addition into one pass. */
    default void addLinearInPlace(Tensor residual, Tensor x, Tensor w, Tensor bias) {
        addInPlace(residual, linear(x, w, bias));
    }

    /**
     * residual += linear(x, w, bias), then returns LayerNorm(residual) (normBias may be null): the pre-norm
     * block boundary. Backends may fuse the bias, the addition and the norm into one pass over the rows;
     * results equal the two separate ops. Under a shadow {@link WeightSource} the four weights are live at
     * once (one matrix, three vectors).
     */
    default Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                      Tensor normBias, float eps) {
        return addLinearLayerNorm(residual, x, w, bias, normWeight, normBias, eps, null);
    }

    /**
     * {@link #addLinearLayerNorm} writing the norm into {@code out} (same shape as the residual; it may be the
     * residual itself, as a post-norm block wants), or into a new tensor when {@code out} is null.
     */
    default Tensor addLinearLayerNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight,
                                      Tensor normBias, float eps, Tensor out) {
        addLinearInPlace(residual, x, w, bias);
        return into(out, layerNorm(residual, normWeight, normBias, eps));
    }

    /**
     * A post-norm block's MLP with BERT's GELU: residual += linear(linearGeluErf(x, up, upBias), down, downBias), then
     * LayerNorm(residual) into {@code out} as {@link #addLinearLayerNorm}. The down weight is asked for (from
     * {@code down}) once the up product has read its own, so a source that holds one matrix at a time serves both;
     * the hidden activation never leaves the op, so a backend may keep it only in the form the down product reads
     * (CUDA in float32: its 3xTF32 split, no float32 copy). The default: those two ops.
     */
    default Tensor addGeluErfMlpLayerNorm(Tensor residual, Tensor x, Tensor up, Tensor upBias, Supplier<Tensor> down,
                                          Tensor downBias, Tensor normWeight, Tensor normBias, float eps,
                                          Tensor out) {
        Tensor h = linearGeluErf(x, up, upBias);
        return addLinearLayerNorm(residual, h, down.get(), downBias, normWeight, normBias, eps, out);
    }

    /** residual += linear(x, w, bias), then returns RMSNorm(residual); see {@link #addLinearLayerNorm}. */
    default Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps) {
        return addLinearRmsNorm(residual, x, w, bias, normWeight, eps, null);
    }

    /** {@link #addLinearRmsNorm} writing the norm into {@code out} (or a new tensor when null). */
    default Tensor addLinearRmsNorm(Tensor residual, Tensor x, Tensor w, Tensor bias, Tensor normWeight, float eps,
                                    Tensor out) {
        addLinearInPlace(residual, x, w, bias);
        return into(out, rmsNorm(residual, normWeight, eps));
    }

    private Tensor into(Tensor out, Tensor value) {
        if (out == null) {
            return value;
        }
        copy(out, value);
        return out;
    }

    Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps);

    Tensor rmsNorm(Tensor x, Tensor weight, float eps);

    /** GELU with the tanh approximation (HF gelu_new), in place. */
    void geluTanhInPlace(Tensor x);

    /** GELU exactly, 0.5·x·(1 + erf(x/√2)) (HF "gelu": BERT, RoBERTa), in place. */
    void geluErfInPlace(Tensor x);

    void reluInPlace(Tensor x);

    /** tanh, in place (BERT's pooler). */
    void tanhInPlace(Tensor x);

    /** silu(gate) * up, elementwise. */
    Tensor siluMul(Tensor gate, Tensor up);

    /**
     * Self-attention with a key padding mask, causal (query t sees keys 0..t) or bidirectional (every key of
     * its sequence) as {@link AttentionSpec#causal()} says. q [B·T, H·D], k and v [B·T, Hkv·D];
     * {@code mask[b·T + t] = 0} hides key t of sequence b. RoPE (rotate-half convention) is applied
     * to q and k at {@code positions} when the spec asks for it. Returns [B·T, H·D]. Query rows whose
     * every visible key is masked produce zeros.
     */
    Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec);

    /**
     * {@link #attention} with q, k and v packed side by side in one activation {@code qkv}
     * [B·T, (H + 2·Hkv)·D] (columns q | k | v, as one fused projection without its bias produces them),
     * plus {@code bias} [(H + 2·Hkv)·D] (or null) added to every row first, rounded to the compute type.
     */
    Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec);

    /**
     * Whether {@link #attentionBiased} takes the q, k and v biases into the attention itself rather than in passes of
     * their own (the GPU's fused kernel: q's as Q loads, v's at the output, k's cancelled by the softmax). The default:
     * false, and the caller adds the biases in its products as always.
     */
    default boolean foldsAttentionBias() {
        return false;
    }

    /**
     * {@link #attention} of q + bq, k + bk, v + bv (each bias one row, added to every row) with q, k and v given
     * without their biases; only called where {@link #foldsAttentionBias}. The result differs from adding the biases
     * first by the roundings of k + bk and v + bv to the compute type (none in float32). q, k and v are the caller's
     * scratch: a backend may add the biases to them in place.
     */
    default Tensor attentionBiased(Tensor q, Tensor k, Tensor v, Tensor bq, Tensor bk, Tensor bv, IntTensor mask,
                                   IntTensor positions, AttentionSpec spec) {
        throw new UnsupportedOperationException(name() + ": attention with its biases folded in is not built");
    }

    /**
     * {@link #attention} with {@code prefix}'s p keys and values prepended to every sequence's own (prefix tuning):
     * visible to every query, unmasked, not rotated (see {@link KvPrefix}). A null prefix is {@link #attention}.
     * Backends without prefix support refuse a non-null one.
     */
    default Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions, AttentionSpec spec,
                             KvPrefix prefix) {
        if (prefix == null) {
            return attention(q, k, v, mask, positions, spec);
        }
        throw new UnsupportedOperationException(name() + ": attention with a key/value prefix is not built");
    }

    /** {@link #attentionPacked} with a key/value prefix, as {@link #attention(Tensor, Tensor, Tensor, IntTensor,
     * IntTensor, AttentionSpec, KvPrefix)}. */
    default Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions, AttentionSpec spec,
                                   KvPrefix prefix) {
        if (prefix == null) {
            return attentionPacked(qkv, bias, mask, positions, spec);
        }
        throw new UnsupportedOperationException(name() + ": attention with a key/value prefix is not built");
    }

    /**
     * Writes what {@link #attention} sees as this call's own keys and values into the key/value cache of generation
     * (read back as a {@link KvPrefix}), a batched cache of {@code stride} rows per sequence ({@code keys},
     * {@code values} [B·stride, Hkv·D], the compute type). k and v are the Hkv·D columns from {@code kCol} /
     * {@code vCol} of their activations (the packed q|k|v one: H·D and (H + Hkv)·D), {@code bias} (or null) the packed
     * bias whose matching columns are added first and rounded as {@link #attentionPacked} adds them; keys are rotated
     * at {@code positions} and rounded exactly as attention rotates them, values copied. Token t of
     * sequence b goes to row b·stride + fixedRows + max(positions[b·T], 0) + t, the rows a per-sequence
     * {@link KvPrefix} shows back. The rows follow from the positions on the device, so a captured graph stores each
     * replay's tokens where they belong. Each sequence's rows must fit its block. Backends without a cache refuse.
     */
    default void storeKeysValues(Tensor k, int kCol, Tensor v, int vCol, Tensor bias, IntTensor positions,
                                 AttentionSpec spec, Tensor keys, Tensor values, int stride, int fixedRows) {
        throw new UnsupportedOperationException(name() + ": a batched key/value cache is not built");
    }

    /**
     * Mean cross-entropy of {@code logits} [n, V] against {@code targets} (length n, -1 = ignored), computed
     * in float32. Returns a [1, 2] float32 tensor (loss sum, count of targets).
     */
    Tensor crossEntropy(Tensor logits, IntTensor targets);

    /** Copies to the host as float32 (synchronises). */
    float[] toHost(Tensor t);

    /** Rows [from, to) of t as a view. */
    Tensor rows(Tensor t, int from, int to);

    @Override
    void close();

    /** Releases what was made inside it. */
    interface Scope extends AutoCloseable {
        @Override
        void close();
    }
}
