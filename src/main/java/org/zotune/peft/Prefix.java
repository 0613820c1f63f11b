package org.zotune.peft;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.ForwardingOps;
import org.zotune.backend.IntTensor;
import org.zotune.backend.KvPrefix;
import org.zotune.backend.Ops;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.noise.Noise;

/**
 * Prefix tuning as MeZO does it (ALGORITHMS.md §9; Li and Liang without the reparameterisation MLP): per attention
 * layer p trainable keys and p trainable values [p, Hkv·D] (heads side by side, as the key projection lays them out),
 * prepended to the layer's own keys and values through {@link WeightSource#kvPrefix}: visible to every query, never
 * masked, the real tokens' positions unchanged (0, 1, ... as without a prefix). The keys are held after rotary (a key
 * cache's keys): the attention never rotates them.
 * <p>Initial values (MeZO's init_by_real_act): the keys and values the frozen model computes for p vocabulary tokens
 * drawn from the run seed, run as one unpadded sequence at positions 0..p-1 (Llama's keys rotated there).
 * <p>Tensor order (and so the noise index): layer 0's keys, layer 0's values, layer 1's keys, ..., then the model
 * parameters trained in full beside the prefix ({@link #withSaved}: a sequence classifier's head, as PEFT's SEQ_CLS
 * saves its classifier in modules_to_save).
 */
public final class Prefix implements Adapter {
    /** Philox stream of the initial tokens (keyed on {@code Noise.stepSeed(runSeed, 0)}, a seed no step uses). */
    static final int INIT_STREAM = 0x50726566; // "Pref"

    private final int tokens;
    private final int layers;
    private final int width; // Hkv·D
    private final int kvHeads;
    private final int vocab;
    private final List<ParamSpec> tensors;
    private final int[] saved; // model parameters trained in full beside the prefix (PEFT's modules_to_save)

    private Prefix(int tokens, int layers, int kvHeads, int headDim, int vocab) {
        this(tokens, layers, kvHeads, headDim, vocab, List.of(), new int[0]);
    }

