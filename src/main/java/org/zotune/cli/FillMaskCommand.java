package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
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
import org.zotune.model.ModelFamily;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune fill-mask}: a masked LM's top-k tokens at each mask. */
@Command(name = "fill-mask",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Predicts the masked tokens of a text with a masked language model (BertForMaskedLM, "
                + "RobertaForMaskedLM): prints, for each mask, the top-k tokens and their probabilities."})
public final class FillMaskCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "A masked LM: a Hugging Face folder (config.json, safetensors; tokenizer.json for --text).")
    Path model;

    static final class Input {
        @Option(names = "--text", paramLabel = "TEXT",
                description = "Text with one or more mask tokens ([MASK] for BERT, <mask> for RoBERTa).")
        String text;

        @Option(names = "--input-ids", paramLabel = "ID,ID,...", split = ",",
                description = "Token ids, special tokens included (no tokenizer needed; ids are printed then).")
        int[] inputIds;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--mask-id", paramLabel = "ID",
            description = "The mask token's id for --input-ids when the model folder has no tokenizer.json.")
    Integer maskId;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "5",
            description = "How many tokens to print per mask. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--dump-logits", paramLabel = "FILE",
            description = "Also write JSON {\"input_ids\": [...], \"mask_positions\": [...], \"logits\": [[...], ...]}: "
                    + "the vocabulary's logits (float32) at every mask position.")
    Path dumpLogits;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (topK < 1) {
            throw new ZotuneException("--top-k must be at least 1, got " + topK);
        }
        if (dumpLogits != null) {
            Path dir = dumpLogits.toAbsolutePath().getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                throw new ZotuneException("--dump-logits " + dumpLogits + ": folder " + dir + " does not exist");
            }
        }
        EncoderSession session = EncoderSession.open(model, input.text != null, err);
        try {
            if (!session.loaded.model().hasMlmHead()) {
                throw new ZotuneException(model + ": the checkpoint has no masked-LM head (a bare "
                        + session.loaded.config().family() + " body): use zotune embed");
            }
            int vocab = session.loaded.config().vocabSize();
            String maskName = session.loaded.config().family() == ModelFamily.ROBERTA ? "<mask>" : "[MASK]";
            int mask = maskId != null ? maskId
                    : session.tokenizer != null ? session.tokenizer.addedTokenId(maskName) : -1;
            if (mask < 0 || mask >= vocab) {
                throw new ZotuneException(mask < 0 ? "no mask token id: the tokenizer has no " + maskName
                        + " (pass --mask-id)" : "--mask-id " + mask + " is outside the vocabulary of " + vocab);
            }
            int[] ids;
            if (input.text != null) {
                ids = session.encode(input.text, "--text");
            } else {
                ids = input.inputIds.clone();
                for (int id : ids) {
                    if (id < 0 || id >= vocab) {
                        throw new ZotuneException("--input-ids: id " + id + " is outside the vocabulary of " + vocab);
                    }
                }
            }
            List<Integer> masks = new ArrayList<>();
            for (int t = 0; t < ids.length; t++) {
                if (ids[t] == mask) {
                    masks.add(t);
                }
            }
            if (masks.isEmpty()) {
                throw new ZotuneException((input.text != null ? "--text has no " + maskName
                        : "--input-ids has no mask id " + mask) + ": fill-mask needs at least one mask");
            }
            int[] rows = masks.stream().mapToInt(Integer::intValue).toArray();
            float[] logits;
            try (Ops ops = Backends.create(backend.device, backend.dtype);
                 Parameters params = ops.createParameters(session.loaded.parameters(), backend.dtype);
                 Ops.Scope s = ops.scope()) {
                var m = session.loaded.model();
                logits = ops.toHost(m.mlmLogits(ops, params, m.hiddenStates(ops, params, Batch.of(ids), null), rows));
            }
            boolean words = input.text != null && session.tokenizer != null;
            for (int i = 0; i < rows.length; i++) {
                out.println("mask at position " + rows[i] + ":");
                for (int[] top : top(logits, i * vocab, vocab, Math.min(topK, vocab))) {
                    String token = words ? session.tokenizer.decode(new int[] {top[0]}).strip()
                            : Integer.toString(top[0]);
                    out.printf("  %-20s %.4f%n", token, softmaxAt(logits, i * vocab, vocab, top[0]));
                }
            }
            if (dumpLogits != null) {
                ObjectMapper json = new ObjectMapper();
                ObjectNode o = json.createObjectNode();
                ArrayNode a = o.putArray("input_ids");
                for (int id : ids) {
                    a.add(id);
                }
                ArrayNode mp = o.putArray("mask_positions");
                for (int r : rows) {
                    mp.add(r);
                }
                ArrayNode l = o.putArray("logits");
                for (int i = 0; i < rows.length; i++) {
                    ArrayNode row = l.addArray();
                    for (int v = 0; v < vocab; v++) {
                        row.add(logits[i * vocab + v]);
                    }
                }
                json.writeValue(dumpLogits.toFile(), o);
            }
        } finally {
            session.close();
        }
        return 0;
    }

    /** The k largest logits of one row as {id}, best first. */
    private static List<int[]> top(float[] logits, int off, int vocab, int k) {
        List<int[]> best = new ArrayList<>();
        boolean[] taken = new boolean[vocab];
        for (int j = 0; j < k; j++) {
            int arg = -1;
            for (int v = 0; v < vocab; v++) {
                if (!taken[v] && (arg < 0 || logits[off + v] > logits[off + arg])) {
                    arg = v;
                }
            }
            taken[arg] = true;
            best.add(new int[] {arg});
        }
        return best;
    }

    private static double softmaxAt(float[] logits, int off, int vocab, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            max = Math.max(max, logits[off + v]);
        }
        double z = 0;
        for (int v = 0; v < vocab; v++) {
            z += Math.exp(logits[off + v] - max);
        }
        return Math.exp(logits[off + id] - max) / z;
    }
}
