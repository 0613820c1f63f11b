package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.optim.AdaMuSchedule;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoSgd;
import org.zotune.zo.optim.ZoStep;

/**
 * Device memory of ZO training against inference (the point of zeroth-order fine-tuning): free memory from
 * cudaMemGetInfo before creating anything and while everything of one mode is held after two steps (the activation
 * arena keeps its high-water mark), on a random ~21M-parameter Llama. ZO-SGD needs no optimiser state; ZO-AdaMU
 * one float32 vector (m), ZO-Adam two; the shadow strategy adds two scratch slots of the largest tensor.
 */
@Tag("gpu")
class DeviceZoStepMemoryTest {
    private static final DType D = DType.F32;

    private static ModelConfig config() {
        return new ModelConfig(ModelFamily.LLAMA, 8000, 512, 4, 8, 8, 64, 1376, 256, 1e-5, ModelConfig.Activation.SILU,
                false, true, true, 512, 10000, null, false, false, 1, 2, -1);
    }

    private static List<HostTensor> parameters(CausalLM m) {
        Random r = new Random(5);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : m.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = norm ? 1f : (float) (0.02 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    private static Batch batch() {
        Random r = new Random(6);
        int[][] seqs = new int[4][128];
        for (int[] s : seqs) {
            for (int i = 0; i < s.length; i++) {
                s[i] = r.nextInt(8000);
            }
        }
        return Batch.rightPadded(seqs, 0);
    }

    /** Device bytes in use while the mode's objects are held (null optimiser: one inference forward and loss). */
    private static long used(CausalLM m, List<HostTensor> host, ZoOptimizerConfig opt, PerturbationStrategy s) {
        Cuda.synchronizeDevice();
        long base = Cuda.memInfo()[0];
        Batch b = batch();
        try (CudaOps ops = CudaOps.create(D); Parameters p = ops.createParameters(host, D)) {
            if (opt == null) {
                try (Ops.Scope sc = ops.scope()) {
                    ops.toHost(ops.crossEntropy(m.forward(ops, p, b), ops.ints(NextTokenTargets.of(b))));
                    Cuda.synchronizeDevice();
                    return base - Cuda.memInfo()[0];
                }
            }
            try (DeviceZoStep e = new DeviceZoStep(ops, m, p, opt, new ZoStep.Config(1e-3, 1, s, 1, 5, D, 1))) {
                e.submit(b, NextTokenTargets.of(b));
                e.submit(b, NextTokenTargets.of(b));
                e.drain();
                Cuda.synchronizeDevice();
                return base - Cuda.memInfo()[0];
            }
        }
    }

    /** Milliseconds per step (median of 15 after 3 warm-up steps), printed only: no timing assertions. */
    private static double msPerStep(CausalLM m, List<HostTensor> host, ZoOptimizerConfig opt, PerturbationStrategy s,
                                    boolean graph) {
        Batch b = batch();
        try (CudaOps ops = CudaOps.create(D); Parameters p = ops.createParameters(host, D);
             DeviceZoStep e = new DeviceZoStep(ops, m, p, opt, new ZoStep.Config(1e-3, 1, s, 1, 5, D, 1))
                     .useGraph(graph)) {
            double[] ms = new double[15];
            for (int i = -3; i < ms.length; i++) {
                long t0 = System.nanoTime();
                e.submit(b, NextTokenTargets.of(b));
                e.drain();
                if (i >= 0) {
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
            }
            java.util.Arrays.sort(ms);
            return ms[ms.length / 2];
        }
    }

    @Test
    void stepTimes() {
        ZoGpu.assumeGpu();
        CausalLM m = Architectures.create(config());
        List<HostTensor> host = parameters(m);
        ZoOptimizerConfig sgd = new ZoSgd.Config(LrSchedule.constant(1e-6));
        ZoOptimizerConfig adamu = new ZoAdaMu.Config(LrSchedule.constant(1e-5), AdaMuSchedule.defaults(100));
        System.out.printf("zo step times, random Llama 21M f32, batch 4x128 (ms, synchronous steps): zo-sgd in-place"
                + " graph %.3f, eager %.3f; zo-sgd shadow graph %.3f, eager %.3f; zo-adamu shadow graph %.3f,"
                + " in-place graph %.3f%n",
                msPerStep(m, host, sgd, PerturbationStrategy.IN_PLACE, true),
                msPerStep(m, host, sgd, PerturbationStrategy.IN_PLACE, false),
                msPerStep(m, host, sgd, PerturbationStrategy.SHADOW, true),
                msPerStep(m, host, sgd, PerturbationStrategy.SHADOW, false),
                msPerStep(m, host, adamu, PerturbationStrategy.SHADOW, true),
                msPerStep(m, host, adamu, PerturbationStrategy.IN_PLACE, true));
    }

    @Test
    void zeroOrderTrainingCostsLittleMoreThanInference() {
        ZoGpu.assumeGpu();
        String old = System.getProperty("zotune.cuda.arenaChunkMiB");
        System.setProperty("zotune.cuda.arenaChunkMiB", "4"); // fine-grained arena: measure what is used
        try {
            CausalLM m = Architectures.create(config());
            List<HostTensor> host = parameters(m);
            long elements = 0;
            long largest = 0;
            for (ParamSpec s : m.params()) {
                elements += s.numel();
                largest = Math.max(largest, s.numel());
            }
            used(m, host, null, null); // warm-up: cuBLAS and the modules load once per context
            long inference = used(m, host, null, null);
            long sgdShadow = used(m, host, new ZoSgd.Config(LrSchedule.constant(1e-6)), PerturbationStrategy.SHADOW);
            long sgdInPlace = used(m, host, new ZoSgd.Config(LrSchedule.constant(1e-6)), PerturbationStrategy.IN_PLACE);
            long adamu = used(m, host, new ZoAdaMu.Config(LrSchedule.constant(1e-5), AdaMuSchedule.defaults(100)),
                    PerturbationStrategy.SHADOW);
            long adam = used(m, host, new ZoAdam.Config(LrSchedule.constant(1e-5)), PerturbationStrategy.SHADOW);
            long adamBf16 = used(m, host, new ZoAdam.Config(LrSchedule.constant(1e-5), 0.9, 0.999, 1e-8, 0.0,
                    DType.BF16), PerturbationStrategy.SHADOW);
            long mib = 1 << 20;
            System.out.printf("zo memory, random Llama %.1fM parameters f32 (%d MiB), batch 4x128, used device MiB: "
                    + "inference %d, zo-sgd in-place %d, zo-sgd shadow %d, zo-adamu shadow %d, zo-adam shadow %d"
                    + " (state vector %d MiB, shadow scratch %d MiB)%n", elements / 1e6, 4 * elements / mib,
                    inference / mib, sgdInPlace / mib, sgdShadow / mib, adamu / mib, adam / mib, 4 * elements / mib,
                    2 * 4 * largest / mib);
            long state = 4 * elements;
            assertTrue(Math.abs(adamu - sgdShadow - state) < state / 4, "ZO-AdaMU adds one state vector");
            assertTrue(Math.abs(adam - sgdShadow - 2 * state) < state / 4, "ZO-Adam adds two state vectors");
            assertTrue(sgdInPlace - inference < state / 4, "in-place ZO-SGD needs no state and no scratch");
            System.out.printf("zo memory: zo-adam shadow with bf16 state %d MiB%n", adamBf16 / mib);
            assertTrue(Math.abs(adamBf16 - sgdShadow - state) < state / 4, "ZO-Adam with bf16 state: two half vectors");
        } finally {
            if (old == null) {
                System.clearProperty("zotune.cuda.arenaChunkMiB");
            } else {
                System.setProperty("zotune.cuda.arenaChunkMiB", old);
            }
        }
    }
}
