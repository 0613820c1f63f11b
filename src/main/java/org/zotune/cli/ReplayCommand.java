package org.zotune.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.zotune.ZotuneException;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.tensor.HostTensor;
import org.zotune.train.HfExport;
import org.zotune.train.Replay;
import org.zotune.train.Trajectory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code zotune replay}: rebuilds fine-tuned weights from the base model and a seed trajectory. */
@Command(name = "replay",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {"Rebuilds a run's fine-tuned weights from the base model and its trajectory.jsonl, without a "
                + "forward pass: each step's update is regenerated from its seed and projected gradient(s).",
                "Writes a Hugging Face folder (model.safetensors, config.json, tokenizer files); on the device the "
                        + "run trained on, the weights equal the run's model/ bit for bit."})
public final class ReplayCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--base", required = true, paramLabel = "MODEL",
            description = "The model the run started from (its 'model' key), or 'bundled'.")
    String base;

    @Option(names = "--trajectory", required = true, paramLabel = "FILE", description = "The run's trajectory.jsonl.")
    Path trajectory;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where to write the weights.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer file to copy; default: the base's.")
    Path tokenizer;

    @Option(names = "--device", paramLabel = "cpu|cuda", defaultValue = "cpu",
            description = "Where the updates are re-applied: the device the run trained on reproduces its weights "
                    + "bit for bit (cuda: the GPU engine's kernels). Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        Path basePath;
        Path tok = tokenizer;
        if (base.equals("bundled")) {
            BundledModel b = BundledModel.get();
            err.println(b.attribution());
            basePath = b.model();
            tok = tok == null ? b.tokenizer() : tok;
        } else {
            basePath = ModelSession.requireExisting(Path.of(base), "base model");
        }
        ModelSession.requireExisting(trajectory, "trajectory");
        if (Files.isDirectory(out)) {
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent()) {
                    throw new ZotuneException("--out " + out + " is not empty");
                }
            }
        } else if (Files.exists(out)) {
            throw new ZotuneException("--out " + out + " is a file");
        }
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("--device must be cpu or cuda, got '" + device + "'");
        }
        Trajectory.Read tr = Trajectory.read(trajectory);
        LoadedModel loaded = ModelLoader.load(basePath);
        long t0 = System.nanoTime();
        List<HostTensor> theta = Replay.run(loaded, tr, device);
        HfExport.write(out, basePath, tok, loaded.config(), theta, Map.of("format", "pt", "zotune_step",
                Long.toString(tr.steps().size())));
        err.printf("replayed %d steps in %.2f s%n", tr.steps().size(), (System.nanoTime() - t0) / 1e9);
        PrintWriter o = spec.commandLine().getOut();
        o.println("{\"steps\":" + tr.steps().size() + ",\"out\":\"" + out.toString().replace("\\", "\\\\")
                .replace("\"", "\\\"") + "\"}");
        o.flush();
        return 0;
    }
}
