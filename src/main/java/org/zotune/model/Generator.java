package org.zotune.model;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;

/** Autoregressive decoding: greedy, or temperature sampling with a seed. */
public final class Generator {
    private Generator() {
    }

    /** How the next token is chosen. */
    public record Sampling(boolean greedy, float temperature, long seed) {
        public Sampling {
            if (!greedy && !(temperature >= 0 && temperature < Float.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException("sampling temperature must be >= 0 and finite, got "
                        + temperature);
            }
        }

        /** Greedy when asked for, or at temperature 0 (as llama2.c's {@code -t 0}). */
        public boolean argmaxDecoding() {
            return greedy || temperature == 0f;
        }

        public static Sampling argmax() {
            return new Sampling(true, 0f, 0L);
        }

        public static Sampling temperature(float temperature, long seed) {
            return new Sampling(false, temperature, seed);
        }
    }

    /**
     * Extends {@code prompt} by up to {@code maxNewTokens} tokens, stopping early at {@code eosId} (if ≥ 0,
     * not included) or at the model's maximum positions. Calls {@code onToken} for each new token as it
     * is chosen. Returns the new tokens only.
     *
     * <p>With a key/value cache ({@link KvCache}): one forward over the prompt, then one position per new token.
     */
    public static int[] generate(Ops ops, CausalLM model, WeightSource weights, int[] prompt, int maxNewTokens,
                                 Sampling sampling, int eosId, IntConsumer onToken) {
        return generate(ops, model, weights, prompt, maxNewTokens, sampling, eosId, onToken, true);
    }

    /**
     * {@link #generate(Ops, CausalLM, WeightSource, int[], int, Sampling, int, IntConsumer)} with the cache
     * ({@code cached}) or without it: then each step recomputes the whole forward pass over the sequence so far and
     * reads the last position's logits (the reference the cached decoding is checked against).
     */
    public static int[] generate(Ops ops, CausalLM model, WeightSource weights, int[] prompt, int maxNewTokens,
                                 Sampling sampling, int eosId, IntConsumer onToken, boolean cached) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("generation needs a non-empty prompt (e.g. the BOS token)");
        }
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
        int maxLen = model.config().maxPositions();
        int[] seq = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int len = prompt.length;
        SplittableRandom random = sampling.argmaxDecoding() ? null : new SplittableRandom(sampling.seed());
        KvCache cache = cached && model.cachesKeysValues() && len < maxLen && maxNewTokens > 0
                ? new KvCache(ops, Math.min(maxLen, prompt.length + maxNewTokens)) : null;
        try {
            WeightSource source = cache == null ? weights : cache.over(weights);
            while (len - prompt.length < maxNewTokens && len < maxLen) {
                float[] logits;
                try (Ops.Scope scope = ops.scope()) {
                    if (cache == null) {
                        Tensor all = model.forward(ops, weights, Batch.of(Arrays.copyOf(seq, len)));
                        logits = ops.toHost(ops.rows(all, len - 1, len));
                    } else {
                        int start = cache.length(); // the prompt first, then the one token chosen last
                        Tensor fresh = model.forward(ops, source, Batch.of(Arrays.copyOfRange(seq, start, len)),
                                start);
                        cache.advance(len - start);
                        logits = ops.toHost(ops.rows(fresh, len - start - 1, len - start));
                    }
                }
                int next = sampling.argmaxDecoding() ? argmax(logits) : sample(logits, sampling.temperature(), random);
                if (next == eosId) {
                    break;
                }
                seq[len++] = next;
                if (onToken != null) {
                    onToken.accept(next);
                }
            }
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
        return Arrays.copyOfRange(seq, prompt.length, len);
    }

    /**
     * Extends each of {@code prompts} as {@link #generate(Ops, CausalLM, WeightSource, int[], int, Sampling, int,
     * IntConsumer, boolean)} extends it alone, the same tokens, in one batch: with the cache, the prompts right-padded
     * into one forward, then one position per sequence per step (each sequence at its own position, in its own rows
     * of a batched {@link KvCache}); a sequence that stops (its end token, its token count, the model's positions) is
     * retired and its row fed a placeholder until every sequence is done. Sampling draws each sequence from its own
     * generator seeded with {@code sampling.seed()}, as the sequence alone would. Without the cache (or for a model
     * without one) each prompt is generated alone. Returns each prompt's new tokens.
     */
    public static int[][] generate(Ops ops, CausalLM model, WeightSource weights, int[][] prompts, int maxNewTokens,
                                   Sampling sampling, int eosId, boolean cached) {
        return generate(ops, model, weights, prompts, maxNewTokens, sampling, eosId, cached, false,
                cache -> eagerDecode(ops, model, cache.over(weights)));
    }

