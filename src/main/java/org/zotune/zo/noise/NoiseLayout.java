package org.zotune.zo.noise;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;

/**
 * Global element offsets of the trainable tensors for the noise (ALGORITHMS.md §1): tensor p starts at
 * o_p = round_up(o_{p-1} + size_{p-1}, 4), o_0 = 0. Each tensor thus starts on a Philox block boundary,
 * so its noise does not depend on how the tensors before it are split, only on their order and sizes.
 */
public final class NoiseLayout {
    private final List<ParamSpec> specs;
    private final long[] offsets;
    private final long total;

    public NoiseLayout(List<ParamSpec> specs) {
        this.specs = List.copyOf(specs);
        this.offsets = new long[this.specs.size()];
        long o = 0;
        for (int p = 0; p < offsets.length; p++) {
            ParamSpec s = this.specs.get(p);
            long n = s.numel();
            if (n < 0) {
                throw new ZotuneException("parameter " + s.name() + ": negative size " + n);
            }
            offsets[p] = o;
            o = roundUp4(o + n);
        }
        this.total = o;
    }

    static long roundUp4(long x) {
        return (x + 3) & ~3L;
    }

    public int count() {
        return offsets.length;
    }

    public ParamSpec spec(int p) {
        return specs.get(p);
    }

    public List<ParamSpec> specs() {
        return specs;
    }

    /** Global index of tensor p's first element. */
    public long offset(int p) {
        return offsets[p];
    }

    public long size(int p) {
        return specs.get(p).numel();
    }

    /** One past the last global index, rounded up to a multiple of 4 (padding included). */
    public long totalElements() {
        return total;
    }
}
