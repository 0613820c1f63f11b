package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * An adapter folder that parses but would make the output silently wrong is one line, exit 2 (issue 16,
 * deliverable 2): a key given twice in adapter_config.json (which r, which alpha?), a NaN or infinite weight in
 * adapter_model.safetensors (every logit it touches becomes NaN).
 */
class AdapterStrictnessTest {
    @TempDir
    Path dir;
    private Path adapter;
    private Path text;
    private final BundledModel b = BundledModel.get();
    private static final String Q0 = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";

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
        text = Files.writeString(dir.resolve("text.txt"), "Once upon a time there was a little girl named Lily.");
    }

    private CliRun perplexity(Path adapterDir) {
        return CliRun.of("perplexity", "--model", b.model().toString(), "--tokenizer", b.tokenizer().toString(),
                "--text-file", text.toString(), "--device", "cpu", "--adapter", adapterDir.toString());
    }

    private Path copy(String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        for (String f : new String[] {PeftExport.CONFIG, PeftExport.WEIGHTS}) {
            Files.copy(adapter.resolve(f), d.resolve(f));
        }
        return d;
    }

    private Path withValue(String name, float value) throws IOException {
        Path d = copy(name);
        Map<String, HostTensor> t = new LinkedHashMap<>(SafetensorsFile.open(adapter.resolve(PeftExport.WEIGHTS))
                .tensors());
        float[] v = t.get(Q0).toFloats();
        v[5] = value;
        t.put(Q0, HostTensor.ofFloats(Q0, v, t.get(Q0).shape()));
        Files.delete(d.resolve(PeftExport.WEIGHTS));
        SafetensorsWriter.write(d.resolve(PeftExport.WEIGHTS), t.values());
        return d;
    }

    @Test
    void theUnchangedAdapterLoads() {
        assertEquals(0, perplexity(adapter).code());
    }

    @Test
    void aKeyGivenTwiceInTheConfigIsRefused() throws IOException {
        Path d = copy("dup");
        String c = Files.readString(d.resolve(PeftExport.CONFIG));
        Files.writeString(d.resolve(PeftExport.CONFIG), c.replaceFirst("\\{", "{\"r\": 8, "));
        perplexity(d).assertUsageError("adapter_config.json", "Duplicate field 'r'");
    }

    @Test
    void aNaNOrInfiniteWeightIsRefusedNamingTheTensor() throws IOException {
        perplexity(withValue("nan", Float.NaN)).assertUsageError("adapter_model.safetensors", Q0, "NaN");
        perplexity(withValue("inf", Float.NEGATIVE_INFINITY)).assertUsageError("adapter_model.safetensors", Q0,
                "-Infinity");
    }

    @Test
    void aDecoderAdapterOnAnEncoderIsRefusedInOneLine() {
        Path minilm = org.zotune.TestData.file("models/all-MiniLM-L6-v2");
        org.zotune.ZotuneException e = org.junit.jupiter.api.Assertions.assertThrows(org.zotune.ZotuneException.class,
                () -> org.zotune.api.Model.open(org.zotune.api.ModelSource.of(minilm), org.zotune.api.Device.CPU,
                        org.zotune.api.Precision.F32, adapter));
        // LoRA adapters load onto encoders too (LoraEncoderRunTest): this Llama adapter's names are no BERT module's
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith(adapter + ": tensor base_model.model."
                + "model.layers.") && e.getMessage().contains("is not named as a bert encoder's modules are"),
                e.getMessage());
    }
}
