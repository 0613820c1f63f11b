package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;
import org.zotune.train.PrefixExport;

/**
 * {@code --adapter} with a prefix-tuning adapter on perplexity, generate and eval with the bundled stories260K (5
 * layers, 4 kv heads of 8): a peft-style PREFIX_TUNING folder with random keys and values changes the loss; one that
 * does not fit, or {@code --device cuda}, is one line and exit 2.
 */
class PrefixAdapterCliTest {
    @TempDir
    Path dir;
    private Path adapter;
    private Path text;
    private final BundledModel b = BundledModel.get();

    @BeforeEach
    void writeAdapter() throws IOException {
        adapter = Files.createDirectories(dir.resolve("adapter"));
        float[] table = new float[2 * 2 * 5 * 32];
        Random r = new Random(9);
        for (int i = 0; i < table.length; i++) {
            table[i] = (float) r.nextGaussian();
        }
        SafetensorsWriter.write(adapter.resolve(PrefixExport.WEIGHTS), List.of(HostTensor.ofFloats(
                "prompt_embeddings", table, 2, 2 * 5 * 32)));
        Files.writeString(adapter.resolve(PrefixExport.CONFIG), "{\"peft_type\": \"PREFIX_TUNING\", "
                + "\"num_virtual_tokens\": 2, \"num_layers\": 5, \"token_dim\": 32, \"num_attention_heads\": 4}");
        text = Files.writeString(dir.resolve("text.txt"), "Once upon a time there was a little girl named Lily. "
                + "She loved to play outside in the sun.");
    }

    private CliRun perplexity(Path adapterDir, String device) {
        List<String> args = new ArrayList<>(List.of("perplexity", "--model", b.model().toString(), "--tokenizer",
                b.tokenizer().toString(), "--text-file", text.toString(), "--device", device));
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
    void aPrefixAdapterChangesTheLossAndGenerateAndEvalTakeIt() throws IOException {
        double base = loss(perplexity(null, "cpu"));
        CliRun with = perplexity(adapter, "cpu");
        assertNotEquals(base, loss(with), "the prefix changes the model");
        assertTrue(with.err().contains("adapter: " + adapter + " (prefix)"), with.err());
        CliRun g = CliRun.of("generate", "--model", b.model().toString(), "--tokenizer", b.tokenizer().toString(),
                "--prompt", "Once upon a time", "--max-tokens", "5", "--device", "cpu", "--adapter",
                adapter.toString());
        assertEquals(0, g.code(), g.err());
        CliRun e = CliRun.of("eval", "--model", b.model().toString(), "--tokenizer", b.tokenizer().toString(),
                "--data", text.toString(), "--format", "text", "--max-length", "8", "--device", "cpu", "--adapter",
                adapter.toString());
        assertEquals(0, e.code(), e.err());
    }

    @Test
    void aPrefixThatDoesNotFitOrCudaIsOneLineExit2() throws IOException {
        if (!org.zotune.cuda.Cuda.availability().usable()) { // a prefix runs on CUDA too: here there is no device
            perplexity(adapter, "cuda").assertUsageError("CUDA");
        }
        Files.writeString(adapter.resolve(PrefixExport.CONFIG), "{\"peft_type\": \"PREFIX_TUNING\", "
                + "\"num_virtual_tokens\": 2, \"num_layers\": 6, \"token_dim\": 32, \"num_attention_heads\": 4}");
        perplexity(adapter, "cpu").assertUsageError("adapter_config.json", "num_layers 6",
                "the model's layers (5)");
    }
}
