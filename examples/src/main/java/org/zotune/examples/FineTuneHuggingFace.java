package org.zotune.examples;

import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.api.Device;
import org.zotune.api.FineTune;
import org.zotune.api.FineTuneConfig;
import org.zotune.api.FineTuneResult;
import org.zotune.api.Generation;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;

/**
 * Fine-tunes a Hugging Face model folder (GPT-2, OPT, Llama: config.json, safetensors, tokenizer files) on text from
 * code, then exports the best weights as a Hugging Face folder that transformers' {@code from_pretrained} reads.
 * <p>
 * Usage: {@code FineTuneHuggingFace MODEL_DIR TRAIN.txt DEV.txt EXPORT_DIR [RUN_DIR]}. On the GPU when one is
 * usable (bfloat16), else on the CPU (float32, only sensible for small models).
 * <p>
 * TODO(issue 11, "Parameter-efficient ZO: LoRA and prefix tuning"): this is full fine-tuning, every weight trained
 * and exported. When LoRA lands, this example trains a LoRA set and exports the adapter (PEFT's
 * adapter_model.safetensors) instead of the whole model.
 */
public final class FineTuneHuggingFace {
    private FineTuneHuggingFace() {
    }

    public static void main(String[] args) {
        if (args.length < 4) {
            System.err.println("usage: FineTuneHuggingFace MODEL_DIR TRAIN.txt DEV.txt EXPORT_DIR [RUN_DIR]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        Path export = Path.of(args[3]);
        Path out = args.length >= 5 ? Path.of(args[4]) : Path.of("target", "runs", "hf");
        try {
            boolean gpu;
            try (Model probe = Model.open(ModelSource.of(model), Device.AUTO, Precision.F32)) {
                gpu = probe.fallbackReason() == null && probe.backend().startsWith("cuda");
                System.out.println("model: " + probe.info());
            }
            FineTuneConfig config = FineTuneConfig.builder()
                    .model(ModelSource.of(model))
                    .textData(Path.of(args[1]), Path.of(args[2]))
                    .optimizer("zo-sgd").lr(1e-6).eps(1e-3)
                    .steps(500).batchSize(8).maxLength(256).evalEvery(100)
                    .device(gpu ? Device.CUDA : Device.CPU).dtype(gpu ? Precision.BF16 : Precision.F32)
                    .out(out)
                    .build();
            FineTuneResult r = FineTune.of(config).withOverwrite().run();
            System.out.printf("dev loss: before %.4f, after %.4f; best step %d%n", r.initialDev().loss(),
                    r.finalDev().loss(), r.bestStep());

            // the best-on-dev weights, checked once more and written where the caller asked
            try (Model tuned = Model.open(ModelSource.of(r.bestDir()), Device.AUTO, Precision.F32)) {
                System.out.println(tuned.generate("The", Generation.greedy(30)));
                tuned.export(export);
            }
            System.out.println("exported: " + export);
        } catch (ZotuneException e) {
            System.err.println("error: " + e.getMessage()); // one line naming the file or key at fault
            System.exit(2);
        }
    }
}
