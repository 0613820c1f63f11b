package org.zotune.examples;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.FineTuneConfig;
import org.zotune.api.FineTuneListener;
import org.zotune.api.FineTuneResult;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;

/**
 * Fine-tunes the bundled stories260K model on Jane Austen with ZO-AdaMU (forward passes only) and prints the
 * held-out loss before and after; about a minute on two CPU cores.
 * <p>
 * Usage: {@code FineTuneBundled [TRAIN.txt HELDOUT.txt [RUN_DIR]]}. Without arguments it trains on the Austen
 * excerpt shipped in the zotune jar (the one {@code zotune demo} uses) into {@code target/runs/bundled}.
 */
public final class FineTuneBundled {
    private FineTuneBundled() {
    }

    public static void main(String[] args) throws IOException {
        Path train;
        Path heldout;
        if (args.length >= 2) {
            train = Path.of(args[0]);
            heldout = Path.of(args[1]);
        } else {
            Path data = Files.createDirectories(Path.of("target", "data"));
            train = copyAusten("train.txt", data);
            heldout = copyAusten("heldout.txt", data);
        }
        Path out = args.length >= 3 ? Path.of(args[2]) : Path.of("target", "runs", "bundled");

        FineTuneConfig config = FineTuneConfig.builder()
                .model(ModelSource.bundled())
                .textData(train, heldout)
                .optimizer("zo-adamu").lr(3e-4).set("optimizer.schedule", "linear").eps(1e-3)
                .steps(120).batchSize(8).maxLength(64).evalEvery(40)
                .device(Device.CPU).dtype(Precision.F32)
                .seed(1)
                .out(out)
                .build();

        FineTuneResult r = FineTune.of(config)
                .withOverwrite()                   // the example's own run folder, replaced on each run
                .withProgressBar(false)
                .withListener(new FineTuneListener() {
                    @Override
                    public Decision onEvaluation(org.zotune.api.Evaluation e) {
                        System.out.printf("step %3d: %s loss %.4f%n", e.step(), e.split(), e.loss());
                        return Decision.CONTINUE;
                    }
                })
                .run();

        System.out.printf("held-out loss: before %.4f, after %.4f (%d steps, %.1f s on the CPU)%n",
                r.initialDev().loss(), r.finalDev().loss(), r.steps(), r.seconds());
        System.out.println("weights: " + r.modelDir());
        System.out.println("report:  " + r.report());
    }

    /** The public-domain Austen excerpt inside the zotune jar, copied to a file the data loader reads. */
    private static Path copyAusten(String name, Path dir) throws IOException {
        try (InputStream in = FineTune.class.getResourceAsStream("/org/zotune/data/janeausten/" + name)) {
            if (in == null) {
                throw new IOException("the zotune jar has no bundled " + name);
            }
            Path p = dir.resolve(name);
            Files.write(p, in.readAllBytes());
            return p;
        }
    }
}
