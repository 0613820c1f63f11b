package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.cli.BundledModel;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.io.TextCorpus;
import org.zotune.model.CausalLM;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.train.objective.Objective;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * The CPU engine's pass seam (what q &gt; 1 on a GPU uses, {@link CudaForward}): with the passes run elsewhere from the
 * flat host values (here a second CPU backend fed with copies), the engine computes the same losses, projected
 * gradients and weights bit for bit as with its own passes, for both strategies, q = 2 and two micro-batches.
 */
class CpuZoEngineForwardTest {

    /** A pass backend that rebuilds the parameters from the flat values for every pass. */
    private static final class CopyingForward implements CpuZoEngine.Forward {
        final CpuOps ops = new CpuOps(DType.F32);
        final CausalLM model;
        final List<ParamSpec> specs;
        final Objective objective = new CausalLmLoss();
        int passes;

        CopyingForward(CausalLM model) {
            this.model = model;
            this.specs = model.params();
        }

        private Parameters upload(float[] flat, long[] offsets) {
            List<HostTensor> ts = new ArrayList<>();
            for (int p = 0; p < specs.size(); p++) {
                int off = (int) offsets[p];
                int n = (int) specs.get(p).numel();
                ts.add(HostTensor.ofFloats(specs.get(p).name(), java.util.Arrays.copyOfRange(flat, off, off + n),
                        specs.get(p).shape()));
            }
            return ops.createParameters(ts, DType.F32);
        }

        @Override
        public float loss(float[] flat, long[] offsets, List<PromptBatch> microBatches) {
            passes++;
            try (Parameters p = upload(flat, offsets)) {
                float sum = 0f;
                for (PromptBatch b : microBatches) {
                    try (Ops.Scope s = ops.scope()) {
                        sum += objective.loss(ops, model, p, b);
                    }
                }
                return microBatches.size() == 1 ? sum : sum / microBatches.size();
            }
        }

        @Override
        public <R> R evaluate(float[] flat, long[] offsets, ZoEngine.Evaluation<R> evaluation) {
            try (Parameters p = upload(flat, offsets)) {
                return evaluation.run(ops, model, p);
            }
        }

        @Override
        public String device() {
            return "elsewhere";
        }

        @Override
        public void close() {
            ops.close();
        }
    }

    @ParameterizedTest
    @CsvSource({"zo-sgd, shadow, 2, 2", "zo-sgd-mmt, in-place, 2, 1", "zo-adam, shadow, 1, 2"})
    void passesElsewhereGiveTheSameBits(String opt, String strategy, int q, int micro) throws Exception {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        var tok = Tokenizers.forModel(b.model(), b.tokenizer());
        Path text = TrainRuns.austen(Files.createTempDirectory("zo-forward"), "train.txt", 4000);
        List<int[]> chunks = TextCorpus.read(List.of(text), tok, 24, 12).chunks();
        TrainConfig.Optimizer oc = TrainConfig.parse("t", "model: x\ndata: {format: text, train: a}\nout: o\n",
                List.of("optimizer.name=" + opt, "optimizer.lr=1e-4")).optimizer();
        long steps = 3;
        ZoStep.Config sc = new ZoStep.Config(1e-3, q, PerturbationStrategy.parse(strategy), micro, 5, DType.F32, 5);
        NoiseLayout layout = new NoiseLayout(m.model().params());
        CopyingForward fwd = new CopyingForward(m.model());
        try (CpuZoEngine here = new CpuZoEngine(m.model(), m.parameters(), new CausalLmLoss(),
                ZoOptimizers.create(oc, steps, layout), oc.lrSchedule(steps), sc);
                CpuZoEngine there = new CpuZoEngine(m.model(), m.parameters(), new CausalLmLoss(),
                        ZoOptimizers.create(oc, steps, layout), oc.lrSchedule(steps), sc, fwd)) {
            assertEquals("elsewhere", there.device());
            for (int t = 0; t < steps; t++) {
                List<PromptBatch> batches = new ArrayList<>();
                for (int i = 0; i < micro; i++) {
                    int from = 2 * (t * micro + i);
                    batches.add(PromptBatch.ofChunks(chunks.subList(from, from + 2), 0));
                }
                ZoEngine.StepResult x = here.step(batches);
                ZoEngine.StepResult y = there.step(batches);
                assertArrayEquals(x.lossPlus(), y.lossPlus(), "step " + (t + 1));
                assertArrayEquals(x.lossMinus(), y.lossMinus(), "step " + (t + 1));
                assertArrayEquals(x.projectedGradient(), y.projectedGradient(), "step " + (t + 1));
            }
            assertEquals(steps * 2 * q, fwd.passes);
            List<HostTensor> a = here.exportParameters();
            List<HostTensor> c = there.exportParameters();
            for (int p = 0; p < a.size(); p++) {
                assertEquals(a.get(p).bytes(), c.get(p).bytes(), a.get(p).name());
            }
            float ea = here.evaluate((ops, model, w) -> new CausalLmLoss().loss(ops, model, w,
                    PromptBatch.ofChunks(chunks.subList(0, 2), 0)));
            float ec = there.evaluate((ops, model, w) -> new CausalLmLoss().loss(ops, model, w,
                    PromptBatch.ofChunks(chunks.subList(0, 2), 0)));
            assertEquals(ea, ec, 0f);
        }
    }
}
