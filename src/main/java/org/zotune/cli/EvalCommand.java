package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.DataSet;
import org.zotune.api.EvalResult;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune eval}: a model's loss (and accuracy, F1) on a data set. */
@Command(name = "eval",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Evaluates a model on a data set: token-weighted loss for language-model data; accuracy, F1 "
                + "and classification loss for classification and multiple-choice data.",
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

    @Option(names = "--classes", paramLabel = "N", description = "label-sentence: the number of classes.")
    Integer classes;

    @Option(names = "--k-shot", paramLabel = "K", description = "kshot: k.")
    Integer kShot;

    @Option(names = "--seed", defaultValue = "42", paramLabel = "S", description = "kshot folder seed.")
    long seed;

    @Option(names = "--max-length", defaultValue = "128", paramLabel = "N",
            description = "Tokens per row (prompts cut from the left; text: chunk length). Default: ${DEFAULT-VALUE}.")
    int maxLength;

    @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.of(model);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        DataSet d;
        try {
            // the options as a data section of run.yaml, checked by the same rules (messages name the option)
            DataSet.Builder b = DataSet.builder().set("format", format).set("train", List.of(data)).set("task", task)
                    .set("template", template).set("verbalizer", verbalizer).set("classes", classes)
                    .set("k_shot", kShot).set("seed", seed).set("max_examples", 0);
            d = b.build();
        } catch (ZotuneException e) {
            throw new ZotuneException(e.getMessage().replace("key 'data.", "--").replace("'", ""), e);
        }
        ObjectNode o = new ObjectMapper().createObjectNode();
        try (Model m = ModelSession.open(source, adapter, backend, err)) {
            EvalResult r = m.evaluate(d, maxLength, batchSize, seed);
            err.println("data: " + r.description());
            err.flush();
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
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(o.toString());
        out.flush();
        return 0;
    }
}
