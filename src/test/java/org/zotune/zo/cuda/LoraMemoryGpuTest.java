package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.peft.Lora;
import org.zotune.peft.TrainableStorage;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoStep;

/**
 * Device memory of the LoRA step at gpt2-774M's shapes (36 layers, hidden 1280; bf16 base, 16×128 tokens, r 8 on
 * c_attn, float32 A and B, ZO-SGD, captured graph) against the full-parameter step and inference, each measured as
 * cudaMemGetInfo's free memory before the ops are made minus free memory after two steps (parameters, activation
 * arena in 4 MiB chunks, scratch, optimiser state, graph), all from one baseline taken after a warm-up cycle. W' lives in one slot
 * the size of c_attn (about 9.8 MB) instead of one per layer (36 × 9.8 MB before): a LoRA step must hold no more
 * than the full step under the default (shadow) strategy, and no more than inference + the adapters + 5 % under
 * either strategy. Prints every number. Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class LoraMemoryGpuTest {
    private static final int RANK = 8;

    private static ModelConfig gpt2774M() {
        int hidden = 1280;
        return new ModelConfig(ModelFamily.GPT2, 50257, hidden, 36, 20, 20, hidden / 20, 4 * hidden, 1024, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, hidden, 0, null, true, true, 50256, 50256, -1);
    }

    /** Zeros (ones for norm weights) from two shared host slices: no model-sized host arrays. */
    private static List<HostTensor> weights(CausalLM lm) {
        long largest = 1;
        for (ParamSpec p : lm.params()) {
            largest = Math.max(largest, p.numel());
        }
        ByteBuffer zeros = ByteBuffer.allocateDirect(Math.toIntExact(2 * largest));
        ByteBuffer ones = ByteBuffer.allocateDirect(Math.toIntExact(2 * largest)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < largest; i++) {
            ones.putShort(DType.floatToBf16(1f));
        }
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec p : lm.params()) {
            ByteBuffer src = p.role() == ParamSpec.Role.NORM_WEIGHT ? ones : zeros;
            out.add(new HostTensor(p.name(), DType.BF16, p.shape(), src.slice(0, Math.toIntExact(2 * p.numel()))));
        }
        return out;
    }

    private static Batch batch(int vocab) {
        Random r = new Random(5);
        int[][] ids = new int[16][128];
        for (int[] row : ids) {
            for (int t = 0; t < row.length; t++) {
                row[t] = r.nextInt(vocab);
            }
        }
        return Batch.rightPadded(ids, 0);
    }

    private enum Run { INFERENCE, FULL, LORA, LORA_SKINNY }

    /** Device bytes held while the run's objects are alive (baseline free minus free after two steps). */
    private static long used(Run run, PerturbationStrategy strategy, CausalLM lm, List<HostTensor> host, Batch batch,
                             long baseline) {
        Lora lora = Lora.of(ModelFamily.GPT2.architecture(), "gpt2", lm.params(), RANK, 2.0 * RANK, List.of("q", "v"));
        try (CudaOps ops = CudaOps.create(DType.BF16); Parameters params = ops.createParameters(host, DType.BF16)) {
            if (run == Run.INFERENCE) {
                try (Ops.Scope s = ops.scope()) {
                    ops.toHost(ops.crossEntropy(lm.forward(ops, params, batch), ops.ints(NextTokenTargets.of(batch))));
                    Cuda.synchronizeDevice();
                    return baseline - Cuda.memInfo()[0];
                }
            }
            ZoStep.Config f = new ZoStep.Config(1e-3, 1, strategy, 1, 5, run == Run.FULL ? DType.BF16 : DType.F32, 1);
            ZoSgd.Config sgd = new ZoSgd.Config(LrSchedule.constant(1e-6));
            if (run == Run.FULL) {
                try (DeviceZoStep z = new DeviceZoStep(ops, lm, params, sgd, f)) {
                    return steps(z, batch, baseline);
                }
            }
            try (Lora.Applied applied = lora.apply(ops, run == Run.LORA ? Lora.Path.MERGE : Lora.Path.SKINNY);
                 Parameters own = ops.createParameters(lora.initial(1), DType.F32);
                 DeviceZoStep z = new DeviceZoStep(ops, lm, params, TrainableStorage.own(applied.set(), own), sgd, f)) {
                return steps(z, batch, baseline);
            }
        }
    }

    private static long steps(DeviceZoStep z, Batch batch, long baseline) {
        for (int i = 0; i < 2; i++) {
            z.submit(batch, NextTokenTargets.of(batch));
            z.drain();
        }
        Cuda.synchronizeDevice();
        return baseline - Cuda.memInfo()[0];
    }

    @Test
    void aLoraStepHoldsNoMoreThanTheFullStep() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        CausalLM lm = Architectures.create(gpt2774M());
        List<HostTensor> host = weights(lm);
        Batch batch = batch(lm.config().vocabSize());
        Lora lora = Lora.of(ModelFamily.GPT2.architecture(), "gpt2", lm.params(), RANK, 2.0 * RANK, List.of("q", "v"));
        long adapterBytes = 4 * lora.tensors().stream().mapToLong(ParamSpec::numel).sum();
        String old = System.getProperty("zotune.cuda.arenaChunkMiB");
        System.setProperty("zotune.cuda.arenaChunkMiB", "4"); // fine-grained arena: measure what is used
        try {
            // a warm-up cycle: cuBLAS and the kernel module load into the context once
            Cuda.synchronizeDevice();
            used(Run.LORA, PerturbationStrategy.SHADOW, lm, host, batch, Cuda.memInfo()[0]);
            Cuda.synchronizeDevice();
            long baseline = Cuda.memInfo()[0];
            long inference = used(Run.INFERENCE, null, lm, host, batch, baseline);
            long fullShadow = used(Run.FULL, PerturbationStrategy.SHADOW, lm, host, batch, baseline);
            long fullInPlace = used(Run.FULL, PerturbationStrategy.IN_PLACE, lm, host, batch, baseline);
            long loraShadow = used(Run.LORA, PerturbationStrategy.SHADOW, lm, host, batch, baseline);
            long loraInPlace = used(Run.LORA, PerturbationStrategy.IN_PLACE, lm, host, batch, baseline);
            long skinny = used(Run.LORA_SKINNY, PerturbationStrategy.SHADOW, lm, host, batch, baseline);
            System.out.printf("gpt2-774M shapes, bf16, 16x128, ZO-SGD, graph: device MiB held: inference %d, full"
                            + " shadow %d, full in-place %d, LoRA r=%d q,v merge shadow %d, merge in-place %d, skinny"
                            + " shadow %d (adapters %.2f MiB)%n", inference >> 20, fullShadow >> 20, fullInPlace >> 20,
                    RANK, loraShadow >> 20, loraInPlace >> 20, skinny >> 20, adapterBytes / 1048576.0);
            long bound = (long) (1.05 * inference) + adapterBytes;
            for (long[] c : new long[][] {{loraShadow, 0}, {loraInPlace, 1}, {skinny, 2}}) {
                String what = new String[] {"LoRA merge shadow", "LoRA merge in-place", "LoRA skinny shadow"}[(int) c[1]];
                assertTrue(c[0] <= fullShadow, what + " step " + c[0] + " B vs the full shadow step " + fullShadow);
                assertTrue(c[0] <= bound, what + " step " + c[0] + " B vs inference + adapters + 5 % " + bound);
            }
        } finally {
            if (old == null) {
                System.clearProperty("zotune.cuda.arenaChunkMiB");
            } else {
                System.setProperty("zotune.cuda.arenaChunkMiB", old);
            }
        }
    }
}
