package org.zotune.model.io;

import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.tensor.HostTensor;

/** Checks the architectures run on a {@link Checkpoint}'s tensors, with errors that say what to fix. */
public final class TensorChecks {
    private TensorChecks() {
    }

    /** The tensor {@code name} with exactly {@code expectedShape}. */
    public static HostTensor require(Checkpoint ckpt, String name, long... expectedShape) {
        return require(ckpt, name, null, expectedShape);
    }

    /**
     * The tensor {@code name} with exactly {@code expectedShape}; {@code fields} names the config.json fields
     * the expected shape comes from (e.g. "vocab_size, n_embd"), quoted in the error.
     *
     * @throws ZotuneException "SOURCE: missing tensor NAME" or "SOURCE: tensor NAME has shape [a, b], expected
     *                         [c, d] from config.json (FIELDS)"
     */
    public static HostTensor require(Checkpoint ckpt, String name, String fields, long... expectedShape) {
        HostTensor t = ckpt.tensors().get(name);
        if (t == null) {
            throw new ZotuneException(ckpt.source() + ": missing tensor " + name);
        }
        if (!Arrays.equals(t.shape(), expectedShape)) {
            throw new ZotuneException(ckpt.source() + ": tensor " + name + " has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(expectedShape)
                    + " from config.json" + (fields == null || fields.isEmpty() ? "" : " (" + fields + ")"));
        }
        return t;
    }

    /** The tensor if present with exactly {@code expectedShape}, null if absent (e.g. an untied lm_head). */
    public static HostTensor optional(Checkpoint ckpt, String name, String fields, long... expectedShape) {
        return ckpt.tensors().containsKey(name) ? require(ckpt, name, fields, expectedShape) : null;
    }
}
