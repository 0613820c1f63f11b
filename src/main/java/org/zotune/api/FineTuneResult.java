package org.zotune.api;

import java.nio.file.Path;

/**
 * How a run ended (also written as the run folder's summary.json). Immutable.
 *
 * @param steps         the steps done
 * @param stopped       completed, early-stopping, stop-after or listener
 * @param initialDev    the dev evaluation before training, or null without a dev set
 * @param finalDev      the last dev evaluation, or null
 * @param finalTest     the test evaluation of the final weights, or null
 * @param bestStep      the step of the best dev metric, or -1
 * @param lastTrainLoss the last step's training loss
 * @param skippedSteps  steps the bad-step guard skipped
 * @param seconds       the run's wall time
 * @param runDir        the run folder
 */
public record FineTuneResult(long steps, String stopped, Evaluation initialDev, Evaluation finalDev,
        Evaluation finalTest, long bestStep, double lastTrainLoss, long skippedSteps, double seconds, Path runDir) {

    /** The final weights: a Hugging Face folder that {@link Model#open} reads. */
    public Path modelDir() {
        return runDir.resolve("model");
    }

    /** The best-on-dev weights (a Hugging Face folder), written when the run has a dev set. */
    public Path bestDir() {
        return runDir.resolve("best");
    }

    /**
     * A LoRA or prefix run's final adapter: a Hugging Face PEFT adapter folder (peft_type LORA or PREFIX_TUNING)
     * that {@link Model#open(ModelSource, Device, Precision, Path)} and PEFT's {@code PeftModel.from_pretrained}
     * read.
     */
    public Path adapterDir() {
        return runDir.resolve("adapter");
    }

    /** A LoRA or prefix run's best-on-dev adapter (a PEFT adapter folder), written when the run has a dev set. */
    public Path bestAdapterDir() {
        return bestDir().resolve("adapter");
    }

    /** The seed trajectory that {@link FineTune#replay} turns back into the weights. */
    public Path trajectory() {
        return runDir.resolve("trajectory.jsonl");
    }

    /** The self-contained HTML report of the run (config, summary, curves). */
    public Path report() {
        return runDir.resolve("report.html");
    }
}
