package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.dfo.AttentionTargets;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.dfo.Subspace;
import org.zotune.model.Architectures;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.parallel.WorkerFailure;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.ClassificationLoss;
import org.zotune.train.objective.Objective;

/**
 * The division of a dfo generation over replicas on "devices" ({@link PopulationReplicas}, the seam parallel.gpus
 * uses), on the CPU: a stand-in for the device runtime ({@link Where}) keeps each thread's device in a thread local and
 * hands out CPU backends that record every call made while the thread is on another device than theirs. The
 * reference is one {@link BatchedPopulation} over the whole generation (on the CPU a member's loss does not depend on
 * the members sharing its forward: BatchedPopulationTest); tiny random GPT-2, prompt classification.
 */
class PopulationReplicasTest {
    private static final int D = 12;
    private static final ModelConfig GPT2 = new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4, 32, 16, 1e-5,
            ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);

    /** A device runtime stand-in: the calling thread's device, and what happened where. */
    private static final class Devices implements PopulationReplicas.Where {
        final ThreadLocal<Integer> current = ThreadLocal.withInitial(() -> -1);
        final List<String> wrong = Collections.synchronizedList(new ArrayList<>()); // calls off their device
        final List<Integer> closed = Collections.synchronizedList(new ArrayList<>()); // devices of closed backends
        final List<Integer> evaluated = Collections.synchronizedList(new ArrayList<>()); // a generation's uploads
        final List<DType> created = Collections.synchronizedList(new ArrayList<>()); // the backends' compute types
        final List<DType> parameters = Collections.synchronizedList(new ArrayList<>()); // the base weights' dtypes
        int failCreateOn = -1;
        int failOn = -1;
        int hangOn = -1;
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public void use(int device) {
            current.set(device);
        }

        @Override
        public Ops create(DType type) {
            int d = current.get();
            if (d == failCreateOn) {
                throw new IllegalStateException("out of memory");
            }
            created.add(type);
            return new OnDevice(this, new CpuOps(type), d);
        }

        @Override
        public String name(int k, int n, int device) {
            return PopulationReplicas.CUDA.name(k, n, device); // the CUDA replicas' names
        }
    }

    /** A CPU backend "on" one device: records calls made off it, fails or hangs on request. */
    private static final class OnDevice extends ForwardingOps {
        private final Devices devices;
        private final CpuOps cpu;
        private final int device;

        OnDevice(Devices devices, CpuOps cpu, int device) {
            super(cpu);
            this.devices = devices;
            this.cpu = cpu;
            this.device = device;
        }

        private void check(String call) {
            int on = devices.current.get();
            if (on != device) {
                devices.wrong.add(call + " of device " + device + "'s backend on device " + on);
            }
        }

        @Override
        public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
            check("createParameters");
            if (factors(tensors)) {
                devices.evaluated.add(device);
                if (device == devices.failOn) {
                    throw new IllegalStateException("an illegal memory access was encountered");
                }
                if (device == devices.hangOn) {
                    while (true) { // a device call that does not return, deaf to interrupts
                        try {
                            devices.release.await();
                            break;
                        } catch (InterruptedException e) {
                            // keeps waiting, as a stuck kernel would
                        }
                    }
                }
            } else {
                devices.parameters.add(dtype);
            }
            return super.createParameters(tensors, dtype);
        }

        @Override
        public Scope scope() {
            check("scope");
            return super.scope();
        }

        @Override
        public void close() {
            check("close");
            devices.closed.add(device);
            cpu.close();
        }
    }

    /** A generation's low-rank factors (BatchedPopulation names them a and b), not the base weights. */
    private static boolean factors(List<HostTensor> tensors) {
        return !tensors.isEmpty() && tensors.get(0).name().equals("a");
    }

    private record Setup(LanguageModel model, List<HostTensor> weights, Objective objective, PromptBatch train,
            Subspace subspace) {
    }

    private static Setup setup() {
        LanguageModel m = Architectures.createModel(GPT2);
        Random r = new Random(3);
        List<HostTensor> w = new ArrayList<>();
        for (ParamSpec s : m.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.3 * r.nextGaussian());
            }
            w.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        List<EncodedExample> ex = List.of(
                new EncodedExample("a", new int[][] {{3, 4, 5, 6, 7, 8}, {3, 4, 5, 6, 9}}, new int[] {5, 4}, 1),
                new EncodedExample("b", new int[][] {{5, 9, 10}, {5, 9, 3, 4}}, new int[] {2, 2}, 0),
                new EncodedExample("c", new int[][] {{7, 7, 8, 6, 10}, {7, 7, 8, 3, 3, 5}}, new int[] {4, 4}, 1));
        AttentionTargets t = AttentionTargets.of(m);
        double[] scales = new double[t.layers()];
        for (int l = 0; l < scales.length; l++) {
            scales[l] = Subspace.aScale(0.5 + 0.25 * l, 1, D, 0.2);
        }
        return new Setup(m, w, new ClassificationLoss(), PromptBatch.of(ex, 0), Subspace.of(t, D, 2, 9, scales));
    }

    private static double[][] gaussian(Random r, int n, int d) {
        double[][] z = new double[n][d];
        for (double[] row : z) {
            for (int i = 0; i < d; i++) {
                row[i] = r.nextGaussian();
            }
        }
        return z;
    }

    /** Replicas on "devices" {@code ids}, replica 0 made on the calling thread as DfoModelLoss makes it. */
    private static PopulationReplicas replicas(Devices dev, Setup s, int[] ids, List<Ops> firstOps, double timeout) {
        return replicas(dev, s, ids, firstOps, DType.F32, timeout);
    }

    /** The same in compute type {@code type} (the run's dtype), replica 0's weights in it as DfoModelLoss makes them. */
    private static PopulationReplicas replicas(Devices dev, Setup s, int[] ids, List<Ops> firstOps, DType type,
            double timeout) {
        dev.use(ids[0]);
        Ops ops = dev.create(type);
        firstOps.add(ops);
        Parameters p = ops.createParameters(s.weights, type);
        BatchedPopulation first = new BatchedPopulation(ops, s.model, p, s.objective, s.train, s.subspace);
        return new PopulationReplicas(dev, ids, first, s.model, s.weights, s.objective, s.train, s.subspace, type,
                timeout);
    }

    @Test
    void membersAreDividedInBlocksEvaluatedOnTheirDevicesAndGatheredInMemberOrder() {
        Setup s = setup();
        Random r = new Random(11);
        double[][] current = gaussian(r, s.subspace.layers(), D);
        for (int lambda : new int[] {3, 5, 7}) {
            double[][] candidates = gaussian(r, lambda, D);
            double[] whole;
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(s.weights, DType.F32)) {
                whole = new BatchedPopulation(ops, s.model, p, s.objective, s.train, s.subspace)
                        .losses(1, candidates, current);
            }
            for (int i = 1; i < lambda; i++) { // distinct losses: a member gathered out of order would show
                assertNotEquals(whole[0], whole[i]);
            }
            for (int[] ids : new int[][] {{0, 1}, {3, 5, 7}, {2, 2, 2}}) {
                Devices dev = new Devices();
                List<Ops> first = new ArrayList<>();
                try (PopulationReplicas rep = replicas(dev, s, ids, first, 60)) {
                    for (int generation = 0; generation < 2; generation++) {
                        dev.evaluated.clear();
                        dev.use(ids[0]);
                        assertArrayEquals(whole, rep.losses(1, candidates, current),
                                "lambda " + lambda + " over devices " + java.util.Arrays.toString(ids));
                        List<Integer> sorted = new ArrayList<>(dev.evaluated);
                        Collections.sort(sorted);
                        List<Integer> want = new ArrayList<>();
                        for (int id : ids) {
                            want.add(id);
                        }
                        Collections.sort(want);
                        assertEquals(want, sorted, "each replica evaluates one block per generation");
                    }
                    assertEquals(ids[0], dev.current.get(), "the calling thread is left on replica 0's device");
                }
                assertEquals(List.of(), dev.wrong, "every call on its backend's device");
                List<Integer> closed = new ArrayList<>(dev.closed);
                assertEquals(ids.length - 1, closed.size(), "the replicas made here are closed, not replica 0's");
                first.get(0).close();
            }
        }
    }

    /**
     * A bf16 run's replicas compute in bf16 over bf16 weights: the spread generation equals one bf16 population over
     * the whole generation bit for bit (on the CPU a member's loss does not depend on the members sharing its forward,
     * PopulationPrecisionTest), and differs from the float32 one (the dtype reached the replicas).
     */
    @Test
    void bf16ReplicasComputeInBf16AndGiveTheOneBackendLossesBitForBit() {
        Setup s = setup();
        Random r = new Random(12);
        double[][] current = gaussian(r, s.subspace.layers(), D);
        double[][] candidates = gaussian(r, 5, D);
        double[] whole;
        double[] float32;
        try (CpuOps ops = new CpuOps(DType.BF16); Parameters p = ops.createParameters(s.weights, DType.BF16)) {
            whole = new BatchedPopulation(ops, s.model, p, s.objective, s.train, s.subspace)
                    .losses(1, candidates, current);
        }
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(s.weights, DType.F32)) {
            float32 = new BatchedPopulation(ops, s.model, p, s.objective, s.train, s.subspace)
                    .losses(1, candidates, current);
        }
        double rel = 0;
        for (int i = 0; i < whole.length; i++) {
            rel = Math.max(rel, Math.abs(whole[i] - float32[i]) / Math.max(1, Math.abs(float32[i])));
        }
        System.out.printf(java.util.Locale.ROOT, "bf16 replicas: bf16 vs float32 losses max rel %.3g%n", rel);
        assertFalse(java.util.Arrays.equals(whole, float32), "bf16 losses equal the float32 ones");
        Devices dev = new Devices();
        List<Ops> first = new ArrayList<>();
        try (PopulationReplicas rep = replicas(dev, s, new int[] {0, 1, 2}, first, DType.BF16, 60)) {
            dev.use(0);
            assertArrayEquals(whole, rep.losses(1, candidates, current), "5 members over 3 bf16 workers");
        }
        assertEquals(List.of(DType.BF16, DType.BF16, DType.BF16), dev.created, "every replica's backend");
        assertEquals(List.of(DType.BF16, DType.BF16, DType.BF16), dev.parameters, "every replica's base weights");
        assertEquals(List.of(), dev.wrong);
        first.get(0).close();
    }

    @Test
    void aFailingGpuReplicaIsNamedWithItsDevice() {
        Setup s = setup();
        Random r = new Random(4);
        Devices dev = new Devices();
        dev.failOn = 5;
        List<Ops> first = new ArrayList<>();
        try (PopulationReplicas rep = replicas(dev, s, new int[] {4, 5}, first, 60)) {
            WorkerFailure f = assertThrows(WorkerFailure.class,
                    () -> rep.losses(0, gaussian(r, 4, D), gaussian(r, s.subspace.layers(), D)));
            assertEquals(1, f.rank());
            assertEquals("population GPU 1 of 2 (CUDA device 5) failed: an illegal memory access was encountered",
                    f.getMessage());
            assertFalse(rep.abandoned(0));
            assertFalse(rep.abandoned(1));
        }
        assertEquals(List.of(5), dev.closed, "a replica that failed and returned is closed");
        first.get(0).close();
    }

    @Test
    void aHungGpuReplicaIsNamedAndItsMemoryIsNotFreedUnderIt() throws InterruptedException {
        Setup s = setup();
        Random r = new Random(5);
        Devices dev = new Devices();
        dev.hangOn = 7;
        List<Ops> first = new ArrayList<>();
        PopulationReplicas rep = replicas(dev, s, new int[] {0, 6, 7}, first, 0.5);
        WorkerFailure f = assertThrows(WorkerFailure.class,
                () -> rep.losses(0, gaussian(r, 6, D), gaussian(r, s.subspace.layers(), D)));
        assertEquals(2, f.rank());
        assertEquals("population GPU 2 of 3 (CUDA device 7) did not answer within 0.5 s (hung or too slow)",
                f.getMessage());
        assertTrue(rep.abandoned(2));
        assertFalse(rep.abandoned(0));
        rep.close();
        assertEquals(List.of(6), dev.closed, "the hung replica's backend stays open");
        dev.release.countDown();
        first.get(0).close();
    }

    @Test
    void aReplicaThatCannotBeMadeIsNamedAndTheOthersAreClosed() {
        Setup s = setup();
        Devices dev = new Devices();
        dev.failCreateOn = 3;
        List<Ops> first = new ArrayList<>();
        ZotuneException e = assertThrows(ZotuneException.class, () -> replicas(dev, s, new int[] {0, 2, 3}, first,
                60));
        assertEquals("population GPU 2 of 3 (CUDA device 3): its replica of the model could not be made: out of "
                + "memory", e.getMessage());
        assertEquals(List.of(2), dev.closed, "the replica made before is closed");
        assertEquals(0, dev.current.get(), "the calling thread is back on replica 0's device");
        assertEquals(List.of(), dev.wrong);
        first.get(0).close();
    }

    /** parallel.gpus against the devices present (the CLI test sees only this machine's count). */
    @Test
    void moreGpusThanPresentOrThanMembersIsOneLine(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws java.io.IOException {
        String yaml = DfoRunTest.yaml(dir, dir.resolve("run"), "  population: 4", "  subspace: 8");
        TrainConfig three = TrainConfig.parse("t.yaml", yaml, List.of("parallel.gpus=3", "device=cuda"));
        DfoModelLoss.requireGpus(three, 3);
        DfoModelLoss.requireGpus(three, -1);
        assertEquals("parallel.gpus 3: only 2 CUDA devices are present (CUDA_VISIBLE_DEVICES chooses which); use "
                + "parallel.gpus <= 2", assertThrows(ZotuneException.class,
                        () -> DfoModelLoss.requireGpus(three, 2)).getMessage());
        TrainConfig five = TrainConfig.parse("t.yaml", yaml, List.of("parallel.gpus=5", "device=auto"));
        assertEquals("parallel.gpus 5: dfo.population 4 gives some GPU no member; use parallel.gpus <= 4",
                assertThrows(ZotuneException.class, () -> DfoModelLoss.requireGpus(five, 8)).getMessage());
        DfoModelLoss.requireGpus(TrainConfig.parse("t.yaml", yaml, List.of()), 0); // one GPU: nothing to check
    }

    @Test
    void cpuWorkersKeepTheirNames() {
        Setup s = setup();
        Random r = new Random(6);
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(s.weights, DType.F32)) {
            BatchedPopulation first = new BatchedPopulation(ops, s.model, p, s.objective, s.train, s.subspace);
            PopulationReplicas.Where failing = new PopulationReplicas.Where() {
                @Override
                public void use(int device) {
                }

                @Override
                public Ops create(DType type) {
                    return new ForwardingOps(new CpuOps(type)) {
                        @Override
                        public Parameters createParameters(List<HostTensor> tensors, DType dtype) {
                            if (factors(tensors)) {
                                throw new IllegalStateException("no memory");
                            }
                            return super.createParameters(tensors, dtype);
                        }

                        @Override
                        public void close() {
                            delegate().close();
                        }
                    };
                }

                @Override
                public String name(int k, int n, int device) {
                    return PopulationReplicas.CPU.name(k, n, device);
                }
            };
            try (PopulationReplicas rep = new PopulationReplicas(failing, new int[2], first, s.model, s.weights,
                    s.objective, s.train, s.subspace, DType.F32, 60)) {
                WorkerFailure f = assertThrows(WorkerFailure.class,
                        () -> rep.losses(0, gaussian(r, 2, D), gaussian(r, s.subspace.layers(), D)));
                assertEquals("population worker 1 of 2 failed: no memory", f.getMessage());
            }
        }
    }
}
