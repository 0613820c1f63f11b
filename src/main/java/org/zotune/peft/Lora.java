package org.zotune.peft;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.Architecture;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.noise.Noise;

/**
 * LoRA as a trainable set (ALGORITHMS.md §9): each adapted weight W [out, in] of the frozen model is seen by the
 * forward pass as W' = W + (α/r)·B·A, with A [r, in] and B [out, r] float32 tensors of their own. A starts from PEFT's
 * Kaiming-uniform (kaiming_uniform_(a = √5): U(−1/√in, 1/√in)) drawn from the run seed, B at zero, so a fresh
 * adapter is exactly the base model.
 * <p>A is held transposed, as Aᵀ [in, r]: row i of Aᵀ is what W's column i needs ({@link Ops#loraWeight}), as
 * {@code x·wᵀ} with x = B, w = Aᵀ is B·A; export transposes it back to PEFT's [r, in]. The tensors' order (and so the noise index) is the
 * model's parameter order, Aᵀ then B per adapted weight.
 */
public final class Lora implements Adapter {
    /** Philox stream of A's initial values (keyed on {@code Noise.stepSeed(runSeed, 0)}, a seed no step uses). */
    static final int INIT_STREAM = 0x4C6F5241; // "LoRA"
    /** What PEFT's PeftModel puts before the base model's module names. */
    public static final String PEFT_PREFIX = "base_model.model.";

    /**
     * One adapted weight.
     *
     * @param parameter the model parameter index of W
     * @param module    its Hugging Face module name (W's name without {@code .weight})
     * @param out       W's rows
     * @param in        W's columns
     */
    public record Target(int parameter, String module, int out, int in) {
    }

    private final int r;
    private final double alpha;
    private final List<Target> targets;
    private final List<ParamSpec> model;
    private final List<ParamSpec> tensors;
    private final List<String> modules; // the Hugging Face module names adapted (PEFT's target_modules)
    private final int[] saved; // model parameters trained in full beside the adapters (PEFT's modules_to_save)
    private final boolean[] outputHook; // per target: the model offers addOutputDelta on its output (q, k, v)

    private Lora(Architecture architecture, int r, double alpha, List<Target> targets, List<ParamSpec> model,
            List<String> modules) {
        this(r, alpha, targets, model, modules, new int[0], hooks(architecture, targets));
    }

    private Lora(int r, double alpha, List<Target> targets, List<ParamSpec> model, List<String> modules,
            int[] saved, boolean[] outputHook) {
        this.outputHook = outputHook.clone();
        this.r = r;
        this.alpha = alpha;
        this.targets = List.copyOf(targets);
        this.model = List.copyOf(model);
        this.modules = List.copyOf(modules);
        this.saved = saved.clone();
        List<ParamSpec> t = new ArrayList<>();
        for (Target g : targets) {
            t.add(new ParamSpec(g.module() + ".lora_A.weight", new long[] {g.in(), r}, ParamSpec.Role.MATRIX));
            t.add(new ParamSpec(g.module() + ".lora_B.weight", new long[] {g.out(), r}, ParamSpec.Role.MATRIX));
        }
        for (int p : saved) {
            t.add(model.get(p));
        }
        this.tensors = List.copyOf(t);
    }

    /**
     * This set with the model parameters {@code params} trained in full beside the adapters, as PEFT's
     * modules_to_save does (a sequence classifier's head: PEFT's SEQ_CLS saves its classifier): each is a tensor of
     * the set, after the A and B pairs, that replaces its parameter; it starts from the model's value.
     */
    public Lora withSaved(int... params) {
        for (int p : params) {
            if (p < 0 || p >= model.size() || targets.stream().anyMatch(g -> g.parameter() == p)) {
                throw new IllegalArgumentException("parameter " + p + " cannot be saved beside the adapters");
            }
        }
        return new Lora(r, alpha, targets, model, modules, params, outputHook);
    }

