package org.zotune.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;
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
 * code with LoRA (rank 8, alpha 16, on the attention's q and v projections; the base stays frozen), then exports the
 * best adapter as a Hugging Face PEFT adapter folder (adapter_config.json + adapter_model.safetensors) that
 * {@code peft}'s {@code PeftModel.from_pretrained(base, EXPORT_DIR)} reads, and, as a check, scores a text with the
 * base and with the adapter loaded back.
 * <p>
 * Usage: {@code FineTuneHuggingFace MODEL_DIR TRAIN.txt DEV.txt EXPORT_DIR [RUN_DIR] [full]}. LoRA trains on the
 * CPU engine (float32); pass {@code full} to fine-tune every weight instead (on the GPU when one is usable, in
 * bfloat16) and export a whole Hugging Face model folder.
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
        boolean full = args.length >= 6 && args[5].equals("full");
        try {
            boolean gpu;
            try (Model probe = Model.open(ModelSource.of(model), Device.AUTO, Precision.F32)) {
                gpu = probe.fallbackReason() == null && probe.backend().startsWith("cuda");
                System.out.println("model: " + probe.info());
            }
            FineTuneConfig.Builder b = FineTuneConfig.builder()
                    .model(ModelSource.of(model))
                    .textData(Path.of(args[1]), Path.of(args[2]))
                    .steps(500).batchSize(8).maxLength(256).evalEvery(100)
                    .out(out);
            if (full) {
                b.optimizer("zo-sgd").lr(1e-6).eps(1e-3)
                        .device(gpu ? Device.CUDA : Device.CPU).dtype(gpu ? Precision.BF16 : Precision.F32);
            } else {
                // adapters train on the CPU engine; ZO-Adam's rates suit the small adapter set (cf. MeZO-LoRA)
                b.lora(8, 16, List.of("q", "v")).optimizer("zo-adam").lr(1e-4).eps(1e-2)
                        .device(Device.CPU).dtype(Precision.F32);
            }
            FineTuneResult r = FineTune.of(b.build()).withOverwrite().run();
            System.out.printf("dev loss: before %.4f, after %.4f; best step %d%n", r.initialDev().loss(),
                    r.finalDev().loss(), r.bestStep());

            if (full) {
                // the best-on-dev weights, checked once more and written where the caller asked
                try (Model tuned = Model.open(ModelSource.of(r.bestDir()), Device.AUTO, Precision.F32)) {
                    System.out.println(tuned.generate("The", Generation.greedy(30)));
                    tuned.export(export);
                }
            } else {
                // the best-on-dev adapter, copied where the caller asked, then loaded back onto the base
                copyFolder(r.bestAdapterDir(), export);
                String text = "It is a truth universally acknowledged.";
                try (Model base = Model.open(ModelSource.of(model), Device.CPU, Precision.F32);
                        Model tuned = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, export)) {
                    System.out.printf("loss of \"%s\": base %.4f, with the adapter %.4f%n", text,
                            base.score(text).loss(), tuned.score(text).loss());
                }
            }
            System.out.println("exported: " + export);
        } catch (ZotuneException e) {
            System.err.println("error: " + e.getMessage()); // one line naming the file or key at fault
            System.exit(2);
        } catch (IOException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    /** Copies the adapter's files (a flat folder) into {@code to}, which is created. */
    private static void copyFolder(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, to.resolve(f.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
