package org.zotune.api;

import java.nio.file.Path;

/**
 * What {@link FineTune#replay} wrote. Immutable.
 *
 * @param steps   the steps replayed
 * @param out     the Hugging Face folder written
 * @param seconds the wall time
 */
public record ReplayResult(long steps, Path out, double seconds) {
}
