package org.zotune.api;

/** Where a model runs or trains. */
public enum Device {
    /** The pure-Java reference backend: every machine, slow beyond small models. */
    CPU,
    /** The first CUDA GPU; opening fails with one line when no device is usable. */
    CUDA,
    /** CUDA when a device is usable, else the CPU ({@link Model#fallbackReason()} says why). */
    AUTO;

    /** The spelling of the config key {@code device} and of the CLI's {@code --device}. */
    public String spelling() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
