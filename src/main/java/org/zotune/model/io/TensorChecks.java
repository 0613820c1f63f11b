package org.zotune.model.io;

import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.tensor.HostTensor;

/**
 * Minimal stand-in so this branch compiles and its tests run; the full version (same signature) is written
 * on another branch and replaces this file at merge.
 */
public final class TensorChecks {
    private TensorChecks() {
    }

    /** The tensor {@code name} of the checkpoint, which must have exactly {@code shape}. */
    public static HostTensor require(Checkpoint checkpoint, String name, long... shape) {
        HostTensor t = checkpoint.tensors().get(name);
        if (t == null) {
            throw new ZotuneException(checkpoint.source() + ": tensor " + name + " is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new ZotuneException(checkpoint.source() + ": tensor " + name + " has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
        }
        return t;
    }
}
