package org.zotune.dfo;

import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig;

/**
 * The largest tensors of a generation's one batched forward, checked on the host before anything runs: element
 * counts and offsets of a tensor are ints in the cuBLAS calls and kernels (and Java arrays on the CPU), so a tensor
 * of 2^31 elements or more would fault on the device (GPT-2 large, λ = 20, 64 rows × 64 tokens: logits at every
 * position are 4.1e9 elements). A generation that needs one is refused in one line naming the sizes.
 */
final class PopulationSizes {
    /** The most elements one tensor may have. */
    static final long LIMIT = Integer.MAX_VALUE;

    private PopulationSizes() {
    }

    /**
     * @param lambda       members in this forward
     * @param memberTokens activation rows of one member (its rows × seq)
     * @param seq          tokens per row
     * @param headRows     rows of one member the LM head is computed on (0: none)
     */
    static void check(ModelConfig c, int lambda, int memberTokens, int seq, int headRows) {
        long rows = memberTokens / Math.max(1, seq);
        String shape = "population " + lambda + " x " + rows + " rows x " + seq + " tokens";
        long width = Math.max(Math.max(3L * c.hiddenSize(), c.intermediateSize()),
                (long) c.headDim() * (c.numHeads() + 2L * c.numKvHeads()));
        refuse(shape + " x width " + width, (long) lambda * memberTokens * width, "activations");
        refuse(shape + " x " + c.numHeads() + " heads x " + seq + " keys",
                (long) lambda * memberTokens * c.numHeads() * seq, "attention scores");
        refuse("population " + lambda + " x " + headRows + " head rows x vocabulary " + c.vocabSize(),
                (long) lambda * headRows * c.vocabSize(), "logits");
    }

    private static void refuse(String product, long elements, String what) {
        if (elements > LIMIT) {
            throw new ZotuneException("dfo: one batched generation of " + product + " = " + elements + " " + what
                    + " in one tensor, more than 2^31 - 1; lower dfo.population or the training set, or spread the "
                    + "population (parallel.gpus)");
        }
    }
}
