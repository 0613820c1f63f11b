package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import org.zotune.ZotuneException;
import org.zotune.api.Generation;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.model.Generator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune generate}: autoregressive text generation, streamed to stdout as tokens arrive. */
@Command(name = "generate",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Generates text from a prompt (or from the BOS token), printing it as it is produced.",
                "Without --model it runs the bundled stories260K model (by Andrej Karpathy, MIT licence).",
                "Decoding is greedy unless --temperature is given. Progress and speed go to stderr."})
public final class GenerateCommand implements Callable<Integer> {
    static final int DEFAULT_MAX_TOKENS = 256;

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH",
            description = "Model: a Hugging Face folder (config.json + safetensors) or a llama2.c .bin file. "
                    + "Default: the bundled stories260K.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR",
            description = "A PEFT adapter to apply (LoRA or prefix tuning): a Hugging Face PEFT adapter folder "
                    + "(adapter_config.json + adapter_model.safetensors), e.g. a LoRA or prefix run's adapter/.")
    Path adapter;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Tokenizer file (tokenizer.json, vocab.json, llama2.c tokenizer.bin / tok*.bin); "
                    + "default: the one beside or inside the model.")
    Path tokenizer;

    @Option(names = "--prompt", paramLabel = "TEXT",
            description = "Text to continue (encoded with the tokenizer's special tokens). Default: start from BOS.")
    String prompt;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "" + DEFAULT_MAX_TOKENS,
            description = "Most tokens to generate; generation also stops at the EOS token and at the model's "
                    + "maximum positions. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--greedy", description = "Pick the most likely token at each step (the default).")
    boolean greedy;

    @Option(names = "--temperature", paramLabel = "T",
            description = "Sample from softmax(logits / T) instead of decoding greedily (T > 0).")
    Float temperature;

    @Option(names = "--seed", paramLabel = "S",
            description = "Sampling seed (with --temperature); the same seed gives the same text on the same "
                    + "device. Default: a random seed, printed on stderr.")
    Long seed;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Generator.Sampling sampling = sampling(err);
        if (maxTokens < 1) {
            throw new ZotuneException("--max-tokens must be at least 1, got " + maxTokens);
        }
        Generation generation = sampling.argmaxDecoding() ? Generation.greedy(maxTokens)
                : Generation.sampled(maxTokens, sampling.temperature(), sampling.seed());

        ModelSource source = model == null ? ModelSource.bundled() : ModelSource.of(model);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        int[] generated;
        long t0;
        long t1;
        try (Model m = ModelSession.open(source, adapter, backend, err)) {
            int[] promptIds = prompt != null ? m.tokenize(prompt) : new int[0];
            if (promptIds.length == 0) {
                int bos = m.bosId();
                if (bos < 0) {
                    throw new ZotuneException("model " + source.spelling() + " has no BOS token to start from: give "
                            + "--prompt");
                }
                promptIds = new int[] {bos};
            }
            m.checkPrompt(promptIds);
            err.println("backend: " + m.backend());
            err.flush();
            TokenPrinter printer = new TokenPrinter(m::decode, promptIds, out);
            t0 = System.nanoTime();
            generated = m.generate(promptIds, generation, printer::accept);
            t1 = System.nanoTime();
            printer.finish();
        }
        double s = (t1 - t0) / 1e9;
        err.printf("%d tokens in %.2f s (%.1f tokens/s)%n", generated.length, s, generated.length / Math.max(s, 1e-9));
        err.flush();
        return 0;
    }

    private Generator.Sampling sampling(PrintWriter err) {
        if (temperature == null) {
            if (seed != null) {
                throw new ZotuneException("--seed applies to sampling: give --temperature T as well");
            }
            return Generator.Sampling.argmax();
        }
        if (greedy) {
            throw new ZotuneException("--greedy and --temperature exclude each other: use --greedy for argmax "
                    + "decoding or --temperature T [--seed S] for sampling");
        }
        if (!(temperature > 0f) || Float.isInfinite(temperature)) {
            throw new ZotuneException("--temperature must be a positive number, got " + temperature);
        }
        long s = seed != null ? seed : ThreadLocalRandom.current().nextLong(1L << 31);
        if (seed == null) {
            err.println("sampling with temperature " + temperature + ", seed " + s + " (pass --seed " + s
                    + " to repeat)");
        }
        return new Generator.Sampling(false, temperature, s);
    }
}
