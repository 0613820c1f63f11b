package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.backend.cuda.DeferredMatrix;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.model.ParamSpec;
import org.zotune.peft.ComposedWeights;
import org.zotune.peft.TrainableStorage;
import org.zotune.peft.TrainedTensors;
import org.zotune.tensor.DType;

/**
 * The shadow strategy's weights (ALGORITHMS.md §2): trainable tensor k as R(θ_k ± εu_k), materialised into scratch
 * right before the model uses it, θ untouched; composed with the frozen weights per model parameter
 * ({@link ComposedWeights}), so it shadows whichever trainable set trains. Owns one scratch slot the size of the
 * largest trainable matrix (embeddings included) and one slot per trainable vector (biases, norm weights: small).
 *
 * <p>A matrix goes to the matrix slot when asked for (valid until the next matrix); the models use a matrix before
 * asking for the next one ({@code ShadowLivenessTest} checks every family). The vectors are all written at once when
 * a pass starts ({@link #plus}, {@link #minus}), by one launch over a table of segments (zo_shadow_segments) instead
 * of one launch per vector (some 245 a pass at RoBERTa-large); they stay valid for the whole pass, micro-batches
 * included.
 *
 * <p>An adapter's own buffer (LoRA: Aᵀ and B, both matrices, live at once in its rule) is small: there every tensor
 * gets a slot of its own, at its offset in a scratch copy of the whole buffer, valid for the whole pass.
 *
 * <p>In float32 with the 3xTF32 products on, a projection matrix is not written at once: the slot is deferred
 * ({@link CudaOps#defer}) and a 3xTF32 product reads its split straight from θ (zo_shadow_split), so the float32
 * copy is neither written nor read; any other reader gets it written first. Bitwise the same products.
 */
public final class ShadowWeights implements AutoCloseable {
    /** Shadow scratch for matrices: one slot, valid until the next matrix is asked for. */
    public static final int MATRIX_SLOTS = 1;
    /** Elements of one segment of the vectors' table at most (a block's work). */
    static final int SEGMENT = 16384;
    /** Bytes of a segment (zo_perturb.cu's struct Segment: source, noise index, destination, length, padding). */
    static final int SEGMENT_BYTES = 32;

    private final CudaOps ops;
    private final ZoKernels kernels;
    private final TrainableStorage storage;
    private final DType dtype;
    private final long m;
    private final int direction;
    /** Whether projection matrices are deferred where the backend takes them (tests switch it off to compare). */
    static boolean deferMatrices = true;

    private final boolean[] vectorRole; // trainable tensor k -> a vector, in its own slot
    private final boolean[] projection; // trainable tensor k is a projection matrix (ParamSpec.Role.MATRIX)
    private final long matrixSlotBytes;
    private final long[] vectorAt; // byte offset of trainable vector k's slot in the scratch
    private final boolean whole; // an adapter's own buffer: tensor k materialised at its own offset
    private final Pass plus = new Pass(+1f);
    private final Pass minus = new Pass(-1f);
    private DeviceBuffer scratch;
    private DeviceBuffer segments; // the vectors' segment table, or null: no trainable vectors (or a whole buffer)
    private int segmentCount;

