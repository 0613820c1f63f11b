package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.cli.ReplayRuns.HEAD;
import static org.zotune.cli.ReplayRuns.LORA;
import static org.zotune.cli.ReplayRuns.MLM;
import static org.zotune.cli.ReplayRuns.PREFIX;

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
import org.zotune.model.io.SafetensorsFile;

/**
 * zotune replay --device cuda of encoder runs trained on the same GPU through the CLI (device cuda: the captured step
 * with the mlm and head objectives), in float32 and bf16: full mlm and head runs replay through
 * DeviceZoStep.replayStep to the run's model/ byte for byte (classifier and config.json included; a linear probe's
 * body too), LoRA mlm and head
 * runs (the classifier as modules_to_save, also from a base folder's classifier) to the run's adapter/ byte for byte,
 * prefix mlm and head runs (the classifier beside the prefix) likewise.
 * Each comparison prints its case and, where tensors differ, how many values and the max abs/rel differences. Skips
 * itself without a usable CUDA device.
 */
@Tag("gpu")
class ReplayEncoderGpuTest {
    @TempDir
    Path dir;
    private ReplayRuns runs;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        runs = new ReplayRuns(dir);
    }

    private static List<String> cuda(String dtype) {
        return List.of("--set", "device=cuda", "--set", "dtype=" + dtype);
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "bf16"})
    void fullRunsReplayOnTheGpuToTheirModelFolders(String dtype) throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertFullReplay("cuda " + dtype + " full/mlm", mlm, runs.train(cuda(dtype), mlm, "full-mlm", MLM),
                "r-full-mlm", "cuda");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        Path head = runs.train(cuda(dtype), bare, "full-head", HEAD);
        assertTrue(ReplayRuns.maxAbs(SafetensorsFile.open(head.resolve("model/model.safetensors")).tensors()
                .get("classifier.weight")) > 0, "cuda " + dtype + " full/head: the zero-initialised classifier trained");
        runs.assertFullReplay("cuda " + dtype + " full/head", bare, head, "r-full-head", "cuda");
        // a linear probe trained on the GPU: the head under the mask; the replay downloads every tensor from its
        // device buffer, so the body too must come out as the run exported it
        Path probe = runs.train(cuda(dtype), bare, "probe-head", new String[] {"objective: head",
            "head: {pooling: cls, linear_probe: true}"});
        assertTrue(ReplayRuns.maxAbs(SafetensorsFile.open(probe.resolve("model/model.safetensors")).tensors()
                .get("classifier.weight")) > 0, "cuda " + dtype + " linear probe: the classifier trained");
        Path r = runs.replayed(bare, probe, "r-probe-head", "cuda");
        ReplayRuns.assertSameTensors("cuda " + dtype + " full/head linear probe", probe.resolve(
                "model/model.safetensors"), r.resolve("model.safetensors"));
        assertEquals(Files.readString(probe.resolve("model/config.json")), Files.readString(r.resolve("config.json")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "bf16"})
    void loraRunsReplayOnTheGpuToTheirAdapters(String dtype) throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertAdapterReplay("cuda " + dtype + " lora/mlm", mlm, runs.train(cuda(dtype), mlm, "lora-mlm", MLM,
                LORA), "r-lora-mlm", "cuda");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        runs.assertAdapterReplay("cuda " + dtype + " lora/head", bare, runs.train(cuda(dtype), bare, "lora-head", HEAD,
                LORA), "r-lora-head", "cuda");
        // from a base folder's classifier of float32 values: its start in the run's dtype, read back from the device
        Path withHead = runs.withClassifier(bare, "with-head");
        runs.assertAdapterReplay("cuda " + dtype + " lora/head from a classifier", withHead, runs.train(cuda(dtype),
                withHead, "lora-head-cls", HEAD, LORA), "r-lora-head-cls", "cuda");
    }

    @ParameterizedTest
    @ValueSource(strings = {"f32", "bf16"})
    void prefixRunsReplayOnTheGpuToTheirAdapters(String dtype) throws IOException {
        Path mlm = TinyBertFolder.write(dir.resolve("mlm-base"), 5, true);
        runs.assertPrefixReplay("cuda " + dtype + " prefix/mlm", mlm, runs.train(cuda(dtype), mlm, "prefix-mlm", MLM,
                PREFIX), "r-prefix-mlm", "cuda");
        Path bare = TinyBertFolder.write(dir.resolve("bare"), 6, false);
        runs.assertPrefixReplay("cuda " + dtype + " prefix/head", bare, runs.train(cuda(dtype), bare, "prefix-head",
                HEAD, PREFIX), "r-prefix-head", "cuda");
        Path withHead = runs.withClassifier(bare, "with-head");
        runs.assertPrefixReplay("cuda " + dtype + " prefix/head from a classifier", withHead, runs.train(cuda(dtype),
                withHead, "prefix-head-cls", HEAD, PREFIX), "r-prefix-head-cls", "cuda");
    }
}
