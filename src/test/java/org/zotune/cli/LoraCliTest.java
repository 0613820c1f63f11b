package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** zotune train with a peft section: bad ones are one line with exit 2; a LoRA run writes its PEFT adapter. */
class LoraCliTest {
    @TempDir
    Path dir;

    private Path config(String... peft) throws IOException {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            text.append("It is a truth universally acknowledged that a single man in possession of a good fortune. ");
        }
        Path train = Files.writeString(dir.resolve("train.txt"), text);
        String yaml = String.join("\n", "model: bundled", "data:", "  format: text", "  train: '" + train + "'",
                "objective: lm", "batch_size: 2", "max_length: 16", "steps: 2", "device: cpu",
                "out: '" + dir.resolve("run") + "'", "peft:", String.join("\n", peft), "");
        return Files.writeString(dir.resolve("run.yaml"), yaml);
    }

    @Test
    void unknownTargetIsOneLineExit2NamingTheValidOnes() throws IOException {
        Path cfg = config("  method: lora", "  targets: [q, fc1]");
        CliRun.of("train", "--config", cfg.toString()).assertUsageError("peft.targets", "'fc1'", "llama",
                "q, up, v", "self_attn.q_proj");
    }

    @Test
    void badRankAlphaAndPrefixAreOneLineExit2() throws IOException {
        Path cfg = config("  method: lora");
        CliRun.of("train", "--config", cfg.toString(), "--set", "peft.r=0").assertUsageError("peft.r", ">= 1");
        CliRun.of("train", "--config", cfg.toString(), "--set", "peft.alpha=-2").assertUsageError("peft.alpha",
                "> 0");
        // α/r beyond float32 made every adapted weight NaN (B = 0 times an infinite scale) and the run went on
        CliRun.of("train", "--config", cfg.toString(), "--set", "peft.alpha=1e300").assertUsageError("peft.alpha",
                "too large", "overflows float32");
        assertTrue(!Files.exists(dir.resolve("run")), "nothing written");
        // prefix tuning is built (PrefixRunTest): a prefix of no tokens is the one-line error now
        CliRun.of("train", "--config", cfg.toString(), "--set", "peft.method=prefix", "--set", "peft.tokens=0")
                .assertUsageError("peft.tokens", ">= 1");
    }

    @Test
    void aLoraRunWritesItsAdapter() throws IOException {
        Path cfg = config("  method: lora", "  r: 2");
        CliRun r = CliRun.of("train", "--config", cfg.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(dir.resolve("run/adapter/adapter_config.json")));
        assertTrue(Files.isRegularFile(dir.resolve("run/adapter/adapter_model.safetensors")));
    }
}