    /** Per target: whether the architecture hooks its projection's output (the attention's q, k, v). */
    private static boolean[] hooks(Architecture architecture, List<Target> targets) {
        Set<String> hooked = new TreeSet<>();
        for (String q : List.of("q", "k", "v")) {
            String m = architecture.adapterModules().get(q);
            if (m != null) {
                hooked.add(m);
            }
        }
        boolean[] h = new boolean[targets.size()];
        for (int k = 0; k < h.length; k++) {
            String module = targets.get(k).module();
            h[k] = hooked.stream().anyMatch(m -> module.endsWith("." + m));
        }
        return h;
    }

    /** The model parameters trained in full beside the adapters (modules_to_save), in the set's order. */
    public int[] saved() {
        return saved.clone();
    }

    /**
     * LoRA of rank {@code r} and scale α/r on the {@code targets} of a model of {@code architecture} (named
     * {@code archName} in messages): short names (q, k, v, ...) or Hugging Face module names, as
     * {@link Architecture#adapterModules()} lists them.
     */
    public static Lora of(Architecture architecture, String archName, List<ParamSpec> model, int r, double alpha,
            List<String> targets) {
        if (r <= 0) {
            throw new ZotuneException("key 'peft.r' must be >= 1, got " + r);
        }
        if (!Double.isFinite(alpha) || alpha <= 0) {
            throw new ZotuneException("key 'peft.alpha' must be a finite number > 0, got " + alpha);
        }
        requireScale("key 'peft.alpha'", alpha, r);
        Map<String, String> names = architecture.adapterModules();
        if (names.isEmpty()) {
            throw new ZotuneException("peft.method lora: no LoRA targets are defined for " + archName);
        }
        Set<String> chosen = new LinkedHashSet<>();
        for (String t : targets) {
            chosen.addAll(modules(names, archName, t));
        }
        List<Target> found = new ArrayList<>();
        Set<String> matched = new TreeSet<>();
        for (int p = 0; p < model.size(); p++) {
            ParamSpec s = model.get(p);
            for (String m : chosen) {
                if (s.shape().length == 2 && inLayer(s.name(), m)) {
                    long[] sh = s.shape();
                    found.add(new Target(p, s.name().substring(0, s.name().length() - ".weight".length()),
                            Math.toIntExact(sh[0]), Math.toIntExact(sh[1])));
                    matched.add(m);
                }
            }
        }
        for (String m : chosen) {
            if (!matched.contains(m)) {
                throw new ZotuneException("key 'peft.targets': the model has no module " + m + " (" + archName + ")");
            }
        }
        List<String> modules = new ArrayList<>();
        for (String m : chosen) {
            String last = m.substring(m.lastIndexOf('.') + 1);
            if (!modules.contains(last)) {
                modules.add(last);
            }
        }
        return new Lora(architecture, r, alpha, found, model, modules);
    }

    /**
     * Whether parameter {@code name} is the weight of the module {@code inLayer} of a layer: the name is
     * {@code <...>.<layer index>.<inLayer>.weight}. Suffixes alone are ambiguous in BERT: the FFN's
     * {@code output.dense} is also the end of {@code attention.output.dense}.
     */
    static boolean inLayer(String name, String inLayer) {
        String suffix = "." + inLayer + ".weight";
        if (!name.endsWith(suffix)) {
            return false;
        }
        String before = name.substring(0, name.length() - suffix.length());
        int dot = before.lastIndexOf('.');
        String index = before.substring(dot + 1);
        return !index.isEmpty() && index.chars().allMatch(Character::isDigit);
    }

    /** {@link #ofPeft(Architecture, String, List, int, double, List, boolean, Function)} on zotune's own names. */
    public static Lora ofPeft(Architecture architecture, String archName, List<ParamSpec> model, int r, double alpha,
            List<String> targetModules, boolean regex) {
        return ofPeft(architecture, archName, model, r, alpha, targetModules, regex, Function.identity());
    }

