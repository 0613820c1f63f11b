package org.zotune.train.objective;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.data.batch.PromptEncoder;
import org.zotune.data.io.TableReader;
import org.zotune.data.prompt.Templates;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;

/**
 * The objectives are backend-neutral: on the CUDA backend (float32) they give the CPU reference's values for the real
 * stories260K model. Skips itself when no CUDA backend is usable.
 */
@Tag("gpu")
class ObjectivesGpuTest {

    private static Ops cudaOrSkip() {
        try {
            return Backends.create("cuda", DType.F32);
        } catch (ZotuneException | LinkageError e) {
            Assumptions.abort("no usable CUDA backend: " + e.getMessage());
            return null;
        }
    }

    @Test
    void cudaMatchesCpu() {
        LoadedModel model = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        Llama2cTokenizer tok = Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
        Dataset dev = TableReader.sst2(TestData.file("datasets/sst2-glue/dev.tsv"), ReadOptions.STRICT);
        PromptEncoder enc = new PromptEncoder(tok, 512);
        List<EncodedExample> cls = enc.encode(dev.withExamples("dev", dev.examples().subList(0, 16)),
                Templates.builtin("sst2"));
        List<EncodedExample> lm = new ArrayList<>();
        lm.add(enc.encodeLanguageModel(new Example("a:1", Map.of("prompt", "Once upon a time,", "completion",
                " there was a little girl named Lily."), -1, List.of())));
        PromptBatch clsBatch = PromptBatch.of(cls, enc.padId());
        PromptBatch lmBatch = PromptBatch.of(lm, enc.padId());
        List<Objective> objectives = List.of(new ClassificationLoss(), new CausalLmLoss(), new NegativeAccuracy(),
                new NegativeF1());
        float[] cpu = new float[8];
        float[] gpu = new float[8];
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            for (int i = 0; i < 4; i++) {
                cpu[i] = objectives.get(i).loss(ops, model.model(), p, clsBatch);
            }
            cpu[4] = new CausalLmLoss().loss(ops, model.model(), p, lmBatch);
        }
        try (Ops ops = cudaOrSkip(); Parameters p = ops.createParameters(model.parameters(), DType.F32)) {
            for (int i = 0; i < 4; i++) {
                gpu[i] = objectives.get(i).loss(ops, model.model(), p, clsBatch);
            }
            gpu[4] = new CausalLmLoss().loss(ops, model.model(), p, lmBatch);
        }
        for (int i = 0; i < 5; i++) {
            String what = i < 4 ? objectives.get(i).name() : "lm (prompt + completion)";
            System.out.printf("%-26s cpu %.6f cuda %.6f%n", what, cpu[i], gpu[i]);
            assertEquals(cpu[i], gpu[i], 1e-4 + 1e-4 * Math.abs(cpu[i]), what);
        }
    }
}
