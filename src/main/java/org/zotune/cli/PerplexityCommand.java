package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.Logits;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune perplexity}: the model's mean next-token loss on a text file, as one forward pass. */
@Command(name = "perplexity",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Computes the loss and perplexity of a model on a text file in one forward pass.",
                "The text is tokenized with the model's tokenizer (special tokens such as Llama's BOS "
                        + "included); the loss is the mean cross-entropy over its tokens - 1 next-token "
                        + "predictions. The last line of output is JSON: "
                        + "{\"tokens\": N, \"loss\": L, \"perplexity\": P}."})
public final class PerplexityCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "Model: a Hugging Face folder (config.json + safetensors) or a llama2.c .bin file.")
    Path model;

    @Option(names = "--text-file", required = true, paramLabel = "FILE", description = "UTF-8 text to score.")
    Path textFile;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning): a Hugging Face PEFT adapter folder "
                    + "(adapter_config.json + adapter_model.safetensors), e.g. a LoRA or prefix run's adapter/.")
    Path adapter;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Tokenizer file (tokenizer.json, vocab.json, llama2.c tokenizer.bin / tok*.bin); "
                    + "default: the one beside or inside --model.")
    Path tokenizer;

    @Option(names = "--truncate",
            description = "Keep the first max-positions tokens of a text longer than the model's context "
                    + "(otherwise such a text is refused).")
    boolean truncate;

    @Option(names = "--dump-logits", paramLabel = "FILE",
            description = "Also write JSON {\"input_ids\": [...], \"logits_first\": [...], \"logits_last\": [...]}: "
                    + "the ids and the logits (float32) at the first and the last position.")
    Path dumpLogits;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Runs.requireExisting(model, "model");
        String text = readText(Runs.requireExisting(textFile, "text file"));
        if (dumpLogits != null) {
            Runs.requireOutputFile(dumpLogits, "--dump-logits");
        }

        ModelSource source = ModelSource.of(model);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        double loss;
        float[] first = null;
        float[] last = null;
        int[] ids;
        long t0;
        try (Model m = ModelSession.open(source, adapter, backend, err)) {
            ids = m.tokenize(text);
            m.checkIds(ids);
            int max = m.info().maxPositions();
            if (ids.length > max) {
                if (!truncate) {
                    throw new ZotuneException("text file " + textFile + " is " + ids.length + " tokens long, more "
                            + "than the model's maximum of " + max + " positions: pass --truncate to keep the first "
                            + max + " tokens");
                }
                err.println("truncating " + textFile + " from " + ids.length + " to " + max + " tokens");
                ids = Arrays.copyOf(ids, max);
            }
            if (ids.length < 2) {
                throw new ZotuneException("text file " + textFile + " has " + ids.length
                        + " token(s): perplexity needs at least 2 (one next-token prediction)");
            }
            t0 = System.nanoTime();
            err.println("backend: " + m.backend() + ", " + ids.length + " tokens");
            err.flush();
            Logits l = dumpLogits != null ? m.logits(ids, 0, ids.length - 1) : m.logits(ids);
            loss = l.score().loss();
            if (dumpLogits != null) {
                first = l.rows()[0];
                last = l.rows()[1];
            }
        }
        err.printf("forward pass: %.2f s%n", (System.nanoTime() - t0) / 1e9);
        if (dumpLogits != null) {
            writeDump(ids, first, last);
            err.println("logits written to " + dumpLogits);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("tokens", ids.length);
        result.put("loss", loss);
        result.put("perplexity", Math.exp(loss));
        err.flush();
        out.println(new ObjectMapper().writeValueAsString(result));
        out.flush();
        return 0;
    }

    private String readText(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new ZotuneException("text file " + file + " is not a regular file");
        }
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new ZotuneException("text file " + file + " is not valid UTF-8");
        }
    }

    private void writeDump(int[] ids, float[] first, float[] last) throws IOException {
        Map<String, Object> dump = new LinkedHashMap<>();
        dump.put("input_ids", ids);
        dump.put("logits_first", first);
        dump.put("logits_last", last);
        try {
            new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValue(dumpLogits.toFile(), dump);
        } catch (IOException e) {
            throw new ZotuneException("cannot write --dump-logits file " + dumpLogits + ": " + e.getMessage(), e);
        }
    }
}
