package org.zotune.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.zotune.ZotuneException;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.ModelSource;
import org.zotune.api.ReplayResult;
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
                        + "run trained on, the weights equal the run's model/ bit for bit. A LoRA or prefix run's "
                        + "trajectory replays into a PEFT adapter folder, equal to the run's adapter/ bit for bit on "
                        + "the device it trained on. Decoders and encoders (BERT, RoBERTa) alike, every objective "
                        + "(objective head: the classifier as the run exported it)."})
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
                    + "bit for bit (cuda: the GPU engine's kernels), with the noise variant the trajectory records "
                    + "(key noise; a fast-noise trajectory needs cuda). Default: ${DEFAULT-VALUE}.")
    String device;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        ModelSource source = ModelSource.of(base);
        if (tokenizer != null) {
            source = source.withTokenizer(tokenizer);
        }
        if (source.isBundled()) {
            err.println(source.attribution());
        } else {
            Runs.requireExisting(Path.of(base), "base model");
        }
        Runs.requireExisting(trajectory, "trajectory");
        Runs.requireEmptyOutputFolder(out, "--out");
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw new ZotuneException("--device must be cpu or cuda, got '" + device + "'");
        }
        ReplayResult r = FineTune.replay(source, trajectory, out, device.equals("cpu") ? Device.CPU : Device.CUDA);
        err.printf("replayed %d steps in %.2f s%n", r.steps(), r.seconds());
        PrintWriter o = spec.commandLine().getOut();
        o.println("{\"steps\":" + r.steps() + ",\"out\":\"" + out.toString().replace("\\", "\\\\")
                .replace("\"", "\\\"") + "\"}");
        o.flush();
        return 0;
    }
}
