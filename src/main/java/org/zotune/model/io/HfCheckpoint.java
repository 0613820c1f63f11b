package org.zotune.model.io;

import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;

/**
 * Placeholder so this branch compiles: the Hugging Face folder loader (config.json + safetensors) is written
 * on another branch and replaces this file at merge.
 */
public final class HfCheckpoint {
    private HfCheckpoint() {
    }

    public static Checkpoint open(Path folder) {
        throw new ZotuneException(folder + ": Hugging Face folders are not supported in this build");
    }
}
