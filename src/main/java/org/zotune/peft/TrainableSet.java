package org.zotune.peft;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.zo.noise.NoiseLayout;

/**
 * An ordered set of trainable tensors, separate from the frozen model weights (ALGORITHMS.md §9): their names,
 * shapes and roles, their {@link NoiseLayout} (the noise index runs over the set only, in its order), and per model
 * parameter the {@link WeightRule} that forms it from the frozen base and the set's tensors (none: frozen).
 * <p>Two kinds: a subset of the model's own parameters ({@link #of}; full fine-tuning is {@link #full}), which lives
 * in the model's parameter buffer, each tensor replacing its parameter; or tensors of their own
 * ({@link #adapters}), which live in a buffer of their own and reach the model through their rules. Where the values
 * live is {@link TrainableStorage}'s concern; optimiser state exists for the set's elements only.
 */
public final class TrainableSet {
    private final int modelParameters;
    private final List<ParamSpec> specs;
    private final int[] modelIndex; // tensor k is model parameter modelIndex[k], or -1 (a tensor of its own)
    private final WeightRule[] rules; // per model parameter; null = frozen
    private final NoiseLayout layout;
    private final Map<Integer, int[]> prefixes; // attention (its key projection's parameter) -> {keys, values} tensors
    private final Map<Integer, OutputDelta> deltas; // projection (its weight parameter) -> what is added to its output

    private TrainableSet(int modelParameters, List<ParamSpec> specs, int[] modelIndex, WeightRule[] rules) {
        this(modelParameters, specs, modelIndex, rules, Map.of());
    }

    private TrainableSet(int modelParameters, List<ParamSpec> specs, int[] modelIndex, WeightRule[] rules,
                         Map<Integer, int[]> prefixes) {
        this(modelParameters, specs, modelIndex, rules, prefixes, Map.of());
    }

    private TrainableSet(int modelParameters, List<ParamSpec> specs, int[] modelIndex, WeightRule[] rules,
                         Map<Integer, int[]> prefixes, Map<Integer, OutputDelta> deltas) {
        this.modelParameters = modelParameters;
        this.specs = List.copyOf(specs);
        this.modelIndex = modelIndex;
        this.rules = rules;
        this.layout = new NoiseLayout(this.specs);
        this.prefixes = Map.copyOf(prefixes);
        this.deltas = Map.copyOf(deltas);
    }

    /** Every model parameter, in the model's order (full fine-tuning). */
    public static TrainableSet full(List<ParamSpec> model) {
        return of(model, null);
    }

    /** The model parameters flagged in {@code trainable} (null: all), in the model's order; the rest is frozen. */
    public static TrainableSet of(List<ParamSpec> model, boolean[] trainable) {
        if (trainable != null && trainable.length != model.size()) {
            throw new ZotuneException("trainable set: " + trainable.length + " trainable flags for " + model.size()
                    + " parameters");
        }
        List<ParamSpec> specs = new ArrayList<>();
        List<Integer> index = new ArrayList<>();
        WeightRule[] rules = new WeightRule[model.size()];
        for (int p = 0; p < model.size(); p++) {
            if (trainable == null || trainable[p]) {
                rules[p] = WeightRule.replacedBy(specs.size());
                specs.add(model.get(p));
                index.add(p);
            }
        }
        return new TrainableSet(model.size(), specs, index.stream().mapToInt(Integer::intValue).toArray(), rules);
    }

    /**
     * Tensors of their own over a frozen model (adapters): {@code rules} maps a model parameter index to how it is
     * formed from its frozen base and these tensors; every other parameter is frozen.
     */
    public static TrainableSet adapters(List<ParamSpec> model, List<ParamSpec> tensors, Map<Integer, WeightRule> rules) {
        return adapters(model, tensors, rules, Map.of());
    }

    /**
     * {@link #adapters(List, List, Map)} where some projections keep their frozen weight and get {@code deltas}
     * added to their output instead ({@link OutputDelta}; keyed on the projection's weight parameter, which has no
     * rule then).
     */
    public static TrainableSet adapters(List<ParamSpec> model, List<ParamSpec> tensors, Map<Integer, WeightRule> rules,
                                        Map<Integer, OutputDelta> deltas) {
        for (int p : deltas.keySet()) {
            if (p < 0 || p >= model.size() || rules.containsKey(p)) {
                throw new ZotuneException("trainable set: an output delta for parameter " + p + " of a model with "
                        + model.size() + (rules.containsKey(p) ? ", which has a rule too" : ""));
            }
        }
        WeightRule[] r = ruleArray(model, rules);
        int[] none = new int[tensors.size()];
        Arrays.fill(none, -1);
        return new TrainableSet(model.size(), tensors, none, r, Map.of(), deltas);
    }

