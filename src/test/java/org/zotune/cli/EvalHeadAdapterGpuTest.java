package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.zotune.cuda.Cuda;
import org.zotune.model.bert.TinyBertFolder;

/**
 * zotune eval --device cuda --adapter with a head run's adapter trained on the same GPU (a prefix or LoRA beside the
 * classifier, in float32 and bf16): objective auto scores the adapter's classifier as the run's final dev evaluation
 * did, within 1e-5 relative in float32 and 1e-3 in bf16 (the run's dev evaluation runs the captured objective, eval
 * the evaluator over LoRA merged once by the same kernel); in float32 Model.export on CUDA writes the run's merged
 * model/ byte for byte. Prints both. Skips itself without a usable CUDA device.
 */
@Tag("gpu")
class EvalHeadAdapterGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "bf16"})
    void aHeadRunsAdapterScoresOnTheGpuAsTheRunsFinalDevEvaluation(String dtype) throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path data = Files.writeString(dir.resolve("d.jsonl"), TrainEncoderObjectivesCliTest.ROWS);
        ReplayRuns runs = new ReplayRuns(dir);
        String[] head = {"objective: head", "head: {pooling: mean}", "data:", "  dev: '" + data + "'"};
        String loraMerged = "peft: {method: lora, r: 2, alpha: 4, targets: [q, v, down], merge: true}";
        for (String peft : new String[] {ReplayRuns.PREFIX, loraMerged}) {
            String name = (peft.contains("prefix") ? "prefix" : "lora") + "-" + dtype;
            Path run = runs.train(List.of("--set", "device=cuda", "--set", "dtype=" + dtype), model, name, head,
                    peft);
            JsonNode dev = new ObjectMapper().readTree(run.resolve("summary.json").toFile()).get("final_dev");
            CliRun r = CliRun.of("eval", "--model", model.toString(), "--adapter", run.resolve("adapter").toString(),
                    "--format", "jsonl", "--data", data.toString(), "--max-length", "16", "--batch-size", "6",
                    "--device", "cuda", "--dtype", dtype);
            assertEquals(0, r.code(), r.err());
            List<String> lines = r.outLines();
            JsonNode got = new ObjectMapper().readTree(lines.get(lines.size() - 1));
            System.out.println("cuda " + name + " + head adapter, zotune eval: " + got + "; the run's final dev: "
                    + dev);
            assertEquals("head", got.get("objective").asText());
            double tol = dtype.equals("f32") ? 1e-5 : 1e-3;
            assertEquals(dev.get("loss").asDouble(), got.get("loss").asDouble(), tol * dev.get("loss").asDouble());
            assertEquals(dev.get("accuracy").asDouble(), got.get("accuracy").asDouble(), 1e-12);
            if (peft.contains("merge") && dtype.equals("f32")) {
                // Model.export on CUDA (the adapter merged once at open) writes what the run's peft.merge wrote
                Path exported = dir.resolve("exported-" + name);
                try (org.zotune.api.Model m = org.zotune.api.Model.open(org.zotune.api.ModelSource.of(model),
                        org.zotune.api.Device.CUDA, org.zotune.api.Precision.F32, run.resolve("adapter"))) {
                    m.export(exported);
                }
                // (the tensors: the run's metadata also records its step)
                ReplayRuns.assertSameTensors("cuda Model.export vs the run's merged model/", run.resolve(
                        "model/model.safetensors"), exported.resolve("model.safetensors"), false);
            }
        }
    }
}
