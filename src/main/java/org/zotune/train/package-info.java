/**
 * The fine-tuning pipeline: a run's config, the ZO engine seam, the training loop and its run folder.
 * <ul>
 *   <li>{@link org.zotune.train.TrainConfig}: {@code run.yaml} as records (snake_case keys, defaults, one-line errors
 *       naming the key and the valid choices, choices as enums), bound by
 *       {@link org.zotune.train.config.RecordBinder}; CLI overrides as {@code dotted.key=value}. Its sections
 *       (data, optimizer, peft, parallel, dfo) are records of their own in {@link org.zotune.train.config}.</li>
 *   <li>{@link org.zotune.train.ZoEngine}: what the trainer asks of an engine (a step on micro-batches, evaluation
 *       with the current θ, θ as host tensors, resumable state). {@link org.zotune.train.CpuZoEngine} is the
 *       reference (the same bits as {@link org.zotune.zo.optim.ZoStep}); {@link org.zotune.train.CudaZoEngine} runs
 *       the step on the GPU ({@link org.zotune.zo.cuda.DeviceZoStep}: the captured step for the lm objective, the
 *       eager step with host-formed g for the others and for several micro-batches; any q);
 *       {@link org.zotune.train.ZoEngines} picks one for {@code device: cpu | cuda | auto}.</li>
 *   <li>{@link org.zotune.train.TrainData}: files to encoded train / dev / test examples (readers, k-shot, splits,
 *       templates, truncation to {@code max_length}).</li>
 *   <li>{@link org.zotune.train.Trainer}: the loop (steps, evaluation, progress bar) over the run's parts in
 *       {@link org.zotune.train.run}: {@link org.zotune.train.run.RunFolder} (the folder's rules and files),
 *       {@link org.zotune.train.run.MetricsLog} ({@code metrics.jsonl}, {@code summary.json}, plots) and
 *       {@link org.zotune.train.run.BestTracker} (best-on-dev weights, early stopping).</li>
 *   <li>{@link org.zotune.train.Checkpoints} (atomic, resumable bit for bit), {@link org.zotune.train.HfExport}
 *       (Hugging Face folders), {@link org.zotune.train.Trajectory} and {@link org.zotune.train.Replay} (weights
 *       rebuilt from seeds and projected gradients, no forward pass).</li>
 * </ul>
 * The objectives and the evaluator live in {@link org.zotune.train.objective}.
 */
package org.zotune.train;