    /**
     * The decode steps of a batched generation (one token per sequence, T = 1), after the prompts' forward has filled
     * the cache: the logits of {@code batch}'s B tokens, sequence b after {@code starts[b]} cached tokens, on the
     * host ([B][V]). The cache counts the tokens as cached afterwards. Closed when the generation ends.
     */
    public interface DecodeStep extends AutoCloseable {
        float[][] logits(Batch batch, int[] starts);

        /**
         * Greedy decoding's next tokens: each sequence's argmax of {@link #logits} (the lowest index on ties, NaN
         * never chosen, -1 when every logit is NaN). A step may choose them where the logits are and read back B
         * ints (a captured graph does).
         */
        default int[] argmax(Batch batch, int[] starts) {
            float[][] logits = logits(batch, starts);
            int[] out = new int[logits.length];
            for (int b = 0; b < out.length; b++) {
                out[b] = argmaxOrNone(logits[b]);
            }
            return out;
        }

        @Override
        default void close() {
        }
    }

    /** Each decode step as an eager forward over {@code source} (the cache over the weights), in its own scope. */
    public static DecodeStep eagerDecode(Ops ops, CausalLM model, WeightSource source) {
        return (batch, starts) -> {
            try (Ops.Scope scope = ops.scope()) {
                Tensor fresh = model.forward(ops, source, batch, starts);
                float[] all = ops.toHost(fresh);
                int v = all.length / batch.batch();
                float[][] out = new float[batch.batch()][];
                for (int b = 0; b < out.length; b++) {
                    out[b] = Arrays.copyOfRange(all, b * v, (b + 1) * v);
                }
                return out;
            }
        };
    }

    /** Told each new token of a batched generation as it is chosen: the prompt's index and the token. */
    @FunctionalInterface
    public interface TokenSink {
        void accept(int prompt, int token);
    }

    /**
     * {@link #generate(Ops, CausalLM, WeightSource, int[][], int, Sampling, int, boolean)} with the decode steps
     * run by {@code decoder} (made once the prompts' forward has filled the cache, e.g. a captured CUDA graph) over a
     * cache that shows every block whole when {@code fullCapacity} (fixed shapes from step to step).
     */
    public static int[][] generate(Ops ops, CausalLM model, WeightSource weights, int[][] prompts, int maxNewTokens,
                                   Sampling sampling, int eosId, boolean cached, boolean fullCapacity,
                                   Function<KvCache, DecodeStep> decoder) {
        return generate(ops, model, weights, prompts, maxNewTokens, sampling, eosId, cached, fullCapacity, decoder,
                null);
    }

