/**
 * zotune's public Java API; every other package is internal and may change without notice.
 * <p>
 * Open a model and ask it things ({@link org.zotune.api.Model}: tokenize, score, logits, generate for decoders;
 * fill-mask and sentence embeddings for encoders such as BERT and RoBERTa), or fine-tune one
 * with forward passes only ({@link org.zotune.api.FineTuneConfig} with the same keys and defaults as run.yaml,
 * {@link org.zotune.api.FineTune} to run it, {@link org.zotune.api.FineTuneListener} to watch or stop it):
 * <pre>{@code
 * FineTuneConfig config = FineTuneConfig.builder()
 *         .model(ModelSource.bundled())                        // stories260K, inside the jar
 *         .textData(Path.of("train.txt"), Path.of("heldout.txt"))
 *         .optimizer("zo-adamu").lr(3e-4).set("optimizer.schedule", "linear")
 *         .steps(200).batchSize(8).maxLength(64).evalEvery(50)
 *         .out(Path.of("runs/austen"))
 *         .build();
 * FineTuneResult r = FineTune.of(config)
 *         .withListener(new FineTuneListener() {
 *             public Decision onEvaluation(Evaluation e) {
 *                 System.out.printf("step %d: held-out loss %.4f%n", e.step(), e.loss());
 *                 return Decision.CONTINUE;
 *             }
 *         })
 *         .run();                                              // or start() on a background thread
 * try (Model tuned = Model.open(ModelSource.of(r.modelDir()), Device.AUTO, Precision.F32)) {
 *     System.out.println(tuned.generate("Once upon a time", Generation.greedy(50)));
 * }
 * }</pre>
 * <p>
 * Errors in the caller's input (a missing file, an unknown key, an unusable device) are
 * {@link org.zotune.ZotuneException}s, unchecked, whose message is one line naming the file or key and what is wrong:
 * the same messages the {@code zotune} command line prints. Values (records, configs, {@link org.zotune.api.FineTune})
 * are immutable and thread-safe; a {@link org.zotune.api.Model} holds device memory (close it) and is used by one
 * thread at a time. There is no global state to set up: the CUDA context is created on first use.
 */
package org.zotune.api;