    /**
     * LoRA on the modules a Hugging Face PEFT adapter names, by PEFT's own rule (check_target_module_exists): a module
     * is adapted when its name equals an entry of {@code target_modules} or ends with {@code "." + entry} (or, for a
     * string, when the regular expression matches its whole name). Names are those of the model class the adapter was
     * made on ({@code keys}: BertModel's {@code encoder.layer.0...} or BertForMaskedLM's {@code bert.encoder...}).
     * Only the layers' linear modules zotune adapts ({@link Architecture#adapterModules()}) may match: an entry that
     * matches none of them, or that also selects another linear module PEFT would adapt (BERT's pooler.dense for
     * {@code dense}), is one line.
     *
     * @param targetModules PEFT's target_modules: a list of names, or one regular expression ({@code regex} true)
     * @param keys          a model parameter's module name to its name in the adapter's model class, or null when
     *                      that class has no such module
     */
    public static Lora ofPeft(Architecture architecture, String archName, List<ParamSpec> model, int r, double alpha,
            List<String> targetModules, boolean regex, Function<String, String> keys) {
        if (r <= 0) {
            throw new ZotuneException("r must be >= 1, got " + r);
        }
        if (!Double.isFinite(alpha) || alpha <= 0) {
            throw new ZotuneException("lora_alpha must be a finite number > 0, got " + alpha);
        }
        requireScale("lora_alpha", alpha, r);
        Set<String> linear = new TreeSet<>(architecture.adapterModules().values());
        List<Target> found = new ArrayList<>();
        Set<String> used = new LinkedHashSet<>();
        for (int p = 0; p < model.size(); p++) {
            ParamSpec s = model.get(p);
            if (!s.name().endsWith(".weight") || s.shape().length != 2 || s.role() != ParamSpec.Role.MATRIX) {
                continue; // PEFT's LoRA on embeddings has other tensors (lora_embedding_A/B): not a target here
            }
            String module = s.name().substring(0, s.name().length() - ".weight".length());
            String key = keys.apply(module);
            if (key == null) {
                continue;
            }
            String hit = null;
            for (String t : targetModules) {
                if (regex ? key.matches(t) : peftMatches(key, t)) {
                    hit = t;
                    break;
                }
            }
            if (hit == null) {
                continue;
            }
            if (linear.stream().noneMatch(l -> inLayer(s.name(), l))) {
                throw new ZotuneException("target_modules: '" + hit + "' also selects " + key + ", which PEFT "
                        + "adapts and zotune does not (zotune adapts the layers' " + String.join(", ", linear) + ")");
            }
            long[] sh = s.shape();
            found.add(new Target(p, module, Math.toIntExact(sh[0]), Math.toIntExact(sh[1])));
            used.add(hit);
        }
        for (String t : targetModules) {
            if (!used.contains(t)) {
                throw new ZotuneException("target_modules: '" + t + "' matches no module zotune adapts in this "
                        + archName + " model; valid: " + String.join(", ", linear) + " (or their last names)");
            }
        }
        return new Lora(architecture, r, alpha, found, model, targetModules);
    }

    /** PEFT's rule for one entry of a target_modules list: the module's name is the entry or ends with "." + it. */
    public static boolean peftMatches(String key, String entry) {
        return key.equals(entry) || key.endsWith("." + entry);
    }

    /**
     * target_modules for PEFT that selects exactly this set's modules in the adapter's model class (named by
     * {@code keys}) among its linear modules: the modules' last names (query, value) when PEFT's rule selects
     * these modules and no other; otherwise one regular expression (PEFT fullmatches a string) of the adapted
     * names with the layer index as {@code \d+} (BERT's down alone: {@code output.dense} would select the
     * attention's output.dense too).
     */
    public JsonValue peftTargetModules(Function<String, String> keys) {
        Set<String> adapted = new LinkedHashSet<>();
        for (Target g : targets) {
            adapted.add(keys.apply(g.module()));
        }
        if (selected(keys, modules, false).equals(adapted)) {
            return new JsonValue(modules, null);
        }
        Set<String> alternatives = new LinkedHashSet<>();
        for (String k : adapted) {
            alternatives.add(k.replace(".", "\\.").replaceAll("\\\\\\.[0-9]+\\\\\\.", "\\\\.\\\\d+\\\\."));
        }
        String regex = alternatives.size() == 1 ? alternatives.iterator().next()
                : "(?:" + String.join("|", alternatives) + ")";
        if (!selected(keys, List.of(regex), true).equals(adapted)) {
            throw new IllegalStateException("no target_modules selects exactly " + adapted + ": " + regex);
        }
        return new JsonValue(null, regex);
    }

