package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.Classification;
import org.zotune.api.EncoderObjective;
import org.zotune.api.EvalProgress;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune classify}: each text's class under an encoder's objective, as eval scores an example. */
@Command(name = "classify", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Classifies texts. An encoder (BERT, RoBERTa): a head run's model/ or best/, a Hugging Face "
                + "...ForSequenceClassification folder, a base with a head run's --adapter, or any encoder with label "
                + "descriptions (similarity) or a masked-LM template (mlm). A decoder: each class's candidate under a "
                + "classification template (--template, --verbalizer) by its log-likelihood. Each text is scored as "
                + "zotune eval scores an example.",
                "One JSON line per text: {\"text\", \"label\", \"scores\": {label: score, ...}, \"probabilities\": "
                + "{label: softmax of the scores, ...}}."})
public final class ClassifyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "A Hugging Face folder (an encoder, or a decoder with --template), a llama2.c .bin, or "
                    + "'bundled'.")
    String model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning); a head run's adapter/ carries its "
                    + "classifier.")
    Path adapter;

    @Option(names = "--text", paramLabel = "TEXT", description = "A text to classify (repeatable).")
    List<String> texts;

    @Option(names = "--text-file", paramLabel = "FILE", description = "UTF-8 text, one input per line.")
    Path textFile;

    @Option(names = "--jsonl", paramLabel = "FILE",
            description = "Examples of several fields (sentence pairs), one JSON object per line mapping the "
                    + "template's fields to their texts, e.g. {\"premise\": ..., \"hypothesis\": ...}; instead of "
                    + "--text and --text-file.")
    Path jsonl;

    @Option(names = "--objective", paramLabel = "auto|head|similarity|mlm",
            description = "How to score, as eval's --objective. auto (default): head when the folder or the adapter "
                    + "has a classifier, else mlm when the model has a masked-LM head, else similarity.")
    EvalCommand.ObjectiveChoice objective;

    @Option(names = "--pooling", paramLabel = "mean|cls|pooler",
            description = "As eval's --pooling (default: the classifier's own; similarity: mean).")
    String pooling;

    @Option(names = "--template", paramLabel = "NAME|PATTERN",
            description = "mlm: a built-in masked-LM template (sst2, sst5, trec, ...) or a pattern with one {field} "
                    + "and one <mask>/[MASK]; similarity: the built-in task whose label descriptions to use, or a "
                    + "pattern with one {field}; head: optional, a pattern the text is put in; a decoder: a built-in "
                    + "classification template or a pattern with one {field} ending in {label}.")
    String template;

    @Option(names = "--verbalizer", paramLabel = "LABEL=WORD", split = ",",
            description = "A pattern's label → word (mlm, a decoder's {label}), e.g. 0=terrible,1=great.")
    Map<String, String> verbalizer;

    @Option(names = "--labels", paramLabel = "LABEL=DESCRIPTION", split = ",",
            description = "Objective similarity: each label's description, e.g. neg=It was terrible.,pos=It was "
                    + "great. (default: the built-in descriptions of the task --template names).")
    Map<String, String> labels;

    @Option(names = "--temperature", paramLabel = "T", description = "Objective similarity: tau of cos/tau (0.05).")
    Double temperature;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Cut a row of more than N tokens to N, as eval does (an encoder's text keeps its final "
                    + "special token; a decoder's prompt is cut from the left). Default: the model's positions.")
    Integer maxLength;

    @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the JSON lines here instead of stdout.")
    Path outFile;

    @Option(names = "--no-progress", description = "No progress lines on stderr (by default one after every "
            + "1,024 texts of a longer input).")
    boolean noProgress;

    /** Texts scored and written at a time. */
    static final int CHUNK = 1024;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        List<String> in = new ArrayList<>();
        List<Map<String, String>> rows = null;
        if (jsonl != null) {
            if (texts != null || textFile != null) {
                throw new ZotuneException("--jsonl gives the examples: not with --text or --text-file");
            }
            rows = rows(jsonl);
        }
        if (texts != null) {
            in.addAll(texts);
        }
        if (textFile != null) {
            in.addAll(Files.readAllLines(Runs.requireExisting(textFile, "text file"), StandardCharsets.UTF_8));
        }
        int total = rows != null ? rows.size() : in.size();
        if (total == 0) {
            throw new ZotuneException(jsonl != null ? "--jsonl " + jsonl + " is empty" : textFile != null ? "text file "
                    + textFile + " is empty" : "no text: give --text TEXT, --text-file FILE or --jsonl FILE");
        }
        if (batchSize < 1) {
            throw new ZotuneException("--batch-size must be >= 1, got " + batchSize);
        }
        if (outFile != null) {
            Runs.requireOutputFile(outFile, "--out");
        }
        EncoderObjective o = new EncoderObjective(objective == null ? null : objective.name(), pooling, temperature,
                labels);
        ObjectMapper json = new ObjectMapper();
        try (Model m = ModelSession.openAny(ModelSource.of(model), adapter, backend, err)) {
            int max = m.info().maxPositions();
            Runs.requireMaxLength(maxLength, max);
            int length = maxLength != null ? maxLength : max;
            // CHUNK texts at a time, each written before the next is scored: memory stays flat, the output streams;
            // the first is scored before --out is opened, so that bad options leave an existing file as it was
            boolean progress = !noProgress && total > CHUNK;
            long started = System.nanoTime();
            List<Classification> chunk = classify(m, o, in, rows, 0, Math.min(total, CHUNK), length);
            err.println("classify: " + total + (total == 1 ? " example" : " examples") + ", classes "
                    + chunk.get(0).scores().keySet());
            err.flush();
            try (Writer out = Runs.output(outFile, spec.commandLine().getOut())) {
                for (int from = 0; from < total; from += CHUNK) {
                    int to = Math.min(total, from + CHUNK);
                    if (from > 0) {
                        chunk = classify(m, o, in, rows, from, to, length);
                    }
                    for (Classification c : chunk) {
                        ObjectNode line = json.createObjectNode();
                        if (rows != null) {
                            ObjectNode input = line.putObject("input");
                            c.input().forEach(input::put);
                        } else {
                            line.put("text", c.text());
                        }
                        line.put("label", c.label());
                        ObjectNode s = line.putObject("scores");
                        c.scores().forEach(s::put);
                        ObjectNode p = line.putObject("probabilities");
                        c.probabilities().forEach(p::put);
                        out.write(json.writeValueAsString(line));
                        out.write('\n');
                    }
                    if (progress) {
                        double secs = (System.nanoTime() - started) / 1e9;
                        err.printf(java.util.Locale.ROOT, "classify: %d of %d texts, %.1f s, %.0f texts/s%n", to,
                                total, secs, to / secs);
                        err.flush();
                    }
                }
            }
        }
        return 0;
    }

    /** Examples {@code from} to {@code to} of the texts, or of the rows when given. */
    private List<Classification> classify(Model m, EncoderObjective o, List<String> texts,
            List<Map<String, String>> rows, int from, int to, int length) {
        try {
            return rows != null ? m.classifyRows(rows.subList(from, to), o, template, verbalizer, length, batchSize,
                    EvalProgress.NONE) : m.classify(texts.subList(from, to), o, template, verbalizer, length,
                    batchSize, EvalProgress.NONE);
        } catch (ZotuneException e) {
            // classify has no --task: the built-in task is the one --template names
            throw new ZotuneException(EvalCommand.optionNames(e.getMessage().replace(" or data.task", "")), e);
        }
    }

    /** --jsonl's rows: one JSON object of string fields per non-blank line, in the file's key order. */
    private static List<Map<String, String>> rows(Path file) throws IOException {
        List<Map<String, String>> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(Runs.requireExisting(file, "--jsonl"), StandardCharsets.UTF_8);
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            String where = file + ":" + (i + 1);
            com.fasterxml.jackson.databind.JsonNode n;
            try {
                n = json.readTree(lines.get(i));
            } catch (IOException e) {
                throw new ZotuneException(where + ": not valid JSON");
            }
            if (n == null || !n.isObject() || n.isEmpty()) {
                throw new ZotuneException(where + ": expected an object of field -> text, e.g. {\"premise\": "
                        + "\"...\", \"hypothesis\": \"...\"}");
            }
            Map<String, String> row = new java.util.LinkedHashMap<>();
            for (var it = n.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getValue().isTextual()) {
                    throw new ZotuneException(where + ": field '" + e.getKey() + "' is " + e.getValue()
                            .getNodeType().name().toLowerCase(java.util.Locale.ROOT) + ", not a text");
                }
                row.put(e.getKey(), e.getValue().asText());
            }
            out.add(row);
        }
        return out;
    }
}
