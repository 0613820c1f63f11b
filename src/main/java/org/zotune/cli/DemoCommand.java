package org.zotune.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.FineTune;
import org.zotune.api.FineTuneConfig;
import org.zotune.api.FineTuneResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code zotune demo}: ZO-AdaMU fine-tunes the bundled stories260K (TinyStories) on bundled Jane Austen text and
 * shows its loss on held-out Austen before and after.
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Fine-tunes the bundled stories260K model on bundled Jane Austen text with ZO-AdaMU "
                + "(forward passes only; on the GPU when one is usable, else on the CPU), then prints the held-out loss "
                + "before and after.",
                "Train text: the opening chapters of Pride and Prejudice and Emma; held out: Persuasion "
                        + "(public domain). Takes about a minute on two cores.",
                "Tuned: 200 steps at lr 3e-4 with linear decay, eps 1e-3, batches of 8 chunks of 64 tokens."})
public final class DemoCommand implements Callable<Integer> {
    static final String RESOURCE_DIR = "/org/zotune/data/janeausten/";

    @Spec
    CommandSpec spec;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "" + DemoCommand.STEPS,
            description = "Optimiser steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--lr", paramLabel = "RATE", defaultValue = "" + DemoCommand.LR,
            description = "ZO-AdaMU learning rate (default: ${DEFAULT-VALUE}; its steps are sign-like).")
    double lr;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Keep the run folder here (default: a temporary folder, removed at exit).")
    Path out;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", defaultValue = "auto",
            converter = BackendOptions.DeviceConverter.class,
            description = "Where to train: cpu, cuda, or auto (the GPU when usable). Default: ${DEFAULT-VALUE}.")
    String device;

    static final int STEPS = 200;
    static final double LR = 3e-4;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        if (steps < 1) {
            throw new ZotuneException("--steps must be >= 1, got " + steps);
        }
        Path data = Files.createTempDirectory("zotune-demo-data-");
        Path train = extract("train.txt", data);
        Path heldout = extract("heldout.txt", data);
        Path run = out;
        if (run == null) {
            run = Files.createTempDirectory("zotune-demo-run-");
        }
        String yaml = String.join("\n",
                "model: bundled",
                "data:",
                "  format: text",
                "  train: " + quote(train),
                "  dev: " + quote(heldout),
                "objective: lm",
                "optimizer:",
                "  name: zo-adamu",
                "  lr: " + lr,
                "  schedule: linear",
                "eps: 1e-3",
                "steps: " + steps,
                "batch_size: 8",
                "max_length: 64",
                "eval_batch_size: 32",
                "eval_every: 50",
                "device: " + device,
                "out: " + quote(run),
                "seed: 1", "");
        FineTuneConfig c = FineTuneConfig.parse("demo config", yaml, List.of());
        err.println("demo: ZO-AdaMU on stories260K, " + steps + " steps, lr " + lr + " (linear decay), eps 1e-3");
        FineTuneResult s = FineTune.of(c).withLog(err).withProgressBar(!noProgress).run();
        stdout.printf("held-out loss (Persuasion): before %.4f, after %.4f (%d steps, %.1f s)%n",
                s.initialDev().loss(), s.finalDev().loss(), s.steps(), s.seconds());
        stdout.println(Runs.summaryLine(s));
        stdout.flush();
        if (out == null) {
            deleteOnExit(run);
        }
        deleteOnExit(data);
        return 0;
    }

    private static String quote(Path p) {
        return "'" + p.toAbsolutePath().toString().replace("'", "''") + "'";
    }

    private static Path extract(String name, Path dir) throws IOException {
        try (InputStream in = DemoCommand.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                throw new IOException("resource " + RESOURCE_DIR + name + " is missing from the classpath");
            }
            Path target = dir.resolve(name);
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            return target;
        }
    }

    private static void deleteOnExit(Path dir) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try (var w = Files.walk(dir)) {
                for (Path p : w.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }));
    }
}
