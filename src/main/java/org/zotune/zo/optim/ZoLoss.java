package org.zotune.zo.optim;

/**
 * The objective of a ZO step: the loss (float32) of micro-batch {@code microBatch} at parameters
 * {@code theta} (one array per tensor, in the layout's order). It must not modify theta.
 */
@FunctionalInterface
public interface ZoLoss {
    float evaluate(float[][] theta, int microBatch);
}
