package org.zotune.train.config;

import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Default;

/** Sizes drawn (seeded, without overlap) from the train pool (key data.splits). */
public record Splits(
        @Default("0") @AtLeast(1) Integer train,
        @Default("0") @AtLeast(0) Integer dev,
        @Default("0") @AtLeast(0) Integer test) {
}