    /**
     * @param storage   the trainable set and where θ lives (the flat buffer the kernels read)
     * @param frozen    the model's parameters, for the parameters the set does not form
     * @param m         the optimiser's m (its direction reads it), or 0
     * @param direction the optimiser's direction code
     */
    ShadowWeights(CudaOps ops, ZoKernels kernels, TrainableStorage storage, WeightSource frozen, long m,
                  int direction) {
        this.ops = ops;
        this.kernels = kernels;
        this.storage = storage;
        this.dtype = storage.buffer().dtype();
        this.m = m;
        this.direction = direction;
        int n = storage.set().count();
        this.whole = !storage.modelBuffer();
        this.vectorRole = new boolean[n];
        this.projection = new boolean[n];
        this.vectorAt = new long[n];
        long largestMatrix = 0;
        long vectorBytes = 0;
        for (int k = 0; k < n; k++) {
            vectorRole[k] = isVector(storage.set().spec(k));
            projection[k] = storage.set().spec(k).role() == ParamSpec.Role.MATRIX;
            long bytes = storage.tensor(k).numel() * dtype.bytes();
            if (vectorRole[k]) {
                vectorAt[k] = vectorBytes;
                vectorBytes += (bytes + 255) / 256 * 256;
            } else {
                largestMatrix = Math.max(largestMatrix, bytes);
            }
        }
        this.matrixSlotBytes = (largestMatrix + 255) / 256 * 256;
        if (whole) {
            scratch = DeviceBuffer.allocate(Math.max(4, storage.buffer().totalElements() * dtype.bytes()));
        } else if (largestMatrix + vectorBytes > 0) {
            scratch = DeviceBuffer.allocate(MATRIX_SLOTS * matrixSlotBytes + vectorBytes);
            try {
                writeSegments();
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }
        plus.weights = new ComposedWeights(frozen, storage.set(), plus);
        minus.weights = new ComposedWeights(frozen, storage.set(), minus);
    }

    /**
     * The table of zo_shadow_segments: each trainable vector in pieces of at most {@link #SEGMENT} elements, from θ
     * (its noise index from the layout) to its slot after the matrix slot.
     */
    private void writeSegments() {
        List<long[]> rows = new ArrayList<>();
        for (int k = 0; k < vectorRole.length; k++) {
            if (!vectorRole[k]) {
                continue;
            }
            Tensor w = storage.tensor(k);
            long src = CudaTensors.address(w);
            long dst = scratch.address() + MATRIX_SLOTS * matrixSlotBytes + vectorAt[k];
            long noise = storage.set().layout().offset(k);
            for (long e = 0; e < w.numel(); e += SEGMENT) {
                long len = Math.min(SEGMENT, w.numel() - e);
                rows.add(new long[] {src + e * dtype.bytes(), noise + e, dst + e * dtype.bytes(), len});
            }
        }
        segmentCount = rows.size();
        if (segmentCount == 0) {
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(segmentCount * SEGMENT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (long[] r : rows) {
            b.putLong(r[0]).putLong(r[1]).putLong(r[2]).putInt((int) r[3]).putInt(0);
        }
        b.flip();
        segments = DeviceBuffer.allocate(b.remaining());
        try (PinnedBuffer host = PinnedBuffer.allocate(b.remaining())) {
            host.slice(0, b.remaining()).put(b);
            segments.copyFromHost(host.pointer(), 0, segmentCount * SEGMENT_BYTES, ops.stream());
            ops.stream().synchronize();
        }
    }

    /** Biases and norm parameters are vectors, each in its own slot; matrices and embeddings go to the matrix slot. */
    static boolean isVector(ParamSpec spec) {
        return switch (spec.role()) {
            case BIAS, NORM_WEIGHT, NORM_BIAS -> true;
            default -> false;
        };
    }

    /**
     * The weights θ + εu of the SPSA sample whose scalar block is at {@code sampleBlock}: its vectors written now
     * (one launch), its matrices when asked for. Valid until the next {@link #plus} or {@link #minus}.
     */
    WeightSource plus(long sampleBlock) {
        return plus.start(sampleBlock);
    }

    /** The weights θ - εu of that sample, likewise. */
    WeightSource minus(long sampleBlock) {
        return minus.start(sampleBlock);
    }

    /** One sign's trainable tensors: materialised on request. */
    private final class Pass implements TrainedTensors {
        private final float sign;
        private long sampleBlock; // the scalar block of the SPSA sample whose u these weights carry
        private WeightSource weights;

        Pass(float sign) {
            this.sign = sign;
        }

        WeightSource start(long block) {
            sampleBlock = block;
            if (segmentCount > 0) {
                kernels.shadowSegments(dtype, segments.address(), segmentCount, block, m, direction, sign,
                        ops.stream());
            }
            return weights;
        }

        @Override
        public Tensor tensor(int k) {
            Tensor w = storage.tensor(k);
            long slot;
            if (whole) {
                slot = scratch.address() + storage.buffer().offset(storage.entry(k)) * dtype.bytes();
            } else if (vectorRole[k]) { // written when the pass started
                return CudaTensors.view(scratch.address() + MATRIX_SLOTS * matrixSlotBytes + vectorAt[k], w.rows(),
                        w.cols(), dtype);
            } else {
                slot = scratch.address();
            }
            long theta = CudaTensors.address(w);
            long noise = storage.set().layout().offset(k);
            Tensor view = CudaTensors.view(slot, w.rows(), w.cols(), dtype);
            if (deferMatrices && projection[k] && !whole && dtype == DType.F32 && noise % 4 == 0
                    && ops.defers(w.rows(), w.cols())) {
                ops.defer(view, new Deferred(theta, slot, w.rows(), w.cols(), noise, sampleBlock, sign));
                return view;
            }
            if (slot == scratch.address()) {
                ops.forgetDeferred(slot, matrixSlotBytes); // the matrix slot is written now: no deferral stays on it
            }
            kernels.shadow(dtype, theta, slot, w.numel(), noise, sampleBlock, m, direction, sign, ops.stream());
            return view;
        }
    }

    /** A projection matrix R(θ ± εu) of one sample and sign, written when the backend asks (float32 only). */
    private final class Deferred implements DeferredMatrix {
        private final long theta;
        private final long slot;
        private final int rows;
        private final int cols;
        private final long noise;
        private final long sampleBlock;
        private final float sign;

        Deferred(long theta, long slot, int rows, int cols, long noise, long sampleBlock, float sign) {
            this.theta = theta;
            this.slot = slot;
            this.rows = rows;
            this.cols = cols;
            this.noise = noise;
            this.sampleBlock = sampleBlock;
            this.sign = sign;
        }

        @Override
        public void materialize() {
            kernels.shadow(dtype, theta, slot, (long) rows * cols, noise, sampleBlock, m, direction, sign,
                    ops.stream());
        }

        @Override
        public void splitRows(int row0, int count, int loPart, long out) {
            if (row0 < 0 || count < 0 || row0 + count > rows) {
                throw new IndexOutOfBoundsException("rows [" + row0 + ", " + (row0 + count) + ") of " + rows);
            }
            long first = (long) row0 * cols;
            kernels.shadowSplit(theta + first * Float.BYTES, count, cols, noise + first, sampleBlock, m, direction,
                    sign, loPart, out, ops.stream());
        }
    }

    @Override
    public void close() {
        if (segments != null) {
            segments.close();
            segments = null;
        }
        if (scratch != null) {
            ops.forgetDeferred(scratch.address(), scratch.bytes());
            scratch.close();
            scratch = null;
        }
    }
}
