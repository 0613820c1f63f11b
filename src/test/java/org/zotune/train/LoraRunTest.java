package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;

/**
 * LoRA runs from a run config on the bundled stories260K (a Llama: dim 64, 4 of 8 heads for k/v, 5 layers): the
 * adapter comes out as a PEFT adapter folder, the run resumes bitwise, and bad peft sections are one line each,
 * before anything is written.
 */
class LoraRunTest {
    @TempDir
    Path dir;

    private String[] lora(String... more) {
        String[] base = {"optimizer:", "  name: zo-adam", "  lr: 1.0e-3", "steps: 6", "eval_every: 3",
            "peft:", "  method: lora", "  r: 4", "  alpha: 8", "  targets: [q, v_proj]"};
        String[] out = java.util.Arrays.copyOf(base, base.length + more.length);
        System.arraycopy(more, 0, out, base.length, more.length);
        return out;
    }

    @Test
    void aLoraRunWritesAPeftAdapterAndResumesBitwise() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1_500);
        Path a = dir.resolve("a");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, a, lora())), TrainRuns.quiet());

        assertFalse(Files.exists(a.resolve("model")), "no full weights for a LoRA run");
        JsonNode cfg = new ObjectMapper().readTree(a.resolve("adapter/adapter_config.json").toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals(4, cfg.get("r").asInt());
        assertEquals(8.0, cfg.get("lora_alpha").asDouble());
        assertEquals("[\"q_proj\",\"v_proj\"]", cfg.get("target_modules").toString());
        assertFalse(cfg.get("fan_in_fan_out").asBoolean());
        Map<String, HostTensor> w = SafetensorsFile.open(a.resolve("adapter/adapter_model.safetensors")).tensors();
        assertEquals(5 * 2 * 2, w.size(), "A and B for q and v in 5 layers: " + new TreeSet<>(w.keySet()));
        HostTensor qa = w.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        HostTensor vb = w.get("base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight");
        assertArrayEquals(new long[] {4, 64}, qa.shape(), "lora_A [r, in]");
        assertArrayEquals(new long[] {32, 4}, vb.shape(), "lora_B [out, r]: 4 kv heads of 8");
        boolean trained = false;
        for (float v : vb.toFloats()) {
            trained |= v != 0f;
        }
        assertTrue(trained, "B left zero: the run did not train the adapter");
        assertTrue(Files.isRegularFile(a.resolve("best/adapter/adapter_model.safetensors")));

        // stopped after 2 steps and resumed: the same adapter bit for bit
        Path b = dir.resolve("b");
        TrainConfig cb = TrainRuns.config(TrainRuns.yaml(train, dev, b, lora()));
        assertEquals(2, TrainRuns.train(cb, new Trainer.Options(false, false, 2, false)).steps());
        assertEquals(6, TrainRuns.train(cb, new Trainer.Options(true, false, 0, false)).steps());
        Map<String, HostTensor> wb = SafetensorsFile.open(b.resolve("adapter/adapter_model.safetensors")).tensors();
        assertEquals(w.keySet(), wb.keySet());
        for (String k : w.keySet()) {
            assertArrayEquals(w.get(k).toFloats(), wb.get(k).toFloats(), k);
        }
        // a resume with another peft section is refused, naming the key
        TrainConfig changed = TrainRuns.config(TrainRuns.yaml(train, dev, b, lora()), "peft.r=8", "steps=8");
        ZotuneException e = assertThrows(ZotuneException.class, () -> TrainRuns.train(changed,
                new Trainer.Options(true, false, 0, false)));
        assertTrue(e.getMessage().contains("'peft.r'"), e.getMessage());
    }

    @Test
    void badPeftSectionsAreOneLineBeforeAnythingIsWritten() throws IOException {
        Path train = TrainRuns.austen(dir, "train.txt", 2_000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 500);
        Path out = dir.resolve("run");
        ZotuneException e = assertThrows(ZotuneException.class, () -> TrainRuns.train(TrainRuns.config(
                TrainRuns.yaml(train, dev, out, lora()), "peft.targets=[q, fc1]"), TrainRuns.quiet()));
        assertEquals("key 'peft.targets': unknown target 'fc1' for llama; valid: down, gate, k, o, q, up, v or the "
                + "modules mlp.down_proj, mlp.gate_proj, mlp.up_proj, self_attn.k_proj, self_attn.o_proj, "
                + "self_attn.q_proj, self_attn.v_proj", e.getMessage());
        assertTrue(!Files.exists(out) || isEmpty(out), "nothing written");

        e = assertThrows(ZotuneException.class, () -> TrainRuns.config(TrainRuns.yaml(train, dev, out, lora()),
                "peft.r=0"));
        assertEquals("test.yaml: key 'peft.r' must be >= 1, got 0", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> TrainRuns.config(TrainRuns.yaml(train, dev, out, lora()),
                "peft.alpha=0"));
        assertEquals("test.yaml: key 'peft.alpha' must be a finite number > 0, got 0.0", e.getMessage());
        // prefix tuning is built (PrefixRunTest): a prefix of no tokens is the one-line error now
        e = assertThrows(ZotuneException.class, () -> TrainRuns.config(TrainRuns.yaml(train, dev, out, lora()),
                "peft.method=prefix", "peft.tokens=0"));
        assertEquals("test.yaml: key 'peft.tokens' must be >= 1, got 0", e.getMessage());
        e = assertThrows(ZotuneException.class, () -> TrainRuns.config(TrainRuns.yaml(train, dev, out, lora()),
                "peft.method=dora"));
        assertTrue(e.getMessage().startsWith("test.yaml: key 'peft.method'"), e.getMessage());
        assertTrue(e.getMessage().contains("lora"), e.getMessage());
    }

    private static boolean isEmpty(Path p) throws IOException {
        try (var s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }
}
