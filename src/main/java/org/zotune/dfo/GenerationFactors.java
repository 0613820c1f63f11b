package org.zotune.dfo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One generation's low-rank factors packed into one float32 array, the host side of a batched population forward
 * (ALGORITHMS.md §7): first every other layer's updates at its current point (those layers whose point is not zero,
 * ascending, on every row), then member i's updates of the searched layer on its rows [i·m, (i + 1)·m), m the
 * member's tokens; per update ({@link Subspace#pairs}) its A [rank, in] then its B [rows, rank], each starting at a
 * multiple of 64 floats (256 bytes: the alignment of {@link org.zotune.backend.Parameters} on CUDA, so a product
 * reads its factors with the alignment of the eager path's uploaded tensors). The eager generation uploads the same
 * tensors in the same order; the captured one copies {@link #packed} into its device buffer.
 *
 * <p>{@link #key} is what a captured generation bakes in besides the factors' values: the searched layer, λ, the
 * member's tokens and which other layers carry a non-zero point (their updates are launches of their own); the
 * factors' shapes follow from these.
 *
 * @param key    [layer, λ, member tokens, number of other layers, those layers ascending]
 * @param packed the factors at their {@link Slot#offset}s, zeros between them
 * @param slots  per update, in launch order: where its factors lie and which rows it applies to
 */
public record GenerationFactors(List<Integer> key, float[] packed, List<Slot> slots) {
    /** Floats between the starts of two factors' alignment units (256 bytes). */
    public static final int ALIGN_FLOATS = 64;

    /**
     * One update B·A on the output rows [from, to) of parameter {@code weight}'s projection in layer {@code layer}.
     *
     * @param aOffset where A [rank, in] starts in {@link #packed}
     * @param bOffset where B [out, rank] starts
     */
    public record Slot(int layer, int weight, int from, int to, int rank, int in, int out, int aOffset, int bOffset) {
    }

    /**
     * @param layer        the layer searched
     * @param candidates   λ points of that layer
     * @param current      every layer's current point ({@code current[layer]} ignored)
     * @param memberTokens activation rows of one member's copy of the training set
     */
    public static GenerationFactors of(Subspace subspace, int layer, double[][] candidates, double[][] current,
            int memberTokens) {
        int lambda = candidates.length;
        List<Integer> key = new ArrayList<>(List.of(layer, lambda, memberTokens, 0));
        List<float[]> values = new ArrayList<>();
        List<Slot> slots = new ArrayList<>();
        int[] end = {0};
        for (int l = 0; l < subspace.layers(); l++) {
            if (l != layer && !isZero(current[l])) {
                key.add(l);
                key.set(3, key.get(3) + 1);
                add(subspace, l, subspace.factors(l, current[l]), 0, lambda * memberTokens, values, slots, end);
            }
        }
        List<Subspace.Factors> members = subspace.factors(layer, candidates);
        for (int i = 0; i < lambda; i++) {
            add(subspace, layer, members.get(i), i * memberTokens, (i + 1) * memberTokens,
                    values, slots, end);
        }
        float[] packed = new float[end[0]];
        for (int s = 0; s < slots.size(); s++) {
            Slot slot = slots.get(s);
            System.arraycopy(values.get(2 * s), 0, packed, slot.aOffset(), slot.rank() * slot.in());
            System.arraycopy(values.get(2 * s + 1), 0, packed, slot.bOffset(), slot.out() * slot.rank());
        }
        return new GenerationFactors(List.copyOf(key), packed, List.copyOf(slots));
    }

    /** Slot s's A as a copy. */
    public float[] a(int s) {
        Slot slot = slots.get(s);
        return Arrays.copyOfRange(packed, slot.aOffset(), slot.aOffset() + slot.rank() * slot.in());
    }

    /** Slot s's B as a copy. */
    public float[] b(int s) {
        Slot slot = slots.get(s);
        return Arrays.copyOfRange(packed, slot.bOffset(), slot.bOffset() + slot.out() * slot.rank());
    }

    private static void add(Subspace subspace, int l, Subspace.Factors f, int from, int to, List<float[]> values,
            List<Slot> slots, int[] end) {
        for (Subspace.Pair p : subspace.pairs(l, f)) {
            int aAt = end[0];
            int bAt = aligned(aAt + p.rank() * p.in());
            end[0] = aligned(bAt + p.rows() * p.rank());
            slots.add(new Slot(l, p.target().weight(), from, to, p.rank(), p.in(), p.rows(), aAt, bAt));
            values.add(p.a());
            values.add(p.b());
        }
    }

    private static int aligned(int floats) {
        return Math.addExact(floats, ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }

    static boolean isZero(double[] z) {
        for (double v : z) {
            if (v != 0) {
                return false;
            }
        }
        return true;
    }
}
