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
import java.util.Map;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.DataSet;
import org.zotune.api.EncoderObjective;
import org.zotune.api.EvalProgress;
import org.zotune.api.EvalResult;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Prediction;
import org.zotune.train.EvalProgressLines;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code zotune eval}: a model's loss (and accuracy, F1) on a data set; an encoder scored by one of the training
 * objectives head, similarity, mlm, as a run's test evaluation scores it.
 */
@Command(name = "eval",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Evaluates a model on a data set: token-weighted loss for language-model data; accuracy, F1 "
                + "and classification loss for classification and multiple-choice data.",
                "A decoder scores each candidate by its mean log-likelihood per token; an encoder (BERT, RoBERTa) is "
                + "scored by a training objective (--objective), exactly as a run's dev and test evaluations are.",
                "The last line of output is JSON."})
public final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "A Hugging Face folder (e.g. a run's model/ or best/), a llama2.c .bin, or 'bundled'.")
    String model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning): a Hugging Face PEFT adapter folder "
                    + "(adapter_config.json + adapter_model.safetensors), e.g. a LoRA or prefix run's adapter/.")
    Path adapter;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer file; default: the model's own.")
    Path tokenizer;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "The data file (kshot: the root).")
    String data;

    @Option(names = "--format", defaultValue = "jsonl", paramLabel = "FORMAT",
            description = "jsonl, sst2, tsv, label-sentence, superglue, kshot or text (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--task", paramLabel = "NAME", description = "superglue / kshot task (e.g. boolq, SST-2).")
    String task;

    @Option(names = "--template", paramLabel = "NAME|PATTERN",
            description = "A built-in template (sst2, rte, ...) or a pattern ending in {label} / {option}.")
    String template;

    @Option(names = "--verbalizer", paramLabel = "LABEL=WORD", split = ",",
            description = "Verbalizer of a pattern template, e.g. 0=terrible,1=great.")
    Map<String, String> verbalizer;

    @Option(names = "--rename-labels", paramLabel = "LABEL=NAME", split = ",",
            description = "Rename the data's labels as they are read, e.g. 0=NEGATIVE,1=POSITIVE: a Hugging Face "
                    + "classifier's id2label names, which objective head matches the data's labels to (key "
                    + "data.rename_labels).")
    Map<String, String> renameLabels;

    @Option(names = "--classes", paramLabel = "N", description = "label-sentence: the number of classes.")
    Integer classes;

    @Option(names = "--k-shot", paramLabel = "K", description = "kshot: k.")
    Integer kShot;

    @Option(names = "--seed", defaultValue = "42", paramLabel = "S", description = "kshot folder seed.")
    long seed;

    /** The splits of an LM-BFF folder. */
    enum SplitChoice { train, dev, test }

    @Option(names = "--split", paramLabel = "train|dev|test",
            description = "kshot: which file of the folder <task>/<k>-<seed> to score (default train; test: the task's "
                    + "full test set). Other formats: pass the split's own file as --data.")
    SplitChoice split;

    @Option(names = "--max-length", defaultValue = "128", paramLabel = "N",
            description = "Tokens per row (prompts cut from the left; text: chunk length). Default: ${DEFAULT-VALUE}.")
    int maxLength;

    @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--verbalizer-first-token",
            description = "Objective mlm: score a label word of several tokens by its first token (as the run's key "
                    + "data.verbalizer_first_token).")
    boolean verbalizerFirstToken;

    /** The encoder objectives, as key objective spells them. */
    enum ObjectiveChoice { auto, head, similarity, mlm }

    @Option(names = "--objective", paramLabel = "auto|head|similarity|mlm",
            description = "Encoders: how to score. auto (default): head when the folder has a classifier "
                    + "(classifier.weight/bias, a head run's model/ or best/), else mlm when the model has a "
                    + "masked-LM head, else similarity. Refused on a decoder.")
    ObjectiveChoice objective;

    @Option(names = "--pooling", paramLabel = "mean|cls|pooler",
            description = "Objective head: mean, cls or pooler (default: the classifier's own: config.json's "
                    + "zotune_pooling or the adapter's; pooler for a Hugging Face BertForSequenceClassification or "
                    + "RobertaForSequenceClassification folder; else mean); objective similarity: mean, cls or pooler "
                    + "(default mean). As keys head.pooling, similarity.pooling.")
    String pooling;

    @Option(names = "--temperature", paramLabel = "T",
            description = "Objective similarity: tau of cos/tau (default 0.05; key similarity.temperature).")
    Double temperature;

    @Option(names = "--labels", paramLabel = "LABEL=DESCRIPTION", split = ",",
            description = "Objective similarity: each label's description, e.g. 0=It was terrible.,1=It was great. "
                    + "(default: the built-in descriptions of the task --template or --task names; key "
                    + "similarity.labels).")
    Map<String, String> labels;

    @Option(names = "--predictions", paramLabel = "FILE",
            description = "Also write one JSON line per example in data order: {\"index\", \"gold\", \"predicted\", "
                    + "\"scores\"} (label names where the data has them, else option indices; scores per class: a "
                    + "decoder's mean log-likelihood per token of each candidate, head's logits, similarity's "
                    + "cosine/tau, mlm's logits of the label words). Classification and multiple-choice data only; "
                    + "an existing FILE is replaced.")
    Path predictions;

    @Option(names = "--no-progress", description = "No progress lines on stderr (by default one every "
            + "10 s of a long evaluation: examples scored of all, seconds, examples a second).")
    boolean noProgress;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.of(model);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        if (predictions != null) {
            Runs.requireOutputFile(predictions, "--predictions");
            if (format.equals("text")) {
                throw new ZotuneException("--predictions: data format text is language-model data (a loss per token, "
                        + "no classes to predict)");
            }
        }
        if (split != null && !format.equals("kshot")) {
            throw new ZotuneException("--split picks a file of an LM-BFF folder (--format kshot); with --format " + format
                    + " pass the split's own file as --data");
        }
        DataSet d;
        try {
            // the options as a data section of run.yaml, checked by the same rules (messages name the option)
            DataSet.Builder b = DataSet.builder().set("format", format).set("train", List.of(data)).set("task", task)
                    .set("template", template).set("verbalizer", verbalizer).set("classes", classes)
                    .set("k_shot", kShot).set("seed", seed).set("max_examples", 0)
                    .set("verbalizer_first_token", verbalizerFirstToken).set("rename_labels", renameLabels);
            if (split != null && split != SplitChoice.train) {
                // the folder is read as train too: its training file gives the label order (as a run's would)
                b.set(split.name(), List.of(data)).split(split.name());
            }
            d = b.build();
        } catch (ZotuneException e) {
            throw new ZotuneException(optionNames(e.getMessage()).replace("'", ""), e);
        }
        ObjectNode o = new ObjectMapper().createObjectNode();
        EncoderObjective scoring = objective == null && pooling == null && temperature == null && labels == null
                ? null : new EncoderObjective(objective == null ? null : objective.name(), pooling, temperature,
                labels);
        try (Model m = ModelSession.openAny(source, adapter, backend, err)) {
            if (scoring != null && !m.info().encoder()) {
                requireEncoderOptionsAbsent(m);
            }
            EvalResult r;
            try {
                r = m.evaluate(d, maxLength, batchSize, seed, scoring, predictions != null,
                        noProgress ? EvalProgress.NONE : new EvalProgressLines(err, "eval")::scored);
            } catch (ZotuneException e) {
                throw new ZotuneException(optionNames(e.getMessage()), e);
            }
            err.println("data: " + r.description());
            if (m.info().encoder()) {
                err.println("objective: " + r.scoring());
            }
            err.flush();
            if (predictions != null) {
                writePredictions(r);
            }
            if (m.info().encoder()) {
                o.put("objective", r.objective());
            }
            if (r.languageModel()) {
                o.put("examples", r.examples());
                o.put("tokens", r.tokens());
                o.put("loss", r.loss());
                o.put("perplexity", r.perplexity());
            } else {
                o.put("examples", r.examples());
                o.put("accuracy", r.accuracy());
                o.put("f1", r.f1());
                o.put("loss", r.loss());
                if (!r.perLabel().isEmpty()) {
                    ObjectNode per = o.putObject("per_label");
                    for (org.zotune.api.LabelMetrics l : r.perLabel()) {
                        per.putObject(l.label()).put("support", l.support()).put("predicted", l.predicted())
                                .put("precision", l.precision()).put("recall", l.recall()).put("f1", l.f1());
                    }
                }
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(o.toString());
        out.flush();
        return 0;
    }

    /** A decoder is scored by its candidates: the encoder objectives' options are one line naming the first given. */
    private void requireEncoderOptionsAbsent(Model m) {
        String given = objective != null && objective != ObjectiveChoice.auto ? "--objective " + objective
                : pooling != null ? "--pooling" : temperature != null ? "--temperature" : labels != null ? "--labels"
                : null;
        if (given != null) {
            throw new ZotuneException(given + ": model " + model + " is a " + m.info().modelType() + " decoder (causal "
                    + "language model), scored by its candidates' log-likelihood; --objective, --pooling, "
                    + "--temperature and --labels are for encoders (BERT, RoBERTa)");
        }
    }

    /** The run-config keys the scoring code names, as this command's options. */
    static String optionNames(String message) {
        // key 'data.k_shot' -> --k-shot: a data key's option is its name with hyphens; unquoted, only the keys
        // messages name bare (not a file name such as data.jsonl)
        java.util.regex.Matcher k = java.util.regex.Pattern.compile("key 'data\\.([a-z_]+)'|(?<![\\w/.-])data\\."
                + "(verbalizer_first_token|verbalizer|template|task)\\b").matcher(message);
        StringBuilder out = new StringBuilder();
        while (k.find()) {
            String key = k.group(1) != null ? k.group(1) : k.group(2);
            k.appendReplacement(out, "--" + key.replace('_', '-'));
        }
        k.appendTail(out);
        String[][] names = {{"key 'similarity.pooling'", "--pooling"}, {"key 'head.pooling'", "--pooling"},
            {"key 'similarity.temperature'", "--temperature"}, {"key 'similarity.labels'", "--labels"},
            {"key similarity.labels", "--labels"}};
        message = out.toString();
        for (String[] n : names) {
            message = message.replace(n[0], n[1]);
        }
        return message;
    }

    /** One JSON line per example; an existing file is replaced, as embed's --out and --dump-logits are. */
    private void writePredictions(EvalResult r) throws IOException {
        ObjectMapper json = new ObjectMapper();
        try (Writer w = Files.newBufferedWriter(predictions, StandardCharsets.UTF_8)) {
            for (Prediction p : r.predictions()) {
                ObjectNode line = json.createObjectNode();
                line.put("index", p.index());
                if (p.goldLabel() != null) {
                    line.put("gold", p.goldLabel());
                    line.put("predicted", p.predictedLabel());
                } else {
                    line.put("gold", p.gold());
                    line.put("predicted", p.predicted());
                }
                ArrayNode a = line.putArray("scores");
                for (double v : p.scores()) {
                    a.add(v);
                }
                w.write(json.writeValueAsString(line));
                w.write('\n');
            }
        } catch (IOException e) {
            throw new ZotuneException("cannot write --predictions file " + predictions + ": " + e.getMessage(), e);
        }
    }
}
