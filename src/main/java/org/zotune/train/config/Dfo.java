package org.zotune.train.config;

import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.dfo.search.Fireworks;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.Positive;

/**
 * The DFO-LoRA search (key dfo, ALGORITHMS.md §7), read when method is dfo. What needs the model (rank against
 * the hidden size, targets against the architecture, the budget against the layers) is checked when it is
 * loaded ({@link org.zotune.dfo.run.DfoTrainer}).
 *
 * @param optimizer  cma (C-LoRA), fwa (F-LoRA) or alternate (the article's: CMA-ES and Fireworks alternate at
 *                   each visit of a layer, a visit being one generation of it)
 * @param subspace   D, the dimension of each layer's subspace point; split into one block per factor (A and B of
 *                   each target), so divisible by 2 × the number of targets (4 for [q, k])
 * @param rank       r of the low-rank factors (at most the hidden size)
 * @param targets    the adapted attention projections: q, k (default both)
 * @param population λ, candidates per generation (>= 2)
 * @param sigma0     the optimisers' initial step size σ0 (> 0); it also scales the A maps (§7)
 * @param budget     forward evaluations in all (λ per generation), at least one generation
 * @param schedule   layers (each layer budget/(λ·L) generations in turn, the public code's) or rounds (one
 *                   generation per layer per round, cycling)
 * @param covariance CMA-ES's covariance: separable (default: at D = 500, λ = 20 it reached lower values than full
 *                   within 8000 evaluations on sphere and ellipsoid at ~1/120 of the time per generation;
 *                   benchmarks/RESULTS.md) or full
 * @param alpha      α of the A maps' scale s_l = α·σ̂_l/(sqrt(D)·σ0)
 * @param fireworks  Fireworks constants overriding its defaults, by the names of {@link #FIREWORKS_KEYS}
 */
public record Dfo(
        @Default("alternate") @Choice(org.zotune.dfo.DfoSearch.Method.class) String optimizer,
        @Default("500") @AtLeast(1) Integer subspace,
        @Default("4") @AtLeast(1) Integer rank,
        List<String> targets,
        @Default("20") @AtLeast(2) Integer population,
        @Default("1") @Positive Double sigma0,
        @Default("8000") @AtLeast(1) Long budget,
        @Default("layers") @Choice(org.zotune.dfo.DfoSearch.Schedule.class) String schedule,
        @Default("separable") @Choice(Covariance.class) String covariance,
        @Default("1") @Positive Double alpha,
        @Default("{}") Map<String, Double> fireworks) {

    /** CMA-ES's covariance model (key dfo.covariance). */
    public enum Covariance { FULL, SEPARABLE }

    /**
     * The Fireworks constants a run may set (key dfo.fireworks; {@link Fireworks.Settings}, ALGORITHMS.md §7), each
     * with what it must be: amplitude_up and amplitude_down, the amplitude's factors after an improving / a failed
     * generation (1.2, 0.9); mutation_fraction, the share of Gaussian mutation sparks (0.2); amplitude_per_sigma,
     * A₀ / sigma0 (√3: a first-generation coordinate has standard deviation sigma0); mutation_scale (1);
     * min_amplitude_ratio, the amplitude's floor as a fraction of A₀ (1e-8); bound, the box |z_i| <= bound
     * (default: unbounded). Absent keys keep the defaults.
     */
    public static final Map<String, String> FIREWORKS_KEYS = new java.util.TreeMap<>(Map.of(
            "amplitude_up", "a number > 1",
            "amplitude_down", "a number in (0, 1)",
            "mutation_fraction", "a number in [0, 1)",
            "amplitude_per_sigma", "a number > 0",
            "mutation_scale", "a number > 0",
            "min_amplitude_ratio", "a number in (0, 1]",
            "bound", "a number > 0"));

    /** The Fireworks settings of this section: {@link Fireworks.Settings#DEFAULTS} with its overrides. */
    public Fireworks.Settings fireworksSettings() {
        Fireworks.Settings d = Fireworks.Settings.DEFAULTS;
        Fireworks.Settings s = new Fireworks.Settings(
                fireworks.getOrDefault("mutation_fraction", d.mutationFraction()),
                fireworks.getOrDefault("amplitude_up", d.amplitudeUp()),
                fireworks.getOrDefault("amplitude_down", d.amplitudeDown()),
                fireworks.getOrDefault("amplitude_per_sigma", d.amplitudePerSigma()),
                fireworks.getOrDefault("mutation_scale", d.mutationScale()),
                fireworks.getOrDefault("min_amplitude_ratio", d.minAmplitudeRatio()), d.lower(), d.upper());
        Double bound = fireworks.get("bound");
        return bound == null ? s : s.withBounds(-bound, bound);
    }

    public Dfo {
        if (targets != null && targets.stream().anyMatch(java.util.Objects::isNull)) {
            throw new ZotuneException("key 'dfo.targets' holds an empty entry: name a module (e.g. [q, k])");
        }
        targets = targets == null ? List.of("q", "k") : List.copyOf(targets);
        if (targets.isEmpty()) {
            throw new ZotuneException("key 'dfo.targets' is empty: name at least one module (e.g. [q, k])");
        }
        if (new java.util.HashSet<>(targets).size() != targets.size()) {
            throw new ZotuneException("key 'dfo.targets' names a module twice: " + targets);
        }
        int blocks = 2 * targets.size();
        if (subspace % blocks != 0) {
            throw new ZotuneException("key 'dfo.subspace': " + subspace + " is not divisible by " + blocks
                    + " (one block per factor: A and B of each of the targets " + targets + ")");
        }
        if (budget < population) {
            throw new ZotuneException("key 'dfo.budget': " + budget + " is smaller than one generation (population "
                    + population + ")");
        }
        fireworks = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(fireworks));
        for (Map.Entry<String, Double> e : fireworks.entrySet()) {
            String key = "dfo.fireworks." + e.getKey();
            String rule = FIREWORKS_KEYS.get(e.getKey());
            if (rule == null) {
                throw new ZotuneException("unknown key '" + key + "' (valid keys in 'dfo.fireworks': "
                        + String.join(", ", FIREWORKS_KEYS.keySet()) + ")");
            }
            Double v = e.getValue();
            boolean ok = v != null && Double.isFinite(v) && switch (e.getKey()) {
                case "amplitude_up" -> v > 1;
                case "amplitude_down" -> v > 0 && v < 1;
                case "mutation_fraction" -> v >= 0 && v < 1;
                case "min_amplitude_ratio" -> v > 0 && v <= 1;
                default -> v > 0;
            };
            if (!ok) {
                throw new ZotuneException("key '" + key + "' must be " + rule + ", got " + v);
            }
        }
    }

    public org.zotune.dfo.DfoSearch.Method optimizerKind() {
        return RecordBinder.choice(org.zotune.dfo.DfoSearch.Method.class, optimizer);
    }

    public org.zotune.dfo.DfoSearch.Schedule scheduleKind() {
        return RecordBinder.choice(org.zotune.dfo.DfoSearch.Schedule.class, schedule);
    }

    /** Whether CMA-ES keeps a diagonal covariance. */
    public boolean separable() {
        return RecordBinder.choice(Covariance.class, covariance) == Covariance.SEPARABLE;
    }
}
