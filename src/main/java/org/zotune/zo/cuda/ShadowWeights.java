package org.zotune.zo.cuda;

import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.backend.cuda.CudaTensors;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.model.ParamSpec;
import org.zotune.peft.ComposedWeights;
import org.zotune.peft.TrainableStorage;
import org.zotune.peft.TrainedTensors;
import org.zotune.tensor.DType;

/**
 * The shadow strategy's weights (ALGORITHMS.md §2): trainable tensor k as R(θ_k ± εu_k), materialised into scratch
 * right before the model uses it, θ untouched; composed with the frozen weights per model parameter
 * ({@link ComposedWeights}), so it shadows whichever trainable set trains. Owns one scratch slot the size of the
 * largest trainable matrix (embeddings included) and a ring of {@link #VECTOR_SLOTS} small slots the size of the
 * largest trainable vector (biases, norm weights).
 *
 * <p>A matrix goes to the matrix slot (valid until the next matrix), a vector to the next slot of the vector ring
 * (valid for the next {@code VECTOR_SLOTS - 1} vectors). The models use a matrix before asking for the next one,
 * and hold at most one matrix and three vectors at once (a projection with its bias fused with the following
 * norm's weight and bias); {@code ShadowLivenessTest} checks GPT-2, OPT and Llama against this.
 *
 * <p>An adapter's own buffer (LoRA: Aᵀ and B, both matrices, live at once in its rule) is small: there every tensor
 * gets a slot of its own, at its offset in a scratch copy of the whole buffer, valid for the whole pass.
 */
public final class ShadowWeights implements AutoCloseable {
    /** Shadow scratch for matrices: one slot, valid until the next matrix is asked for. */
    public static final int MATRIX_SLOTS = 1;
    /** Shadow scratch for vectors (biases, norm weights): a vector stays valid for the next VECTOR_SLOTS - 1 vectors. */
    public static final int VECTOR_SLOTS = 4;

    private final CudaOps ops;
    private final ZoKernels kernels;
    private final TrainableStorage storage;
    private final DType dtype;
    private final long m;
    private final int direction;
    private final boolean[] vectorRole; // trainable tensor k -> lives in the vector ring
    private final long matrixSlotBytes;
    private final long vectorSlotBytes;
    private final boolean whole; // an adapter's own buffer: tensor k materialised at its own offset
    private final Pass plus = new Pass(+1f);
    private final Pass minus = new Pass(-1f);
    private DeviceBuffer scratch;
    private int ring;

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
        long largestMatrix = 0;
        long largestVector = 0;
        for (int k = 0; k < n; k++) {
            vectorRole[k] = isVector(storage.set().spec(k));
            long bytes = storage.tensor(k).numel() * dtype.bytes();
            if (vectorRole[k]) {
                largestVector = Math.max(largestVector, bytes);
            } else {
                largestMatrix = Math.max(largestMatrix, bytes);
            }
        }
        this.matrixSlotBytes = (largestMatrix + 255) / 256 * 256;
        this.vectorSlotBytes = (largestVector + 255) / 256 * 256;
        if (whole) {
            scratch = DeviceBuffer.allocate(Math.max(4, storage.buffer().totalElements() * dtype.bytes()));
        } else if (largestMatrix + largestVector > 0) {
            scratch = DeviceBuffer.allocate(MATRIX_SLOTS * matrixSlotBytes + VECTOR_SLOTS * vectorSlotBytes);
        }
        plus.weights = new ComposedWeights(frozen, storage.set(), plus);
        minus.weights = new ComposedWeights(frozen, storage.set(), minus);
    }

    /** Biases and norm parameters go to the vector ring; matrices and embeddings to the matrix slot. */
    static boolean isVector(ParamSpec spec) {
        return switch (spec.role()) {
            case BIAS, NORM_WEIGHT, NORM_BIAS -> true;
            default -> false;
        };
    }

    /** The weights θ + εu of the SPSA sample whose scalar block is at {@code sampleBlock}, from the first vector slot. */
    WeightSource plus(long sampleBlock) {
        return plus.start(sampleBlock);
    }

    /** The weights θ - εu of that sample, from the first vector slot. */
    WeightSource minus(long sampleBlock) {
        return minus.start(sampleBlock);
    }

    /** A new forward pass starts: its first vector goes to the first slot again. */
    void rewind() {
        ring = 0;
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
            ring = 0;
            return weights;
        }

        @Override
        public Tensor tensor(int k) {
            Tensor w = storage.tensor(k);
            long slot;
            if (whole) {
                slot = scratch.address() + storage.buffer().offset(storage.entry(k)) * dtype.bytes();
            } else if (vectorRole[k]) {
                slot = scratch.address() + MATRIX_SLOTS * matrixSlotBytes + (ring % VECTOR_SLOTS) * vectorSlotBytes;
                ring++;
            } else {
                slot = scratch.address();
            }
            kernels.shadow(dtype, CudaTensors.address(w), slot, w.numel(), storage.set().layout().offset(k),
                    sampleBlock, m, direction, sign, ops.stream());
            return CudaTensors.view(slot, w.rows(), w.cols(), dtype);
        }
    }

    @Override
    public void close() {
        if (scratch != null) {
            scratch.close();
            scratch = null;
        }
    }
}
