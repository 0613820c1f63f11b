package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The builder's prefix(tokens) and workers(n): the same record as the YAML keys they name, and a prefix run over two
 * data-parallel workers whose adapter ({@link FineTuneResult#adapterDir()}) opens with {@link Model#open} and scores
 * the dev text as the run's last evaluation did.
 */
class ApiPrefixTest {
    @TempDir
    Path dir;

    private Path austen(String name, int chars) throws IOException {
        try (InputStream in = ApiPrefixTest.class.getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            Path p = dir.resolve(name);
            Files.writeString(p, s.substring(0, Math.min(chars, s.length())), StandardCharsets.UTF_8);
            return p;
        }
    }

    @Test
    void prefixAndWorkersBindTheYamlKeys() throws IOException {
        Path train = austen("train.txt", 5_000);
        Path out = dir.resolve("run");
        FineTuneConfig built = FineTuneConfig.builder().model(ModelSource.bundled()).textData(train, null)
                .prefix(4).workers(2).device(Device.CPU).out(out).build();
        FineTuneConfig yaml = FineTuneConfig.parse("t", String.join("\n", "model: bundled", "data:",
                "  format: text", "  train: ['" + train + "']", "peft: {method: prefix, tokens: 4}",
                "parallel: {workers: 2}", "device: cpu", "out: '" + out + "'"), List.of());
        assertEquals(yaml, built);
        assertEquals("prefix", built.get("peft.method"));
        assertEquals("4", built.get("peft.tokens"));
        assertEquals("2", built.get("parallel.workers"));
    }

    @Test
    void aPrefixRunOnTwoWorkersExportsAnAdapterThatOpens() throws IOException {
        Path train = austen("train.txt", 8_000);
        Path dev = austen("heldout.txt", 800);
        FineTuneConfig c = FineTuneConfig.builder().model(ModelSource.bundled()).textData(train, dev)
                .optimizer("zo-adam").lr(1e-2).steps(4).batchSize(4).maxLength(32).evalEvery(4).seed(5)
                .prefix(3).workers(2).device(Device.CPU).out(dir.resolve("run")).build();
        FineTuneResult r = FineTune.of(c).run();
        assertEquals(4, r.steps());
        assertFalse(Files.exists(r.modelDir()), "a prefix run writes no full weights");
        assertEquals("PREFIX_TUNING", new ObjectMapper().readTree(r.adapterDir().resolve("adapter_config.json")
                .toFile()).get("peft_type").asText());
        assertTrue(Files.isRegularFile(r.bestAdapterDir().resolve("adapter_model.safetensors")));
        int evalBatch = Integer.parseInt(c.get("eval_batch_size"));
        try (Model m = Model.open(ModelSource.bundled(), Device.CPU, Precision.F32, r.adapterDir())) {
            assertEquals("prefix", m.adapterMethod());
            double loss = m.evaluate(DataSet.text(dev), 32, evalBatch, 5).loss();
            // the run evaluated through its two workers: the same examples' losses, summed in another order
            assertEquals(r.finalDev().loss(), loss, 1e-6 * Math.abs(loss), "dev loss of the loaded adapter");
        }
    }
}