    /** target_modules as PEFT stores it: a list of names, or one regular expression. */
    public record JsonValue(List<String> names, String regex) {
    }

    /** The names PEFT's rule selects among the model's linear modules in the class named by {@code keys}. */
    private Set<String> selected(Function<String, String> keys, List<String> entries, boolean regex) {
        Set<String> out = new LinkedHashSet<>();
        for (ParamSpec s : model) {
            if (!s.name().endsWith(".weight") || s.shape().length != 2 || s.role() != ParamSpec.Role.MATRIX) {
                continue;
            }
            String key = keys.apply(s.name().substring(0, s.name().length() - ".weight".length()));
            if (key == null) {
                continue;
            }
            for (String e : entries) {
                if (regex ? key.matches(e) : peftMatches(key, e)) {
                    out.add(key);
                    break;
                }
            }
        }
        return out;
    }

    /**
     * α/r is applied in float32: one that overflows it makes every adapted weight infinite (or NaN where B is 0).
     *
     * @param key names α in the message
     */
    public static void requireScale(String key, double alpha, int r) {
        if (!Float.isFinite((float) (alpha / r))) {
            throw new ZotuneException(key + " " + alpha + " is too large: alpha / r = " + alpha / r
                    + " overflows float32 (at most " + Float.MAX_VALUE + ")");
        }
    }

    /**
     * Refuses adapter tensors (in {@link #tensors()}'s order) whose update (α/r)·B·A could leave float32's range for
     * some element: a bound per target, (α/r)·max_o Σ_j |B_oj|·max_i |A_ji|, must stay finite. Adapters that pass
     * give finite merged weights wherever the base's weights are far from float32's limit.
     *
     * @param what names the tensors' file in the message
     */
    public void requireFiniteUpdate(String what, List<HostTensor> adapters) {
        double s = alpha / r;
        for (int k = 0; k < targets.size(); k++) {
            Target g = targets.get(k);
            float[] at = adapters.get(2 * k).toFloats();
            float[] b = adapters.get(2 * k + 1).toFloats();
            double[] maxA = new double[r]; // per rank j: max over i of |A_ji|
            for (int i = 0; i < g.in(); i++) {
                for (int j = 0; j < r; j++) {
                    maxA[j] = Math.max(maxA[j], Math.abs(at[i * r + j]));
                }
            }
            double bound = 0;
            for (int o = 0; o < g.out(); o++) {
                double row = 0;
                for (int j = 0; j < r; j++) {
                    row += Math.abs(b[o * r + j]) * maxA[j];
                }
                bound = Math.max(bound, s * row);
            }
            if (!(bound <= Float.MAX_VALUE)) {
                throw new ZotuneException(what + ": LoRA update of " + g.module() + " can reach " + bound
                        + " (alpha / r = " + s + "), beyond float32's range: the adapted weights would be infinite");
            }
        }
    }

    /**
     * The inverse of {@link #toPeft}: a PEFT adapter's tensors (by name, any float dtype) in {@link #tensors()}'s
     * order and zotune's layout (A transposed to Aᵀ), float32. Every expected tensor must be there with its shape,
     * and nothing else: one line naming the first tensor that is missing, misshapen or unexpected.
     */
    public List<HostTensor> fromPeft(Map<String, HostTensor> peft) {
        return fromPeft(peft, Function.identity());
    }