    /**
     * Tensors of their own that the attention layers take as key/value prefixes (prefix tuning): {@code prefixes}
     * maps an attention, named by its key projection's weight parameter, to the set's {keys, values} tensor
     * indices. No model parameter has a rule: the weights are the frozen model's.
     */
    public static TrainableSet prefixes(List<ParamSpec> model, List<ParamSpec> tensors, Map<Integer, int[]> prefixes) {
        return prefixes(model, tensors, prefixes, Map.of());
    }

    /**
     * {@link #prefixes(List, List, Map)} where some model parameters are formed by {@code rules} too (a sequence
     * classifier's head trained beside the prefix: each replaced by a tensor of the set); every other weight is the
     * frozen model's.
     */
    public static TrainableSet prefixes(List<ParamSpec> model, List<ParamSpec> tensors, Map<Integer, int[]> prefixes,
                                        Map<Integer, WeightRule> rules) {
        WeightRule[] r = ruleArray(model, rules);
        int[] none = new int[tensors.size()];
        Arrays.fill(none, -1);
        Map<Integer, int[]> copy = new java.util.HashMap<>();
        for (Map.Entry<Integer, int[]> e : prefixes.entrySet()) {
            int p = e.getKey();
            int[] kv = e.getValue();
            if (p < 0 || p >= model.size() || kv.length != 2 || kv[0] < 0 || kv[0] >= tensors.size() || kv[1] < 0
                    || kv[1] >= tensors.size()) {
                throw new ZotuneException("trainable set: a prefix for parameter " + p + " of a model with "
                        + model.size() + " (tensors " + Arrays.toString(kv) + " of " + tensors.size() + ")");
            }
            copy.put(p, kv.clone());
        }
        return new TrainableSet(model.size(), tensors, none, r, copy);
    }

    /** Per model parameter its rule (null: frozen), each key checked to be one of the model's parameters. */
    private static WeightRule[] ruleArray(List<ParamSpec> model, Map<Integer, WeightRule> rules) {
        WeightRule[] r = new WeightRule[model.size()];
        for (Map.Entry<Integer, WeightRule> e : rules.entrySet()) {
            int p = e.getKey();
            if (p < 0 || p >= model.size()) {
                throw new ZotuneException("trainable set: a rule for parameter " + p + " of a model with "
                        + model.size());
            }
            r[p] = e.getValue();
        }
        return r;
    }

    /** What is added to the output of the projection whose weight is parameter p, or null. */
    public OutputDelta delta(int p) {
        return deltas.get(p);
    }

    /** The {keys, values} tensor indices of the attention whose key projection is parameter p, or null. */
    public int[] prefix(int p) {
        int[] kv = prefixes.get(p);
        return kv == null ? null : kv.clone();
    }

    /** Number of tensors in the set. */
    public int count() {
        return specs.size();
    }

    public ParamSpec spec(int k) {
        return specs.get(k);
    }

    public List<ParamSpec> specs() {
        return specs;
    }

    /** The noise layout of the set (what the optimisers and their state are indexed by). */
    public NoiseLayout layout() {
        return layout;
    }

    /** Parameters of the model the set applies to. */
    public int modelParameters() {
        return modelParameters;
    }

    /** The model parameter that tensor k is, or -1 for a tensor of its own. */
    public int modelParameter(int k) {
        return modelIndex[k];
    }

    /** How model parameter p is formed, or null when it is frozen. */
    public WeightRule rule(int p) {
        return rules[p];
    }

    /** Whether every tensor is one of the model's parameters (it then lives in the model's parameter buffer). */
    public boolean inModel() {
        for (int p : modelIndex) {
            if (p < 0) {
                return false;
            }
        }
        return true;
    }

    /** Which model parameters train, for a set {@link #inModel()}: null when all do. */
    public boolean[] modelMask() {
        if (!inModel()) {
            throw new IllegalStateException("trainable set: adapter tensors are not model parameters");
        }
        if (modelIndex.length == modelParameters) {
            return null; // in model order, so all of them
        }
        boolean[] m = new boolean[modelParameters];
        for (int p : modelIndex) {
            m[p] = true;
        }
        return m;
    }
}
