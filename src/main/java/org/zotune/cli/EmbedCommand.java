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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.backend.Backends;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.model.Batch;
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
    private static final int BATCH = 32;

    enum Pooling { mean, cls }

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "An encoder: a Hugging Face folder (config.json, safetensors, tokenizer.json).")
    Path model;

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
        EncoderSession session = EncoderSession.open(model, true, err);
        try {
            int[][] ids = new int[lines.size()][];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = session.encode(lines.get(i), "line " + (i + 1) + " of " + textFile);
            }
            ObjectMapper json = new ObjectMapper();
            int pad = Math.max(session.loaded.config().padTokenId(), 0);
            try (Writer out = outFile != null ? Files.newBufferedWriter(outFile, StandardCharsets.UTF_8)
                    : new NonClosing(spec.commandLine().getOut());
                 Ops ops = Backends.create(backend.device, backend.dtype);
                 Parameters params = ops.createParameters(session.loaded.parameters(), backend.dtype)) {
                int hidden = session.loaded.config().hiddenSize();
                for (int from = 0; from < ids.length; from += BATCH) {
                    int to = Math.min(ids.length, from + BATCH);
                    int[][] part = java.util.Arrays.copyOfRange(ids, from, to);
                    Batch batch = Batch.rightPadded(part, pad);
                    float[] h;
                    try (Ops.Scope s = ops.scope()) {
                        h = ops.toHost(session.loaded.model().hiddenStates(ops, params, batch, null));
                    }
                    for (int b = 0; b < part.length; b++) {
                        double[] e = pool(h, b, batch, hidden);
                        ObjectNode o = json.createObjectNode();
                        o.put("text", lines.get(from + b));
                        ArrayNode a = o.putArray("embedding");
                        for (double v : e) {
                            a.add((float) v);
                        }
                        out.write(json.writeValueAsString(o));
                        out.write('\n');
                    }
                }
            }
        } finally {
            session.close();
        }
        return 0;
    }

    private double[] pool(float[] h, int b, Batch batch, int hidden) {
        double[] e = new double[hidden];
        int n = 0;
        for (int t = 0; t < batch.seq(); t++) {
            int row = b * batch.seq() + t;
            if (batch.mask()[row] == 0 || (pooling == Pooling.cls && t > 0)) {
                continue;
            }
            n++;
            for (int c = 0; c < hidden; c++) {
                e[c] += h[row * hidden + c];
            }
        }
        double norm = 0;
        for (int c = 0; c < hidden; c++) {
            e[c] /= n;
            norm += e[c] * e[c];
        }
        if (normalize && norm > 0) {
            norm = Math.sqrt(norm);
            for (int c = 0; c < hidden; c++) {
                e[c] /= norm;
            }
        }
        return e;
    }

    /** stdout stays open after the command. */
    private static final class NonClosing extends java.io.FilterWriter {
        NonClosing(Writer w) {
            super(w);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
