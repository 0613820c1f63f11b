package org.zotune.zo.cuda;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Ops;

/**
 * The CUDA ops as a forward pass sees them inside the engine: everything is delegated (fused ops included, through
 * {@link ForwardingOps}), except that while inputs are bound, the k-th {@code ints(...)} call of a forward returns
 * the k-th persistent device tensor (whose values the engine rewrites before each graph replay) instead of
 * uploading a graph constant.
 */
final class BoundInputOps extends ForwardingOps {
    private List<IntTensor> bound;
    private int next;

    BoundInputOps(Ops ops) {
        super(ops);
    }

    /** Binds the inputs (null: plain uploads) and starts a new forward pass at the first of them. */
    void bind(List<IntTensor> inputs) {
        this.bound = inputs;
        this.next = 0;
    }

    /** A new forward pass starts: its first ints() call gets the first bound input again. */
    void rewind() {
        next = 0;
    }

    /** A new forward pass starts whose inputs are the bound ones from index {@code first} (one micro-batch's). */
    void rewind(int first) {
        next = first;
    }

    @Override
    public IntTensor ints(int[] values) {
        if (bound == null) {
            return delegate().ints(values);
        }
        if (next >= bound.size() || bound.get(next).length() != values.length) {
            throw new ZotuneException("the forward pass created int input " + next + " of length " + values.length
                    + " but its dry run recorded " + (next < bound.size() ? "length " + bound.get(next).length()
                    : bound.size() + " inputs") + ": the model's inputs must depend on the batch only");
        }
        return bound.get(next++);
    }
}
