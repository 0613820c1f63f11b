package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.LanguageModel;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * A dry run of a model's forward pass that does no device work: every op returns a shape-only tensor, and the
 * int inputs the forward creates ({@code ops.ints}: ids, mask, positions, ...) are recorded in call order.
 * A captured graph froze those inputs' device addresses; before each replay the engine writes the values a
 * dry run on the new batch produced into them, so the model code stays the only place that derives inputs
 * from a batch.
 */
final class InputRecorder extends ForwardingOps {
    private final List<int[]> ints = new ArrayList<>();

    private InputRecorder(DType computeType) {
        super(new ShapeOps(computeType));
    }

    /** The values of every {@code ops.ints} call of {@code model.forward} on {@code batch}, in order. */
    static List<int[]> record(LanguageModel model, Batch batch, Parameters params, DType computeType) {
        return record(model, batch, params, computeType, DeviceLoss.MODEL_FORWARD);
    }

    /** The same for the forward a device loss reads ({@link DeviceLoss#forward}). */
    static List<int[]> record(LanguageModel model, Batch batch, Parameters params, DType computeType,
                              DeviceLoss.Forward forward) {
        InputRecorder r = new InputRecorder(computeType);
        WeightSource shapes = i -> {
            Tensor w = params.weight(i);
            return new ShapeOps.Shape(w.rows(), w.cols(), computeType);
        };
        forward.run(r, model, shapes, batch);
        return r.ints;
    }

    /**
     * The values of every {@code ops.ints} call of a cached forward, {@code model.forward(…, batch, starts)}, over
     * {@code weights}' shapes (a generation's decode step; the cache creates no int inputs of its own).
     */
    static List<int[]> record(CausalLM model, Batch batch, int[] starts, WeightSource weights, DType computeType) {
        InputRecorder r = new InputRecorder(computeType);
        WeightSource shapes = i -> {
            Tensor w = weights.weight(i);
            return new ShapeOps.Shape(w.rows(), w.cols(), computeType);
        };
        model.forward(r, shapes, batch, starts);
        return r.ints;
    }

    @Override
    public IntTensor ints(int[] values) {
        ints.add(values.clone());
        return super.ints(values);
    }

    /**
     * Ops that do no work: every op returns a tensor of the right shape (the fused ops through the interface's
     * defaults, which give the same shapes).
     */
    private static final class ShapeOps implements Ops {
        private record Shape(int rows, int cols, DType dtype) implements Tensor {
        }

        private record Ints(int length) implements IntTensor {
        }

        private final DType computeType;

        ShapeOps(DType computeType) {
            this.computeType = computeType;
        }

        private Shape shape(int rows, int cols) {
            return new Shape(rows, cols, computeType);
        }

        @Override
        public String name() {
            return "dry-run";
        }

        @Override
        public DType computeType() {
            return computeType;
        }

        @Override
        public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
            throw new ZotuneException("a dry run cannot create parameters");
        }

        @Override
        public Scope scope() {
            return () -> { };
        }

        @Override
        public IntTensor ints(int[] values) {
            return new Ints(values.length);
        }

        @Override
        public Tensor embedding(IntTensor ids, Tensor table) {
            return shape(ids.length(), table.cols());
        }

        @Override
        public void addInPlace(Tensor x, Tensor y) {
        }

        @Override
        public void copy(Tensor dst, Tensor src) {
        }

        @Override
        public Tensor linear(Tensor x, Tensor w, Tensor bias) {
            return shape(x.rows(), w.rows());
        }

        @Override
        public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s) {
            return shape(w.rows(), w.cols());
        }

        @Override
        public Tensor loraWeight(Tensor w, Tensor b, Tensor at, float s, Tensor slot) {
            return shape(w.rows(), w.cols());
        }

        @Override
        public void loraDelta(Tensor x, Tensor at, Tensor b, float s, Tensor y) {
        }

        @Override
        public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
            return shape(x.rows(), x.cols());
        }

        @Override
        public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
            return shape(x.rows(), x.cols());
        }

        @Override
        public void geluTanhInPlace(Tensor x) {
        }

        @Override
        public void geluErfInPlace(Tensor x) {
        }

        @Override
        public void tanhInPlace(Tensor x) {
        }

        @Override
        public void reluInPlace(Tensor x) {
        }

        @Override
        public Tensor siluMul(Tensor gate, Tensor up) {
            return shape(gate.rows(), gate.cols());
        }

        @Override
        public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor positions,
                                AttentionSpec spec) {
            return shape(spec.batch() * spec.seq(), spec.numHeads() * spec.headDim());
        }

        @Override
        public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor positions,
                                      AttentionSpec spec) {
            return shape(spec.batch() * spec.seq(), spec.numHeads() * spec.headDim());
        }

        @Override
        public Tensor crossEntropy(Tensor logits, IntTensor targets) {
            return new Shape(1, 2, DType.F32);
        }

        @Override
        public float[] toHost(Tensor t) {
            throw new ZotuneException("a dry run has no values to read back");
        }

        @Override
        public Tensor rows(Tensor t, int from, int to) {
            return new Shape(to - from, t.cols(), t.dtype());
        }

        @Override
        public void close() {
        }
    }
}
