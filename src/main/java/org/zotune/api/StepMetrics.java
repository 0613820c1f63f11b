package org.zotune.api;

/**
 * One optimiser step as metrics.jsonl records it. Immutable.
 *
 * @param step           the step number, from 1
 * @param loss           the training loss (the mean of the perturbed losses {@code ½(ℓ+ + ℓ-)})
 * @param lr             the learning rate the step used
 * @param skipped        whether the bad-step guard skipped the update (non-finite loss)
 * @param elapsedSeconds seconds since the run (or its resumption) started
 */
public record StepMetrics(long step, double loss, double lr, boolean skipped, double elapsedSeconds) {
}
