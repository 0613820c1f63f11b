package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.peft.Lora;
import org.zotune.tensor.HostTensor;
import org.zotune.train.PeftExport;

/**
 * {@code --adapter} on perplexity, generate and eval with the bundled stories260K: a PEFT adapter with random
 * non-zero A and B changes the loss; a bad adapter (config, tensor missing, misshapen or unexpected, a folder that is
 * not one) is one line naming the file and what is wrong, exit 2.
 */
class AdapterCliTest {
    @TempDir
    Path dir;
    private Path adapter;
    private Path text;
    private final BundledModel b = BundledModel.get();

    @BeforeEach
    void writeAdapter() throws IOException {
        LoadedModel m = ModelLoader.load(b.model());
        Lora lora = Lora.of(ModelFamily.LLAMA.architecture(), "llama", m.model().params(), 2, 4.0, List.of("q", "v"));
        Random r = new Random(3);
        List<HostTensor> t = new ArrayList<>();
        for (ParamSpec s : lora.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.3 * r.nextGaussian());
            }
            t.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        adapter = dir.resolve("adapter");
        PeftExport.write(adapter, lora, "bundled", ModelFamily.LLAMA, t, Map.of("format", "pt"));
        text = Files.writeString(dir.resolve("text.txt"), "Once upon a time there was a little girl named Lily. "
                + "She loved to play outside in the sun.");
    }

    private CliRun perplexity(Path adapterDir) {
        List<String> args = new ArrayList<>(List.of("perplexity", "--model", b.model().toString(), "--tokenizer",
                b.tokenizer().toString(), "--text-file", text.toString(), "--device", "cpu"));
        if (adapterDir != null) {
            args.addAll(List.of("--adapter", adapterDir.toString()));
        }
        return CliRun.of(args.toArray(String[]::new));
    }

    private static double loss(CliRun r) throws IOException {
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.outLines();
        return new ObjectMapper().readTree(lines.get(lines.size() - 1)).get("loss").asDouble();
    }

    @Test
    void anAdapterChangesTheLossAndGenerateAndEvalTakeIt() throws IOException {
        double base = loss(perplexity(null));
        CliRun with = perplexity(adapter);
        double adapted = loss(with);
        assertNotEquals(base, adapted, "the adapter changes the model");
        assertTrue(with.err().contains("adapter: " + adapter), with.err());

        CliRun g = CliRun.of("generate", "--model", b.model().toString(), "--tokenizer", b.tokenizer().toString(),
                "--prompt", "Once upon a time", "--max-tokens", "5", "--device", "cpu", "--adapter",
                adapter.toString());
        assertEquals(0, g.code(), g.err());
        CliRun e = CliRun.of("eval", "--model", b.model().toString(), "--tokenizer", b.tokenizer().toString(),
                "--data", text.toString(), "--format", "text", "--max-length", "8", "--device", "cpu", "--adapter",
                adapter.toString());
        assertEquals(0, e.code(), e.err());
    }

    private Path copy(String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        for (String f : new String[] {PeftExport.CONFIG, PeftExport.WEIGHTS}) {
            Files.copy(adapter.resolve(f), d.resolve(f));
        }
        return d;
    }

    private Path withConfig(String name, String key, Object value) throws IOException {
        Path d = copy(name);
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = (ObjectNode) json.readTree(d.resolve(PeftExport.CONFIG).toFile());
        c.set(key, json.valueToTree(value));
        Files.writeString(d.resolve(PeftExport.CONFIG), c.toString());
        return d;
    }

    private Path withTensors(String name, java.util.function.Consumer<Map<String, HostTensor>> edit)
            throws IOException {
        Path d = copy(name);
        Map<String, HostTensor> t = new LinkedHashMap<>(SafetensorsFile.open(adapter.resolve(PeftExport.WEIGHTS))
                .tensors());
        edit.accept(t);
        Files.delete(d.resolve(PeftExport.WEIGHTS));
        SafetensorsWriter.write(d.resolve(PeftExport.WEIGHTS), t.values());
        return d;
    }

    @Test
    void badAdaptersAreOneLineExit2() throws IOException {
        String q0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
        perplexity(dir.resolve("absent")).assertUsageError("adapter", "absent", "does not exist");
        perplexity(Files.createDirectories(dir.resolve("empty"))).assertUsageError("empty", "adapter_config.json");
        perplexity(withConfig("r0", "r", 0)).assertUsageError("adapter_config.json", "r must be an integer >= 1");
        perplexity(withConfig("alpha", "lora_alpha", -1)).assertUsageError("adapter_config.json", "lora_alpha",
                "> 0");
        // α/r overflowing float32, and A, B whose product leaves float32's range, gave infinite logits silently
        perplexity(withConfig("alphaHuge", "lora_alpha", 1e300)).assertUsageError("adapter_config.json",
                "lora_alpha", "too large");
        String q0b = q0.replace("lora_A", "lora_B");
        perplexity(withTensors("huge", t -> {
            t.put(q0, HostTensor.ofFloats(q0, filled(2 * 64, 1e20f), 2, 64));
            t.put(q0b, HostTensor.ofFloats(q0b, filled(64 * 2, 1e20f), 64, 2));
        }))
                .assertUsageError("adapter_model.safetensors", "self_attn.q_proj", "beyond float32's range");
        perplexity(withConfig("type", "peft_type", "PREFIX_TUNING")).assertUsageError("adapter_config.json",
                "PREFIX_TUNING", "not LORA");
        perplexity(withConfig("target", "target_modules", List.of("q_proj", "fc1"))).assertUsageError(
                "adapter_config.json", "'fc1'", "self_attn.q_proj");
        perplexity(withConfig("absentTarget", "target_modules", List.of())).assertUsageError("target_modules");
        perplexity(withConfig("dora", "use_dora", true)).assertUsageError("use_dora");
        perplexity(withConfig("k", "target_modules", List.of("q_proj", "k_proj"))).assertUsageError(
                "adapter_model.safetensors", "tensor base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight",
                "missing");
        perplexity(withTensors("missing", t -> t.remove(q0))).assertUsageError("tensor " + q0, "missing");
        perplexity(withTensors("shape", t -> t.put(q0, HostTensor.ofFloats(q0, new float[3 * 64], 3, 64))))
                .assertUsageError("tensor " + q0, "[3, 64]", "[2, 64]");
        String extra = "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight";
        perplexity(withTensors("extra", t -> t.put(extra, HostTensor.ofFloats(extra, new float[2 * 64], 2, 64))))
                .assertUsageError("tensor " + extra, "not one of this adapter's");
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void mergeNeedsLora() throws IOException {
        Path train = Files.writeString(dir.resolve("train.txt"), "It is a truth universally acknowledged. ".repeat(40));
        Path cfg = Files.writeString(dir.resolve("run.yaml"), String.join("\n", "model: bundled", "data:",
                "  format: text", "  train: '" + train + "'", "objective: lm", "batch_size: 2", "max_length: 16",
                "steps: 1", "device: cpu", "out: '" + dir.resolve("run") + "'", ""));
        CliRun.of("train", "--config", cfg.toString(), "--merge").assertUsageError("peft.merge", "peft.method lora");
        assertTrue(!Files.exists(dir.resolve("run")), "nothing written");
    }
}
