package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.MaskPrediction;
import org.zotune.api.Model;
import org.zotune.api.ModelInfo;
import org.zotune.api.ModelSource;
import org.zotune.api.TokenProbability;
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

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning): a Hugging Face PEFT adapter folder "
                    + "(adapter_config.json + adapter_model.safetensors), e.g. a LoRA or prefix run's adapter/.")
    Path adapter;

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
            Runs.requireOutputFile(dumpLogits, "--dump-logits");
        }
        try (Model m = ModelSession.openEncoder(ModelSource.of(model), adapter, backend, err)) {
            ModelInfo info = m.info();
            if (!m.hasMaskedLmHead()) {
                throw new ZotuneException(model + ": the checkpoint has no masked-LM head (a bare "
                        + info.modelType() + " body): use zotune embed");
            }
            int vocab = info.vocabSize();
            String maskName = info.modelType().equals("roberta") ? "<mask>" : "[MASK]";
            if (input.text != null && !m.hasTokenizer()) {
                throw new ZotuneException(model + ": no tokenizer.json beside the model, which text input needs");
            }
            int mask = maskId != null ? maskId : m.maskId();
            if (mask < 0 || mask >= vocab) {
                throw new ZotuneException(mask < 0 ? "no mask token id: the tokenizer has no " + maskName
                        + " (pass --mask-id)" : "--mask-id " + mask + " is outside the vocabulary of " + vocab);
            }
            int[] ids;
            if (input.text != null) {
                ids = m.tokenize(input.text);
                if (ids.length > info.maxPositions()) {
                    throw new ZotuneException("--text is " + ids.length + " tokens long, more than the model's "
                            + info.maxPositions() + " positions");
                }
            } else {
                ids = input.inputIds.clone();
                for (int id : ids) {
                    if (id < 0 || id >= vocab) {
                        throw new ZotuneException("--input-ids: id " + id + " is outside the vocabulary of " + vocab);
                    }
                }
            }
            if (java.util.Arrays.stream(ids).noneMatch(id -> id == mask)) {
                throw new ZotuneException((input.text != null ? "--text has no " + maskName
                        : "--input-ids has no mask id " + mask) + ": fill-mask needs at least one mask");
            }
            List<MaskPrediction> predictions = m.fillMask(ids, mask, topK);
            boolean words = input.text != null;
            for (MaskPrediction p : predictions) {
                out.println("mask at position " + p.position() + ":");
                for (TokenProbability t : p.top()) {
                    out.printf("  %-20s %.4f%n", words ? t.token() : Integer.toString(t.id()), t.probability());
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
                for (MaskPrediction p : predictions) {
                    mp.add(p.position());
                }
                ArrayNode l = o.putArray("logits");
                for (MaskPrediction p : predictions) {
                    ArrayNode row = l.addArray();
                    for (float v : p.logits()) {
                        row.add(v);
                    }
                }
                json.writeValue(dumpLogits.toFile(), o);
            }
        }
        return 0;
    }
}
