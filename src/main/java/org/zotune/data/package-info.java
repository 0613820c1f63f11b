/**
 * Data for fine-tuning: reading data sets, sampling them, turning examples into prompts and prompts into token
 * batches. The objectives that score those batches live in {@link org.zotune.train.objective}.
 *
 * <h2>The example model</h2>
 * Every reader returns a {@link org.zotune.data.Dataset}: a {@link org.zotune.data.Dataset.Kind kind}
 * (classification, multiple choice, language model, regression), its class names, the text fields a template must
 * use, and {@link org.zotune.data.Example}s ({@code file:line}, named text fields, the gold label as an index,
 * the options of a multiple-choice example).
 *
 * <h2>Readers ({@link org.zotune.data.io})</h2>
 * <ul>
 *   <li>{@link org.zotune.data.io.TableReader}: GLUE TSV with a header, columns by name (SST-2: sentence, label);
 *       any tab/comma table through a {@link org.zotune.data.io.TableLayout}.</li>
 *   <li>{@link org.zotune.data.io.LabelSentenceReader}: {@code label sentence} files (SST-2/SST-5 sentences, MR,
 *       CR, MPQA, SUBJ, TREC).</li>
 *   <li>{@link org.zotune.data.io.KShotReader}: LM-BFF's {@code <TASK>/<k>-<seed>/} folders, each task's
 *       column layout built in.</li>
 *   <li>{@link org.zotune.data.io.SuperGlueReader}: SuperGLUE JSON Lines for BoolQ, CB, COPA, RTE, WiC.</li>
 *   <li>{@link org.zotune.data.io.ZotuneJsonlReader}: zotune's JSON Lines: {@code {"text","label"}},
 *       {@code {"context","options","answer"}}, {@code {"prompt","completion"}}, {@code {"text"}}.</li>
 *   <li>{@link org.zotune.data.io.TextCorpus}: plain text cut into fixed-length token chunks.</li>
 * </ul>
 * A malformed row fails with one line {@code file:line: reason}; with {@link org.zotune.data.ReadOptions#skipBad()}
 * it is skipped and listed in {@link org.zotune.data.Dataset#skipped()}. A missing file, or a data set left with no
 * examples, is a one-line error naming the file. Files are UTF-8, or Latin-1 when they are not valid UTF-8.
 *
 * <h2>Sampling ({@link org.zotune.data.split})</h2>
 * Seeded Fisher–Yates over SplitMix64 ({@link org.zotune.data.split.Shuffle}); k examples per class; train / dev /
 * test splits including MeZO's 1000 / 500 / 1000 ({@link org.zotune.data.split.Sampling}); the examples of training
 * step t as a pure function of the seed ({@link org.zotune.data.split.BatchSampler}).
 *
 * <h2>Prompts ({@link org.zotune.data.prompt})</h2>
 * Built-in decoder templates and verbalizers for SST-2, SST-5, TREC, RTE, CB, BoolQ, COPA, WiC
 * ({@link org.zotune.data.prompt.Templates}); user templates are patterns with {@code {field}} placeholders ending
 * in {@code {label}} (with a verbalizer) or {@code {option}} ({@link org.zotune.data.prompt.PatternTemplate}).
 *
 * <h2>Batches ({@link org.zotune.data.batch})</h2>
 * {@link org.zotune.data.batch.PromptEncoder} tokenises prompt and candidates and truncates (the prompt from the
 * left, keeping BOS; never an answer); {@link org.zotune.data.batch.PromptBatch} right-pads every candidate row into
 * a {@link org.zotune.model.Batch} with per-token labels (the answer tokens, -1 elsewhere; the objectives turn them
 * into the targets of their model's logits).
 */
package org.zotune.data;
