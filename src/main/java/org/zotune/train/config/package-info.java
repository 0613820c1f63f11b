/**
 * A run config's sections, one record per section of {@code run.yaml} ({@link org.zotune.train.config.Data},
 * {@link org.zotune.train.config.Splits}, {@link org.zotune.train.config.Optimizer},
 * {@link org.zotune.train.config.Peft}, {@link org.zotune.train.config.Parallel}, {@link org.zotune.train.config.Dfo})
 * with the enums of their choices and their own checks, and {@link org.zotune.train.config.RecordBinder}, which binds
 * YAML/JSON onto records. What relates keys of several sections, the run-level keys, reading and writing stay in
 * {@link org.zotune.train.TrainConfig}.
 */
package org.zotune.train.config;