    /** {@link #fromPeft(Map)} of an adapter made on the model class whose module names {@code keys} gives. */
    public List<HostTensor> fromPeft(Map<String, HostTensor> peft, Function<String, String> keys) {
        Set<String> expected = new LinkedHashSet<>();
        List<HostTensor> out = new ArrayList<>();
        for (Target g : targets) {
            String name = PEFT_PREFIX + keys.apply(g.module());
            HostTensor a = peftTensor(peft, name + ".lora_A.weight", r, g.in());
            HostTensor b = peftTensor(peft, name + ".lora_B.weight", g.out(), r);
            expected.add(a.name());
            expected.add(b.name());
            float[] av = a.toFloats();
            float[] at = new float[av.length];
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < g.in(); i++) {
                    at[i * r + j] = av[j * g.in() + i];
                }
            }
            out.add(HostTensor.ofFloats(g.module() + ".lora_A.weight", at, g.in(), r));
            out.add(HostTensor.ofFloats(g.module() + ".lora_B.weight", b.toFloats(), g.out(), r));
        }
        for (String n : new TreeSet<>(peft.keySet())) {
            if (!expected.contains(n)) {
                throw new ZotuneException("tensor " + n + " is not one of this adapter's LoRA tensors (target_modules "
                        + modules + " over the model's modules select " + targets.size() + " modules)");
            }
        }
        return out;
    }

    private static HostTensor peftTensor(Map<String, HostTensor> peft, String name, long rows, long cols) {
        HostTensor t = peft.get(name);
        if (t == null) {
            throw new ZotuneException("tensor " + name + " is missing");
        }
        long[] s = t.shape();
        if (s.length != 2 || s[0] != rows || s[1] != cols) {
            throw new ZotuneException("tensor " + name + " has shape " + java.util.Arrays.toString(s) + ", the model "
                    + "needs [" + rows + ", " + cols + "]");
        }
        if (t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
            throw new ZotuneException("tensor " + name + " is " + t.dtype() + ", not a float type");
        }
        return t;
    }

    /**
     * W + (α/r)·B·A for each adapted weight of {@code base} (the model's parameters, zotune's layout and order), in
     * double and rounded once to float32, returned in the base tensors' dtype: the merged full weights
     * ({@code --merge}). Parameters without an adapter are returned as they are.
     *
     * @param adapters the set's tensors in {@link #tensors()}'s order
     */
    public List<HostTensor> merge(List<HostTensor> base, List<HostTensor> adapters) {
        if (base.size() != model.size() || adapters.size() != tensors.size()) {
            throw new IllegalArgumentException(base.size() + " base and " + adapters.size() + " adapter tensors for "
                    + model.size() + " and " + tensors.size());
        }
        List<HostTensor> out = new ArrayList<>(base);
        double s = alpha / r;
        for (int k = 0; k < targets.size(); k++) {
            Target g = targets.get(k);
            float[] at = adapters.get(2 * k).toFloats();
            float[] b = adapters.get(2 * k + 1).toFloats();
            HostTensor w = base.get(g.parameter());
            float[] v = w.toFloats();
            double[] row = new double[g.in()];
            for (int o = 0; o < g.out(); o++) {
                java.util.Arrays.fill(row, 0);
                for (int j = 0; j < r; j++) {
                    double bj = b[o * r + j];
                    for (int i = 0; i < g.in(); i++) {
                        row[i] += bj * at[i * r + j];
                    }
                }
                for (int i = 0; i < g.in(); i++) {
                    v[o * g.in() + i] = (float) (v[o * g.in() + i] + s * row[i]);
                }
            }
            out.set(g.parameter(), ofDType(w.name(), v, w.shape(), w.dtype()));
        }
        for (int i = 0; i < saved.length; i++) {
            HostTensor w = base.get(saved[i]);
            out.set(saved[i], ofDType(w.name(), adapters.get(2 * targets.size() + i).toFloats(), w.shape(),
                    w.dtype()));
        }
        return out;
    }

    /**
     * Overwrites each adapted weight of {@code params} (the model's parameters on {@code ops}, in the compute type)
     * with W + (α/r)·B·A formed by {@link Ops#loraWeight}: bitwise what {@link #apply}'s rule gives every pass on the
     * same backend, for inference that forms W' once. {@code adapters}: the set's float32 tensors, {@link #tensors()}'s
     * order.
     */
    public void mergeInto(Ops ops, Parameters params, Parameters adapters) {
        if (params.count() != model.size() || adapters.count() != tensors.size()) {
            throw new IllegalArgumentException(params.count() + " parameters and " + adapters.count() + " adapter "
                    + "tensors for " + model.size() + " and " + tensors.size());
        }
        for (int k = 0; k < targets.size(); k++) {
            Tensor w = params.weight(targets.get(k).parameter());
            try (Ops.Scope s = ops.scope()) {
                ops.copy(w, ops.loraWeight(w, adapters.weight(2 * k + 1), adapters.weight(2 * k), scale()));
            }
        }
    }

    /** Float values as a host tensor of {@code dtype} (rounded to nearest even for bf16/f16). */
    private static HostTensor ofDType(String name, float[] v, long[] shape, DType dtype) {
        if (dtype == DType.F32) {
            return HostTensor.ofFloats(name, v, shape);
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(2 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putShort(dtype == DType.BF16 ? DType.floatToBf16(f) : DType.floatToF16(f));
        }
        b.flip();
        return new HostTensor(name, dtype, shape, b);
    }

    /**
     * A short name, or a module name inside a layer, to the modules it names: a short name or a module's full name
     * (e.g. self_attn.q_proj, output.dense) names that module; another name names every module ending with
     * "." + it (q_proj; BERT's dense names all three of its layer's dense modules).
     */
    private static List<String> modules(Map<String, String> names, String archName, String target) {
        String m = names.get(target);
        if (m != null) {
            return List.of(m);
        }
        Set<String> all = new TreeSet<>(names.values());
        if (all.contains(target)) {
            return List.of(target);
        }
        List<String> out = new ArrayList<>();
        for (String v : all) {
            if (v.endsWith("." + target)) {
                out.add(v);
            }
        }
        if (!out.isEmpty()) {
            return out;
        }
        throw new ZotuneException("key 'peft.targets': unknown target '" + target + "' for " + archName
                + "; valid: " + String.join(", ", new TreeSet<>(names.keySet())) + " or the modules "
                + String.join(", ", all));
    }

    @Override
    public String method() {
        return "lora";
    }

    @Override
    public Adapter.Bound bind(Ops ops, LanguageModel model, WeightSource frozen, long runSeed) {
        List<HostTensor> init = new ArrayList<>(initial(runSeed));
        for (int i = 0; i < saved.length; i++) { // a saved parameter starts from the model's value
            ParamSpec s = tensors.get(2 * targets.size() + i);
            init.add(HostTensor.ofFloats(s.name(), ops.toHost(frozen.weight(saved[i])), s.shape()));
        }
        Applied a = apply(ops);
        return new Adapter.Bound(a.set(), init, a::close);
    }

    public int r() {
        return r;
    }

    public double alpha() {
        return alpha;
    }

    /** α/r in float32, the factor B·A is scaled by. */
    public float scale() {
        return (float) (alpha / r);
    }

    public List<Target> targets() {
        return targets;
    }

    /** The adapted modules' last names (PEFT's target_modules), in the order first named. */
    public List<String> targetModules() {
        return modules;
    }

    /** The trainable tensors: per target Aᵀ [in, r] ({@code <module>.lora_A.weight}) then B [out, r]. */
    @Override
    public List<ParamSpec> tensors() {
        return tensors;
    }

    /**
     * The initial A and B tensors: A Kaiming-uniform from {@code runSeed}, B zero (float32); the saved parameters'
     * starting values are the model's ({@link #bind} reads them).
     */
    public List<HostTensor> initial(long runSeed) {
        long seed = Noise.stepSeed(runSeed, 0);
        List<HostTensor> out = new ArrayList<>();
        long index = 0; // A's elements in PEFT's [r, in] order, over the targets in order
        for (int k = 0; k < targets.size(); k++) {
            Target g = targets.get(k);
            float bound = (float) (1.0 / Math.sqrt(g.in()));
            float[] at = new float[g.in() * r];
            for (int i = 0; i < r; i++) {
                for (int j = 0; j < g.in(); j++) {
                    float u = Noise.uniform(Noise.word(seed, INIT_STREAM, index++));
                    at[j * r + i] = bound * (2f * u - 1f);
                }
            }
            ParamSpec a = tensors.get(2 * k);
            ParamSpec b = tensors.get(2 * k + 1);
            out.add(HostTensor.ofFloats(a.name(), at, a.shape()));
            out.add(HostTensor.ofFloats(b.name(), new float[g.out() * r], b.shape()));
        }
        return out;
    }

    /**
     * The tensors under Hugging Face PEFT's names and layouts: {@code base_model.model.<module>.lora_A.weight}
     * [r, in] (Aᵀ transposed back) and {@code ...lora_B.weight} [out, r], float32.
     *
     * @param adapters the set's tensors in {@link #tensors()}'s order (e.g. an engine's export)
     */
    public List<HostTensor> toPeft(List<HostTensor> adapters) {
        return toPeft(adapters, Function.identity());
    }

    /**
     * {@link #toPeft(List)} under the names of the model class {@code keys} gives (BertModel's
     * {@code base_model.model.encoder...} for an encoder's embeddings).
     */
    public List<HostTensor> toPeft(List<HostTensor> adapters, Function<String, String> keys) {
        if (adapters.size() != tensors.size()) {
            throw new IllegalArgumentException(adapters.size() + " adapter tensors for " + tensors.size());
        }
        List<HostTensor> out = new ArrayList<>();
        for (int k = 0; k < targets.size(); k++) {
            Target g = targets.get(k);
            float[] at = adapters.get(2 * k).toFloats();
            float[] a = new float[at.length];
            for (int i = 0; i < g.in(); i++) {
                for (int j = 0; j < r; j++) {
                    a[j * g.in() + i] = at[i * r + j];
                }
            }
            String name = PEFT_PREFIX + keys.apply(g.module());
            out.add(HostTensor.ofFloats(name + ".lora_A.weight", a, r, g.in()));
            out.add(HostTensor.ofFloats(name + ".lora_B.weight", adapters.get(2 * k + 1).toFloats(), g.out(), r));
        }
        for (int i = 0; i < saved.length; i++) { // PEFT saves a modules_to_save module under its own name
            HostTensor t = adapters.get(2 * targets.size() + i);
            String module = keys.apply(t.name().substring(0, t.name().lastIndexOf('.')));
            out.add(HostTensor.ofFloats(PEFT_PREFIX + module + t.name().substring(t.name().lastIndexOf('.')),
                    t.toFloats(), t.shape()));
        }
        return out;
    }

    /**
     * How a pass applies the adapters. MERGE: W' = W + (α/r)·B·A formed per use into one reused slot, then the
     * model's own product with W'. SKINNY: the frozen W's product, then y += (α/r)·(x·Aᵀ)·Bᵀ ({@link Ops#loraDelta})
     * where the model offers the hook ({@link #skinny}: the attention's q, k, v, GPT-2's c_attn); the other targets
     * (o, up, down, ...) merge. Chosen by the system property {@code zotune.lora.path} ({@link #configuredPath}).
     */
    public enum Path {
        MERGE, SKINNY;

        /**
         * The property's value: merge, skinny, or auto = merge, the faster one measured (benchmarks/RESULTS.md, LoRA ZO
         * step: 34.2 vs 38.5 ms at GPT-2 1.5B 16x128 bf16, 123.6 vs 156.0 ms at 16x512, same memory).
         */
        public static Path parse(String value) {
            return switch (value) {
                case "merge", "auto" -> MERGE;
                case "skinny" -> SKINNY;
                default -> throw new ZotuneException("zotune.lora.path: '" + value + "' is not one of merge, skinny, "
                        + "auto");
            };
        }
    }

    /** The path {@link #apply(Ops)} takes: {@code -Dzotune.lora.path=merge|skinny|auto}, default auto. */
    public static Path configuredPath() {
        return Path.parse(System.getProperty("zotune.lora.path", "auto"));
    }

    /** Whether target k gets the skinny product under {@link Path#SKINNY} (its projection's output is hooked). */
    public boolean skinny(int k) {
        return outputHook[k];
    }

    /** {@link #apply(Ops, Path)} on {@link #configuredPath()}. */
    public Applied apply(Ops ops) {
        return apply(ops, configuredPath());
    }

    /**
     * The set's rules on {@code ops}. Merged targets: W' = W + (α/r)·B·A formed per use by {@link Ops#loraWeight}
     * into one slot the size of the largest merged weight, made here and reused for every merged weight of every pass
     * (the frozen W is read, never written; W' is in the compute type, B·A in float32 from the float32 adapters, so
     * a bf16/f16 base trains float32 adapters on every backend). A W' is valid until the next adapted weight is asked
     * for: the models use each weight before asking for the next ({@code LoraLivenessTest}), so a pass holds one W'
     * beyond the base however many layers are adapted. Skinny targets ({@link Path#SKINNY}): no W', the frozen
     * weight and {@link Ops#loraDelta} on the projection's output. Not for concurrent passes on one
     * {@code Applied}. Close it to free the slot.
     */
    public Applied apply(Ops ops, Path path) {
        float s = scale();
        long largest = 0;
        Map<Integer, WeightRule> rules = new LinkedHashMap<>();
        Map<Integer, OutputDelta> deltas = new LinkedHashMap<>();
        for (int k = 0; k < targets.size(); k++) {
            Target g = targets.get(k);
            int a = 2 * k;
            int b = 2 * k + 1;
            if (path == Path.SKINNY && outputHook[k]) {
                deltas.put(g.parameter(), (o, x, y, trained) -> o.loraDelta(x, trained.tensor(a), trained.tensor(b),
                        s, y));
            } else {
                largest = Math.max(largest, (long) g.out() * g.in());
            }
        }
        Parameters slot = null;
        if (largest > 0) {
            DType t = ops.computeType();
            java.nio.ByteBuffer zeros = java.nio.ByteBuffer.allocate(Math.toIntExact(largest * t.bytes()))
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            slot = ops.createParameters(List.of(new HostTensor("lora.slot", t, new long[] {1, largest}, zeros)), t);
            Tensor view = slot.weight(0);
            for (int k = 0; k < targets.size(); k++) {
                if (deltas.containsKey(targets.get(k).parameter())) {
                    continue;
                }
                int a = 2 * k;
                int b = 2 * k + 1;
                rules.put(targets.get(k).parameter(), (index, base, trained) ->
                        ops.loraWeight(base.weight(index), trained.tensor(b), trained.tensor(a), s, view));
            }
        }
        for (int i = 0; i < saved.length; i++) {
            rules.put(saved[i], WeightRule.replacedBy(2 * targets.size() + i));
        }
        return new Applied(TrainableSet.adapters(model, tensors, rules, deltas), slot);
    }

    /** The LoRA set bound to one backend, with the slot its rules form W' in. */
    public static final class Applied implements AutoCloseable {
        private final TrainableSet set;
        private Parameters slot;

        Applied(TrainableSet set, Parameters slot) {
            this.set = set;
            this.slot = slot;
        }

        public TrainableSet set() {
            return set;
        }

        /** Elements of the W' slot (the largest adapted weight's). */
        public long slotElements() {
            return slot == null ? 0 : slot.weight(0).numel();
        }

        /** Frees the slot; the set's rules must not run afterwards. */
        @Override
        public void close() {
            if (slot != null) {
                slot.close();
                slot = null;
            }
        }
    }
}
