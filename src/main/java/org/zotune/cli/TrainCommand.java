package org.zotune.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.zotune.api.FineTune;
import org.zotune.api.FineTuneConfig;
import org.zotune.api.FineTuneResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune train}: a ZO fine-tuning run from a YAML config. */
@Command(name = "train",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Fine-tunes a model with a zeroth-order optimiser (forward passes only), as run.yaml says.",
                "Writes the run folder (key out): run.json, metrics.jsonl, trajectory.jsonl, checkpoint/, model/ "
                        + "(Hugging Face weights), best/, summary.json, plots/. Every key is described in the README; "
                        + "flags override keys."})
public final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", required = true, paramLabel = "FILE", description = "The run's YAML config.")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a key (dotted for nested keys, value in YAML syntax), e.g. --set optimizer.lr=1e-4;"
                    + " repeatable.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--model", paramLabel = "PATH", description = "Override key model.")
    String model;

    @Option(names = "--out", paramLabel = "DIR", description = "Override key out (the run folder).")
    String out;

    @Option(names = "--steps", paramLabel = "N", description = "Override key steps.")
    Integer steps;

    @Option(names = "--lr", paramLabel = "RATE", description = "Override key optimizer.lr.")
    Double lr;

    @Option(names = "--optimizer", paramLabel = "NAME", description = "Override key optimizer.name "
            + "(zo-sgd, zo-sgd-mmt, zo-adam, zo-adamu).")
    String optimizer;

    @Option(names = "--seed", paramLabel = "S", description = "Override key seed.")
    Long seed;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", description = "Override key device.")
    String device;

    @Option(names = "--dtype", paramLabel = "f32|bf16|f16", description = "Override key dtype.")
    String dtype;

    @Option(names = "--noise", paramLabel = "auto|exact|fast", description = "Override key noise: how the CUDA "
            + "engine evaluates the Gaussian noise (auto: fast on CUDA, exact on the CPU).")
    String noise;

    @Option(names = "--workers", paramLabel = "N", description = "Override key parallel.workers (data-parallel "
            + "CPU replicas).")
    Integer workers;

    @Option(names = "--gpus", paramLabel = "N", description = "Override key parallel.gpus (data-parallel GPU "
            + "replicas over NCCL, one per device 0 … N-1).")
    Integer gpus;

    @Option(names = "--world-size", paramLabel = "W", description = "Override key parallel.world_size: the "
            + "processes of a run over several processes or hosts, one GPU each (with --rank and --init).")
    Integer worldSize;

    @Option(names = "--rank", paramLabel = "R", description = "Override key parallel.rank: this process's rank, "
            + "0 … W-1 (rank 0 writes the run folder).")
    Integer rank;

    @Option(names = "--local-rank", paramLabel = "L", description = "Override key parallel.local_rank: this "
            + "process's GPU among the visible ones (default: rank modulo the visible GPUs).")
    Integer localRank;

    @Option(names = "--init", paramLabel = "URL", description = "Override key parallel.init: the rendezvous, "
            + "file:///shared/path, tcp://HOST:PORT (rank 0's host) or env:// (RANK, WORLD_SIZE, LOCAL_RANK, "
            + "MASTER_ADDR, MASTER_PORT).")
    String init;

    @Option(names = "--resume", description = "Continue the run in the out folder from its last checkpoint "
            + "(bitwise as if it had never stopped).")
    boolean resume;

    @Option(names = "--overwrite", description = "Replace the run already in the out folder.")
    boolean overwrite;

    @Option(names = "--stop-after", paramLabel = "T", description = "Stop after step T with a checkpoint "
            + "(continue later with --resume).")
    long stopAfter;

    @Option(names = "--merge", description = "LoRA runs: also write the merged full weights W + (alpha/r)·B·A to "
            + "model/ (and best/) as a Hugging Face folder (key peft.merge).")
    boolean merge;

    @Option(names = "--no-progress", description = "No progress bar on stderr.")
    boolean noProgress;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        List<String> overrides = new ArrayList<>(sets);
        add(overrides, "model", model);
        add(overrides, "out", out);
        add(overrides, "steps", steps);
        add(overrides, "optimizer.lr", lr);
        add(overrides, "optimizer.name", optimizer);
        add(overrides, "seed", seed);
        add(overrides, "device", device);
        add(overrides, "parallel.workers", workers);
        add(overrides, "parallel.gpus", gpus);
        add(overrides, "dtype", dtype);
        add(overrides, "noise", noise);
        add(overrides, "parallel.world_size", worldSize);
        add(overrides, "parallel.rank", rank);
        add(overrides, "parallel.local_rank", localRank);
        add(overrides, "parallel.init", init);
        if (merge) {
            overrides.add("peft.merge=true");
        }
        FineTuneConfig c = FineTuneConfig.read(Runs.requireExisting(config, "config"), overrides);
        FineTune run = FineTune.of(c).withLog(err).withProgressBar(!noProgress).withStopAfter(stopAfter);
        run = resume ? run.withResume() : run;
        run = overwrite ? run.withOverwrite() : run;
        FineTuneResult s = run.run();
        stdout.println(Runs.summaryLine(s));
        stdout.flush();
        return 0;
    }

    private static void add(List<String> overrides, String key, Object value) {
        if (value != null) {
            overrides.add(key + "=" + value);
        }
    }
}
