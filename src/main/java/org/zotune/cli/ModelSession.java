package org.zotune.cli;

import org.zotune.model.BundledModel;
import java.io.PrintWriter;
import java.util.Locale;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelInfo;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;

/** Opens a model through the API as the commands do: progress and the backend on stderr. */
final class ModelSession {
    private ModelSession() {
    }

    static Model open(ModelSource source, BackendOptions backend, PrintWriter err) {
        if (source.isBundled()) {
            err.println(source.attribution());
        } else {
            Runs.requireExisting(java.nio.file.Path.of(source.spelling()), "model");
        }
        if (source.tokenizer() != null) {
            Runs.requireExisting(source.tokenizer(), "tokenizer");
        }
        err.println("loading " + (source.isBundled() ? BundledModel.get().model() : source.spelling()) + " ...");
        err.flush();
        long t0 = System.nanoTime();
        Model m = Model.open(source, Device.valueOf(backend.device.toUpperCase(Locale.ROOT)),
                Precision.valueOf(backend.dtype.name()));
        if (m.fallbackReason() != null) {
            // as the backend factory says it for auto (stderr of the process, not the command's writer)
            System.err.println("zotune: no usable CUDA device (" + m.fallbackReason() + "); running on the CPU "
                    + "reference backend");
        }
        ModelInfo i = m.info();
        err.printf("model: %s, %d layers, hidden %d, vocab %d, %d positions, %s parameters (%.2f s)%n",
                i.modelType(), i.layers(), i.hiddenSize(), i.vocabSize(), i.maxPositions(),
                humanCount(i.parameters()), (System.nanoTime() - t0) / 1e9);
        err.flush();
        return m;
    }

    static String humanCount(long n) {
        if (n >= 1_000_000_000L) {
            return String.format("%.2fB", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format("%.1fM", n / 1e6);
        }
        if (n >= 1_000L) {
            return String.format("%.1fK", n / 1e3);
        }
        return Long.toString(n);
    }
}
