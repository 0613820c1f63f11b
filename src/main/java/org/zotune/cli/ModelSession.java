package org.zotune.cli;

import java.io.PrintWriter;
import java.util.Locale;
import org.zotune.ZotuneException;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelInfo;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.model.BundledModel;

/**
 * Opens a model through the API as the commands do: progress and the backend on stderr, and the command's kind of
 * model (a decoder for perplexity, generate; an encoder for fill-mask, embed; either for eval) or one line naming the
 * others.
 */
final class ModelSession {
    private ModelSession() {
    }

    /** A decoder (GPT-2, OPT, Llama); an encoder is refused in one line naming fill-mask and embed. */
    static Model open(ModelSource source, BackendOptions backend, PrintWriter err) {
        return open(source, null, backend, err);
    }

    /** {@link #open(ModelSource, BackendOptions, PrintWriter)} with a PEFT adapter folder (LoRA or prefix) or null. */
    static Model open(ModelSource source, java.nio.file.Path adapter, BackendOptions backend, PrintWriter err) {
        if (adapter != null) {
            Runs.requireExisting(adapter, "adapter");
        }
        Model m = load(source, adapter, backend, err);
        ModelInfo i = m.info();
        if (i.encoder()) {
            m.close();
            throw new ZotuneException(source.spelling() + ": a " + i.modelType() + " encoder (masked language model) "
                    + "cannot run here, which needs a causal language model; use zotune fill-mask or zotune embed");
        }
        return m;
    }

    /** A model of either kind (eval: a decoder's candidates, an encoder's objectives), with an adapter or null. */
    static Model openAny(ModelSource source, java.nio.file.Path adapter, BackendOptions backend, PrintWriter err) {
        if (adapter != null) {
            Runs.requireExisting(adapter, "adapter");
        }
        return load(source, adapter, backend, err);
    }

    /** An encoder (BERT, RoBERTa); a decoder is refused in one line naming perplexity and generate. */
    static Model openEncoder(ModelSource source, BackendOptions backend, PrintWriter err) {
        return openEncoder(source, null, backend, err);
    }

    /** {@link #openEncoder(ModelSource, BackendOptions, PrintWriter)} with a PEFT adapter folder or null. */
    static Model openEncoder(ModelSource source, java.nio.file.Path adapter, BackendOptions backend, PrintWriter err) {
        if (adapter != null) {
            Runs.requireExisting(adapter, "adapter");
        }
        Model m = load(source, adapter, backend, err);
        ModelInfo i = m.info();
        if (!i.encoder()) {
            m.close();
            throw new ZotuneException(source.spelling() + ": a " + i.modelType() + " decoder (causal language model), "
                    + "not an encoder; use zotune perplexity or zotune generate");
        }
        return m;
    }

    private static Model load(ModelSource source, java.nio.file.Path adapter, BackendOptions backend,
            PrintWriter err) {
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
                Precision.valueOf(backend.dtype.name()), adapter);
        if (m.fallbackReason() != null) {
            // as the backend factory says it for auto (stderr of the process, not the command's writer)
            System.err.println("zotune: no usable CUDA device (" + m.fallbackReason() + "); running on the CPU "
                    + "reference backend");
        }
        if (adapter != null) {
            err.println("adapter: " + adapter + ("prefix".equals(m.adapterMethod()) ? " (prefix)" : " (LoRA)"));
        }
        ModelInfo i = m.info();
        if (i.encoder()) {
            err.printf("model: %s encoder, %d layers, hidden %d, vocab %d%s, %d positions, %s parameters (%.2f s)%n",
                    i.modelType(), i.layers(), i.hiddenSize(), i.vocabSize(), m.hasMaskedLmHead() ? ", MLM head" : "",
                    i.maxPositions(), humanCount(i.parameters()), (System.nanoTime() - t0) / 1e9);
        } else {
            err.printf("model: %s, %d layers, hidden %d, vocab %d, %d positions, %s parameters (%.2f s)%n",
                    i.modelType(), i.layers(), i.hiddenSize(), i.vocabSize(), i.maxPositions(),
                    humanCount(i.parameters()), (System.nanoTime() - t0) / 1e9);
        }
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
