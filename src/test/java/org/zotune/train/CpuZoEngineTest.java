package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.BundledModel;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.io.TextCorpus;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.train.config.Optimizer;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.zo.noise.NoiseLayout;
import org.zotune.zo.optim.LrSchedule;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoStep;

/**
 * The CPU engine against the reference {@link ZoStep}: on stories260K with real text, the same losses, projected
 * gradients and final weights, bit for bit (the engine drives the optimiser itself only to be resumable).
 */
class CpuZoEngineTest {

    @ParameterizedTest
    @CsvSource({"zo-adamu, shadow, 1, 1", "zo-sgd, in-place, 2, 2", "zo-adam, shadow, 1, 2"})
    void engineMatchesZoStep(String opt, String strategy, int q, int micro) throws Exception {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        var tok = Tokenizers.forModel(b.model(), b.tokenizer());
        java.nio.file.Path text = TrainRuns.austen(java.nio.file.Files.createTempDirectory("zo-engine"),
                "train.txt", 4000);
        List<int[]> chunks = TextCorpus.read(List.of(text), tok, 24, 8).chunks();
        List<PromptBatch> batches = new ArrayList<>();
        for (int i = 0; i < micro; i++) {
            batches.add(PromptBatch.ofChunks(chunks.subList(2 * i, 2 * i + 2), 0));
        }
        Optimizer oc = TrainConfig.parse("t", "model: x\ndata: {format: text, train: a}\nout: o\n",
                List.of("optimizer.name=" + opt, "optimizer.lr=1e-4")).optimizer();
        long steps = 4;
        ZoStep.Config sc = new ZoStep.Config(1e-3, q, PerturbationStrategy.parse(strategy), micro, 5, DType.F32, 99);
        LrSchedule lr = oc.lrSchedule(steps);

        NoiseLayout layout = new NoiseLayout(m.model().params());
        CausalLmLoss objective = new CausalLmLoss();
        float[][] theta = new float[layout.count()][];
        for (int p = 0; p < theta.length; p++) {
            theta[p] = m.parameters().get(p).toFloats();
        }
        ZoStep ref = new ZoStep(sc, ZoOptimizers.create(oc, steps, layout), theta);
        List<ParamSpec> specs = m.model().params();
        try (CpuOps ops = new CpuOps();
             CpuZoEngine engine = new CpuZoEngine(m.model(), m.parameters(), objective,
                     ZoOptimizers.create(oc, steps, layout), lr, sc)) {
            for (int t = 1; t <= steps; t++) {
                ZoStep.Result r = ref.step((th, mb) -> {
                    List<HostTensor> hs = new ArrayList<>();
                    for (int p = 0; p < th.length; p++) {
                        hs.add(HostTensor.ofFloats(specs.get(p).name(), th[p], specs.get(p).shape()));
                    }
                    try (Parameters params = ops.createParameters(hs, DType.F32)) {
                        return objective.loss(ops, m.model(), params, batches.get(mb));
                    }
                });
                ZoEngine.StepResult e = engine.step(batches);
                assertArrayEquals(r.lossPlus(), e.lossPlus(), "l+ at step " + t);
                assertArrayEquals(r.lossMinus(), e.lossMinus(), "l- at step " + t);
                assertArrayEquals(r.projectedGradient(), e.projectedGradient(), "g at step " + t);
                assertEquals(r.skipped(), e.skipped());
            }
            List<HostTensor> out = engine.exportParameters();
            for (int p = 0; p < theta.length; p++) {
                assertArrayEquals(theta[p], out.get(p).toFloats(), specs.get(p).name());
            }
        }
    }
}
