package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune embed}: sentence embeddings of an encoder, one JSON line per input line. */
@Command(name = "embed",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Sentence embeddings from an encoder (BERT, RoBERTa; e.g. all-MiniLM-L6-v2): each line of the "
                + "text file is tokenized with the model's tokenizer.json, run through the encoder, and its last "
                + "hidden states pooled. Output: one JSON line {\"text\": ..., \"embedding\": [...]} per input line."})
public final class EmbedCommand implements Callable<Integer> {
    enum Pooling { mean, cls }

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "An encoder: a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning): a Hugging Face PEFT adapter folder "
                    + "(adapter_config.json + adapter_model.safetensors), e.g. a LoRA or prefix run's adapter/.")
    Path adapter;

    @Option(names = "--text-file", required = true, paramLabel = "FILE", description = "UTF-8 text, one input per line.")
    Path textFile;

    @Option(names = "--pooling", paramLabel = "mean|cls", defaultValue = "mean",
            description = "mean: the mean of the real tokens' hidden states (sentence-transformers); cls: the first "
                    + "token's. Default: ${DEFAULT-VALUE}.")
    Pooling pooling;

    @Option(names = "--normalize", description = "Scale each embedding to unit L2 norm.")
    boolean normalize;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the JSON lines here instead of stdout.")
    Path outFile;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Cut a line of more than N tokens to N, its final special token kept (as transformers' "
                    + "truncation; sentence-transformers cuts all-MiniLM-L6-v2 at 256). Default: none, a line longer "
                    + "than the model's positions is refused.")
    Integer maxLength;

    @Option(names = "--no-progress", description = "No progress lines on stderr.")
    boolean noProgress;

    /** Lines tokenized, embedded and written at a time: the output streams, memory stays flat however long the file. */
    static final int CHUNK = 1024;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        List<String> lines = Files.readAllLines(Runs.requireExisting(textFile, "text file"),
                StandardCharsets.UTF_8);
        if (lines.isEmpty()) {
            throw new ZotuneException("text file " + textFile + " is empty");
        }
        if (outFile != null) {
            Runs.requireOutputFile(outFile, "--out");
        }
        try (Model m = ModelSession.openEncoder(ModelSource.of(model), adapter, backend, err)) {
            if (!m.hasTokenizer()) {
                throw new ZotuneException(model + ": no tokenizer.json beside the model, which text input needs");
            }
            int max = m.info().maxPositions();
            Runs.requireMaxLength(maxLength, max);
            // every line tokenized and checked before anything is written
            int[][] ids = new int[lines.size()][];
            int cut = 0;
            for (int i = 0; i < ids.length; i++) {
                ids[i] = m.tokenize(lines.get(i));
                if (maxLength != null && ids[i].length > maxLength) {
                    ids[i] = org.zotune.data.batch.TextRowEncoder.cut(ids[i], maxLength);
                    cut++;
                } else if (ids[i].length > max) {
                    throw new ZotuneException("line " + (i + 1) + " of " + textFile + " is " + ids[i].length
                            + " tokens long, more than the model's " + max + " positions (--max-length N cuts it)");
                }
            }
            if (cut > 0) {
                err.println("embed: " + cut + " of " + ids.length + " lines cut to --max-length " + maxLength
                        + " tokens");
            }
            org.zotune.api.Pooling p = pooling == Pooling.cls ? org.zotune.api.Pooling.CLS
                    : org.zotune.api.Pooling.MEAN;
            ObjectMapper json = new ObjectMapper();
            boolean progress = !noProgress && ids.length > CHUNK;
            long started = System.nanoTime();
            try (Writer out = Runs.output(outFile, spec.commandLine().getOut())) {
                for (int from = 0; from < ids.length; from += CHUNK) {
                    int to = Math.min(ids.length, from + CHUNK);
                    float[][] embeddings = m.embedIds(java.util.Arrays.copyOfRange(ids, from, to), p, normalize);
                    for (int i = from; i < to; i++) {
                        ObjectNode o = json.createObjectNode();
                        o.put("text", lines.get(i));
                        ArrayNode a = o.putArray("embedding");
                        for (float v : embeddings[i - from]) {
                            a.add(v);
                        }
                        out.write(json.writeValueAsString(o));
                        out.write('\n');
                    }
                    if (progress) {
                        double s = (System.nanoTime() - started) / 1e9;
                        err.printf(java.util.Locale.ROOT, "embed: %d of %d lines, %.1f s, %.0f lines/s%n", to,
                                ids.length, s, to / s);
                        err.flush();
                    }
                }
            }
        }
        return 0;
    }
}
