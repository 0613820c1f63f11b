package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code zotune merge}: a LoRA adapter merged into its base model, written as a Hugging Face folder
 * ({@link Model#export}): what {@code peft.merge} writes into a run's model/, for an adapter trained without it.
 */
@Command(name = "merge",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Merges a LoRA adapter into its base model and writes the result as a Hugging Face folder "
                + "(model.safetensors, config.json, tokenizer files): W + (alpha/r)·B·A in double, rounded once to "
                + "the base's dtype, as peft.merge writes a run's model/. Decoders and encoders; a head run's adapter "
                + "adds its classifier and config.json's num_labels, id2label, label2id and zotune_pooling. A prefix "
                + "adapter does not merge into weights (refused). Runs on the CPU: no forward pass."})
public final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "The base model the adapter was trained on: a Hugging Face folder, a llama2.c .bin, or "
                    + "'bundled'.")
    String model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR",
            description = "A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors), e.g. a LoRA "
                    + "run's adapter/ or best/adapter/.")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "The folder to write (absent or empty).")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer file to copy; default: the model's.")
    Path tokenizer;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.of(model);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        Runs.requireExisting(adapter, "adapter");
        Runs.requireEmptyOutputFolder(out, "--out");
        if (source.isBundled()) {
            err.println(source.attribution());
        } else {
            Runs.requireExisting(Path.of(model), "model");
        }
        long t0 = System.nanoTime();
        try (Model m = Model.open(source, Device.CPU, Precision.F32, adapter)) {
            m.export(out);
            err.printf("merged %s (%s) into %s in %.2f s%n", adapter, m.adapterMethod(), out,
                    (System.nanoTime() - t0) / 1e9);
        }
        PrintWriter o = spec.commandLine().getOut();
        o.println("{\"out\":\"" + out.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
        o.flush();
        return 0;
    }
}