    /**
     * {@link #generate(Ops, CausalLM, WeightSource, int[][], int, Sampling, int, boolean, boolean, Function)},
     * telling {@code onToken} (if not null) each new token as it is chosen, in each prompt's order.
     */
    public static int[][] generate(Ops ops, CausalLM model, WeightSource weights, int[][] prompts, int maxNewTokens,
                                   Sampling sampling, int eosId, boolean cached, boolean fullCapacity,
                                   Function<KvCache, DecodeStep> decoder, TokenSink onToken) {
        if (prompts.length == 0) {
            throw new IllegalArgumentException("generation needs at least one prompt");
        }
        for (int i = 0; i < prompts.length; i++) {
            if (prompts[i].length == 0) {
                throw new IllegalArgumentException("generation needs a non-empty prompt (e.g. the BOS token); prompt "
                        + i + " is empty");
            }
        }
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
        int maxLen = model.config().maxPositions();
        int[][] out = new int[prompts.length][];
        // prompts that can grow at all go into the batch; the others get nothing, as alone
        int[] active = IntStream.range(0, prompts.length)
                .filter(i -> prompts[i].length < maxLen && maxNewTokens > 0).toArray();
        for (int i = 0; i < prompts.length; i++) {
            out[i] = new int[0];
        }
        if (!cached || !model.cachesKeysValues() || active.length == 0) {
            for (int i : active) {
                out[i] = generate(ops, model, weights, prompts[i], maxNewTokens, sampling, eosId,
                        onToken == null ? null : t -> onToken.accept(i, t), cached);
            }
            return out;
        }
        int n = active.length;
        int[][] seqs = new int[n][];
        int[] lens = new int[n];
        int longest = 0;
        for (int b = 0; b < n; b++) {
            int[] p = prompts[active[b]];
            seqs[b] = Arrays.copyOf(p, p.length + maxNewTokens);
            lens[b] = p.length;
            longest = Math.max(longest, p.length);
        }
        SplittableRandom[] random = new SplittableRandom[n];
        for (int b = 0; b < n && !sampling.argmaxDecoding(); b++) {
            random[b] = new SplittableRandom(sampling.seed());
        }
        int capacity = Math.min(maxLen, longest + maxNewTokens);
        try (KvCache cache = new KvCache(ops, n, capacity, fullCapacity)) {
            int[][] padded = new int[n][];
            for (int b = 0; b < n; b++) {
                padded[b] = Arrays.copyOf(seqs[b], lens[b]);
            }
            Batch prompt = Batch.rightPadded(padded, 0); // padding is masked and follows every real token
            float[][] logits = new float[n][];
            try (Ops.Scope scope = ops.scope()) {
                Tensor fresh = model.forward(ops, cache.over(weights), prompt, new int[n]);
                for (int b = 0; b < n; b++) {
                    int row = b * prompt.seq() + lens[b] - 1; // each sequence's last real token
                    logits[b] = ops.toHost(ops.rows(fresh, row, row + 1));
                }
            }
            cache.advance(lens.clone());
            int[] chosen = null; // greedy decode steps choose the next tokens themselves
            try (DecodeStep step = decoder.apply(cache)) {
                while (true) {
                    int[] ids = new int[n];
                    boolean any = false;
                    for (int b = 0; b < n; b++) {
                        if (cache.retired(b)) {
                            continue;
                        }
                        int next;
                        if (chosen != null) {
                            next = chosen[b];
                            if (next < 0) {
                                throw new IllegalStateException("every logit is NaN");
                            }
                        } else {
                            float[] l = logits[b];
                            next = sampling.argmaxDecoding() ? argmax(l) : sample(l, sampling.temperature(), random[b]);
                        }
                        int made = lens[b] - prompts[active[b]].length;
                        if (next != eosId) {
                            seqs[b][lens[b]++] = next;
                            made++;
                            if (onToken != null) {
                                onToken.accept(active[b], next);
                            }
                        }
                        if (next == eosId || made >= maxNewTokens || lens[b] >= maxLen) {
                            cache.retire(b);
                        } else {
                            ids[b] = next;
                            any = true;
                        }
                    }
                    if (!any) {
                        break;
                    }
                    int[] cachedLengths = cache.lengths();
                    int[] starts = new int[n];
                    int[] advanced = new int[n];
                    int[] mask = new int[n];
                    for (int b = 0; b < n; b++) {
                        mask[b] = 1;
                        starts[b] = cache.retired(b) ? 0 : cachedLengths[b];
                        advanced[b] = cache.retired(b) ? 0 : 1;
                    }
                    // a retired sequence: token 0 at position 0, its logits never read
                    if (sampling.argmaxDecoding()) {
                        chosen = step.argmax(new Batch(n, 1, ids, mask), starts);
                    } else {
                        logits = step.logits(new Batch(n, 1, ids, mask), starts);
                    }
                    cache.advance(advanced);
                }
            }
        }
        for (int b = 0; b < n; b++) {
            out[active[b]] = Arrays.copyOfRange(seqs[b], prompts[active[b]].length, lens[b]);
        }
        return out;
    }

    /** The index of the largest logit; the lowest index on ties. NaN logits are never chosen. */
    static int argmax(float[] logits) {
        int best = argmaxOrNone(logits);
        if (best < 0) {
            throw new IllegalStateException("every logit is NaN");
        }
        return best;
    }

    /** {@link #argmax}, or -1 when every logit is NaN (or there are none). */
    public static int argmaxOrNone(float[] logits) {
        int best = -1;
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isNaN(logits[i]) && (best < 0 || logits[i] > logits[best])) {
                best = i;
            }
        }
        return best;
    }

    /** Draws from softmax(logits / temperature), accumulated in double. */
    static int sample(float[] logits, float temperature, SplittableRandom random) {
        int top = argmax(logits);
        double max = logits[top];
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Float.isNaN(logits[i]) ? 0 : Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        double u = random.nextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i];
            if (u < acc) {
                return i;
            }
        }
        return top; // rounding left u at the very end
    }
}