    private Prefix(int tokens, int layers, int kvHeads, int headDim, int vocab, List<ParamSpec> savedSpecs,
                   int[] saved) {
        this.tokens = tokens;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.width = kvHeads * headDim;
        this.vocab = vocab;
        this.saved = saved.clone();
        List<ParamSpec> t = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            t.add(new ParamSpec(name(l, "keys"), new long[] {tokens, width}, ParamSpec.Role.MATRIX));
            t.add(new ParamSpec(name(l, "values"), new long[] {tokens, width}, ParamSpec.Role.MATRIX));
        }
        t.addAll(savedSpecs);
        this.tensors = List.copyOf(t);
    }

    /**
     * This prefix with the parameters {@code params} of {@code model} trained in full beside it, as PEFT's
     * modules_to_save does (a sequence classifier's head): each is a tensor of the set, after the keys and values,
     * that replaces its parameter; it starts from the model's value.
     */
    public Prefix withSaved(List<ParamSpec> model, int... params) {
        List<ParamSpec> specs = new ArrayList<>();
        for (int p : params) {
            if (p < 0 || p >= model.size()) {
                throw new IllegalArgumentException("parameter " + p + " of " + model.size() + " cannot be saved "
                        + "beside the prefix");
            }
            specs.add(model.get(p));
        }
        return new Prefix(tokens, layers, kvHeads, width / kvHeads, vocab, specs, params);
    }

    /** The model parameters trained in full beside the prefix (modules_to_save), in the set's order. */
    public int[] saved() {
        return saved.clone();
    }

    /** The prefix's own tensors: per layer its keys and values (2·layers); the saved parameters follow them. */
    public int prefixTensors() {
        return 2 * layers;
    }

    private static String name(int layer, String what) {
        return "prefix.layers." + layer + "." + what;
    }

    /**
     * A prefix of {@code tokens} positions for a model of {@code config} whose rows hold up to {@code maxLength}
     * tokens: the keys a query sees, p + max_length, must fit the model's positions (its context; Hugging Face PEFT
     * also shifts the real tokens' positions by p, which then stay within the position table).
     */
    public static Prefix of(ModelConfig config, int tokens, int maxLength) {
        if (tokens <= 0) {
            throw new ZotuneException("key 'peft.tokens' must be >= 1, got " + tokens);
        }
        if ((long) tokens + maxLength > config.maxPositions()) {
            throw new ZotuneException("key 'peft.tokens': " + tokens + " prefix tokens + max_length " + maxLength
                    + " = " + ((long) tokens + maxLength) + " keys, more than the model's " + config.maxPositions()
                    + " positions; lower peft.tokens or max_length");
        }
        return new Prefix(tokens, config.numLayers(), config.numKvHeads(), config.headDim(), config.vocabSize());
    }

    @Override
    public String method() {
        return "prefix";
    }

    /** p. */
    public int tokens() {
        return tokens;
    }

    public int layers() {
        return layers;
    }

    /** Hkv·D, the width of one key or value row. */
    public int width() {
        return width;
    }

    public int kvHeads() {
        return kvHeads;
    }

    /**
     * Per layer l: {@code prefix.layers.l.keys} [p, Hkv·D] then {@code prefix.layers.l.values} [p, Hkv·D]; then each
     * saved parameter under its model name.
     */
    @Override
    public List<ParamSpec> tensors() {
        return tensors;
    }

    /** The initial tokens: t_i = ⌊u_i·V⌋ with u_i = uniform(word(stepSeed(runSeed, 0), "Pref", i)), i < p. */
    public int[] initialTokens(long runSeed) {
        long seed = Noise.stepSeed(runSeed, 0);
        int[] ids = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            float u = Noise.uniform(Noise.word(seed, INIT_STREAM, i));
            ids[i] = Math.min(vocab - 1, (int) Math.floor((double) u * vocab));
        }
        return ids;
    }

    @Override
    public Adapter.Bound bind(Ops ops, LanguageModel model, WeightSource frozen, long runSeed) {
        Captured c = capture(ops, model, frozen, initialTokens(runSeed));
        List<HostTensor> initial = new ArrayList<>();
        Map<Integer, int[]> prefixes = new HashMap<>();
        for (int l = 0; l < layers; l++) {
            initial.add(HostTensor.ofFloats(name(l, "keys"), c.keys.get(l), tokens, width));
            initial.add(HostTensor.ofFloats(name(l, "values"), c.values.get(l), tokens, width));
            prefixes.put(c.attentions.get(l), new int[] {2 * l, 2 * l + 1});
        }
        for (int i = 0; i < saved.length; i++) { // a saved parameter starts from the model's value
            ParamSpec s = tensors.get(2 * layers + i);
            initial.add(HostTensor.ofFloats(s.name(), ops.toHost(frozen.weight(saved[i])), s.shape()));
        }
        return new Adapter.Bound(TrainableSet.prefixes(model.params(), tensors, prefixes, rules()), initial,
                () -> { });
    }

    /** Each saved parameter replaced by its tensor of the set. */
    private Map<Integer, WeightRule> rules() {
        Map<Integer, WeightRule> rules = new HashMap<>();
        for (int i = 0; i < saved.length; i++) {
            rules.put(saved[i], WeightRule.replacedBy(2 * layers + i));
        }
        return rules;
    }

    /**
     * The set that brings tensors of this prefix (in {@link #tensors()}'s order: a loaded adapter's, a replayed
     * run's) into the forward passes of {@code model}: which attention each layer's keys and values belong to is asked
     * of the model itself, by one frozen forward over one token through {@link WeightSource#kvPrefix}.
     */
    public TrainableSet set(Ops ops, LanguageModel model, WeightSource frozen) {
        List<Integer> asked = new ArrayList<>();
        WeightSource probe = new WeightSource() {
            @Override
            public Tensor weight(int index) {
                return frozen.weight(index);
            }

            @Override
            public KvPrefix kvPrefix(int attention) {
                asked.add(attention);
                return null;
            }
        };
        try (Ops.Scope s = ops.scope()) {
            runAttention(ops, model, probe, Batch.of(new int[] {0}));
        }
        if (asked.size() != layers || asked.stream().distinct().count() != layers) {
            throw new IllegalStateException("prefix: the model asked " + asked.size() + " attention layers for a "
                    + "prefix, its config says " + layers);
        }
        Map<Integer, int[]> prefixes = new HashMap<>();
        for (int l = 0; l < layers; l++) {
            prefixes.put(asked.get(l), new int[] {2 * l, 2 * l + 1});
        }
        return TrainableSet.prefixes(model.params(), tensors, prefixes, rules());
    }

    /** What one frozen forward over the initial tokens showed: per attention layer, its id, keys and values. */
    private record Captured(List<Integer> attentions, List<float[]> keys, List<float[]> values) {
    }

    /**
     * Runs the frozen model on {@code ids} (one unpadded sequence) and keeps every attention layer's keys (rotated
     * where the model rotates them) and values, in float32, with the attention each belongs to (asked through
     * {@link WeightSource#kvPrefix}, which the model calls right before the layer's attention).
     */
    private Captured capture(Ops ops, LanguageModel model, WeightSource frozen, int[] ids) {
        List<Integer> asked = new ArrayList<>();
        WeightSource probe = new WeightSource() {
            @Override
            public Tensor weight(int index) {
                return frozen.weight(index);
            }

            @Override
            public KvPrefix kvPrefix(int attention) {
                asked.add(attention);
                return null;
            }
        };
        List<float[]> keys = new ArrayList<>();
        List<float[]> values = new ArrayList<>();
        int[] positions = new int[ids.length];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i;
        }
        Ops recorder = new ForwardingOps(ops) {
            @Override
            public Tensor attention(Tensor q, Tensor k, Tensor v, IntTensor mask, IntTensor pos, AttentionSpec spec) {
                keep(toHost(k), toHost(v), spec);
                return super.attention(q, k, v, mask, pos, spec);
            }

            @Override
            public Tensor attentionPacked(Tensor qkv, Tensor bias, IntTensor mask, IntTensor pos,
                                          AttentionSpec spec) {
                float[] p = toHost(qkv);
                float[] b = bias == null ? null : toHost(bias);
                int qw = spec.numHeads() * spec.headDim();
                int kw = spec.numKvHeads() * spec.headDim();
                int cols = qw + 2 * kw;
                float[] k = new float[ids.length * kw];
                float[] v = new float[ids.length * kw];
                for (int r = 0; r < ids.length; r++) {
                    for (int c = 0; c < kw; c++) {
                        k[r * kw + c] = p[r * cols + qw + c] + (b == null ? 0f : b[qw + c]);
                        v[r * kw + c] = p[r * cols + qw + kw + c] + (b == null ? 0f : b[qw + kw + c]);
                    }
                }
                keep(k, v, spec);
                return super.attentionPacked(qkv, bias, mask, pos, spec);
            }

            // an encoder's q/k/v biases folded into the attention (CUDA): the keys and values are k + bk, v + bv
            @Override
            public Tensor attentionBiased(Tensor q, Tensor k, Tensor v, Tensor bq, Tensor bk, Tensor bv,
                                          IntTensor mask, IntTensor pos, AttentionSpec spec) {
                float[] kh = toHost(k);
                float[] vh = toHost(v);
                float[] kb = toHost(bk);
                float[] vb = toHost(bv);
                int kw = spec.numKvHeads() * spec.headDim();
                for (int i = 0; i < kh.length; i++) {
                    kh[i] += kb[i % kw];
                    vh[i] += vb[i % kw];
                }
                keep(kh, vh, spec);
                return super.attentionBiased(q, k, v, bq, bk, bv, mask, pos, spec);
            }

            private void keep(float[] k, float[] v, AttentionSpec spec) {
                if (k.length != tokens * width || v.length != tokens * width) {
                    throw new IllegalStateException("prefix: an attention of " + k.length / tokens + " key features "
                            + "per token, the model's config says " + width);
                }
                CpuOps.rope(k, tokens, spec.numKvHeads(), positions, spec);
                keys.add(k);
                values.add(v);
            }
        };
        try (Ops.Scope s = ops.scope()) {
            runAttention(recorder, model, probe, Batch.of(ids));
        }
        if (asked.size() != layers || keys.size() != layers || asked.stream().distinct().count() != layers) {
            throw new IllegalStateException("prefix: the model ran " + keys.size() + " attention layers ("
                    + asked.size() + " asked for a prefix), its config says " + layers);
        }
        return new Captured(asked, keys, values);
    }

    /**
     * Runs every attention layer of the model over {@code batch}: an encoder's hidden states (a bare BertModel has
     * no masked-LM head to run, and the head does not reach the keys and values), a decoder's forward.
     */
    private static void runAttention(Ops ops, LanguageModel model, WeightSource w, Batch batch) {
        if (model instanceof EncoderModel encoder) {
            encoder.hiddenStates(ops, w, batch, null);
        } else {
            model.forward(ops, w, batch);
        }
    }

    /**
     * The tensors in Hugging Face PEFT's prefix-tuning layout ({@code prefix_projection} false): one tensor
     * {@code prompt_embeddings} [p, 2·L·Hkv·D], row i = layer 0's key i, layer 0's value i, layer 1's key i, ...
     * (each Hkv·D, heads side by side): PEFT views it [p, 2L, Hkv, D] and permutes it to per-layer (key, value)
     * past_key_values [batch, Hkv, p, D].
     *
     * @param trained the set's tensors in {@link #tensors()}'s order (saved parameters after the keys and values are
     *                not part of it)
     */
    public HostTensor toPeft(List<HostTensor> trained) {
        if (trained.size() != tensors.size()) {
            throw new IllegalArgumentException(trained.size() + " prefix tensors for " + tensors.size());
        }
        int row = 2 * layers * width;
        float[] out = new float[tokens * row];
        for (int t = 0; t < 2 * layers; t++) {
            float[] v = trained.get(t).toFloats();
            for (int i = 0; i < tokens; i++) {
                System.arraycopy(v, i * width, out, i * row + t * width, width);
            }
        }
        return HostTensor.ofFloats("prompt_embeddings", out, tokens, row);
    }

    /**
     * The inverse of {@link #toPeft}: PEFT's {@code prompt_embeddings} to the prefix's keys and values (the first
     * {@link #prefixTensors()} tensors of the set), shapes checked.
     */
    public List<HostTensor> fromPeft(HostTensor embeddings, String source) {
        long[] sh = embeddings.shape();
        int row = 2 * layers * width;
        if (sh.length != 2 || sh[0] != tokens || sh[1] != row) {
            throw new ZotuneException(source + ": tensor prompt_embeddings has shape " + java.util.Arrays.toString(sh)
                    + ", this model's prefix of " + tokens + " tokens needs [" + tokens + ", " + row + "] (2 × "
                    + layers + " layers × " + width + ")");
        }
        float[] all = embeddings.toFloats();
        List<HostTensor> out = new ArrayList<>();
        for (int t = 0; t < 2 * layers; t++) {
            float[] v = new float[tokens * width];
            for (int i = 0; i < tokens; i++) {
                System.arraycopy(all, i * row + t * width, v, i * width, width);
            }
            out.add(HostTensor.ofFloats(tensors.get(t).name(), v, tokens, width));
        }
        return out;
    }
}
