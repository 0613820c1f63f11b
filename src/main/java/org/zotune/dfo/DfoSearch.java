package org.zotune.dfo;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.data.split.SplitMix64;
import org.zotune.dfo.search.AskTell;
import org.zotune.dfo.search.SearchFactory;
import org.zotune.dfo.search.SearchFactory.Kind;

/**
 * The DFO-LoRA search (ALGORITHMS.md §7, "divide and conquer"): every layer's subspace point z_l is its own
 * sub-problem, searched by ask/tell optimisers one generation at a time; the λ candidates of a generation are
 * evaluated together by the {@link PopulationLoss}, every other layer held at its best point so far.
 * <p>
 * The run is a fixed sequence of generations, generation n (0-based) searching one layer:
 * <ul>
 * <li>{@link Schedule#LAYERS} (the public code's): layers one after another, G = ⌊budget / (λ·L)⌋ generations each;
 *     generation n searches layer ⌊n / G⌋. Each layer keeps its best z when the search moves on; the
 *     budget − λ·L·G evaluations left over are not spent.</li>
 * <li>{@link Schedule#ROUNDS}: one generation per layer per round, cycling; generation n searches layer n mod L, and
 *     the run has ⌊budget / λ⌋ generations (the last round may stop part way).</li>
 * </ul>
 * A <b>visit</b> is one generation of one layer; layer l's k-th visit (k = 0, 1, ...: its k-th generation in either
 * schedule) is searched by CMA-ES ({@link Method#CMA}), by the Fireworks algorithm ({@link Method#FWA}), or, under
 * {@link Method#ALTERNATE}, by CMA-ES when k is even and by Fireworks when k is odd. The article says only that the
 * two methods alternate; defining the visit as a generation makes {@code alternate} mean the same in both schedules
 * (under {@code layers} a layer is entered once, so alternating per entry would never reach Fireworks). Each
 * optimiser keeps its own state per layer across its visits: the layer's two optimisers do not share a mean; what
 * they share is the layer's best z, which is what the other layers see.
 * <p>
 * The budget counts forward evaluations of candidates, λ per generation: the search never starts a generation
 * that would take the count past the budget. The best z of a layer is the best candidate of that layer's
 * generations (lower loss; NaN counts as +∞), starting from z = 0 (the pretrained model) with loss +∞, so the first
 * generation's best finite candidate replaces it, as in the public code (a generation of NaN losses keeps z).
 * <p>
 * Everything random is in the optimisers, each seeded by {@link #optimizerSeed} from the run seed, the layer and
 * the kind, so a run is deterministic; {@link #writeState}/{@link #readState} round-trip the position, the budget
 * counter, the bests and every live optimiser's state, and a resumed search continues bit for bit.
 */
public final class DfoSearch {
    /** Which optimiser searches (key dfo.optimizer). */
    public enum Method { CMA, FWA, ALTERNATE }

    /** The order of generations over the layers (key dfo.schedule). */
    public enum Schedule { LAYERS, ROUNDS }

    /**
     * @param method     which optimiser searches each visit
     * @param schedule   the order of generations over the layers
     * @param population λ, candidates per generation (each optimiser's population size)
     * @param budget     forward evaluations in all (candidates evaluated)
     * @param seed       the run seed the optimisers' seeds derive from
     */
    public record Settings(Method method, Schedule schedule, int population, long budget, long seed) {
        public Settings {
            if (population < 2) {
                throw new ZotuneException("key 'dfo.population' must be >= 2, got " + population);
            }
            if (budget < population) {
                throw new ZotuneException("key 'dfo.budget': " + budget + " is smaller than one generation (population "
                        + population + ")");
            }
        }
    }

    /** One generation's outcome, for progress lines and metrics. */
    public record Generation(long index, long total, int layer, int visit, Kind kind, double bestLoss,
            double layerBest, long evaluations, long budget) {
        /** The progress line: generation, layer, optimiser, best losses, evaluations. */
        public String line() {
            return String.format(java.util.Locale.ROOT, "dfo: generation %d/%d layer %d (%s) best %.6f layer best "
                    + "%.6f evals %d/%d", index + 1, total, layer, kind == Kind.CMA_ES ? "cma" : "fwa", bestLoss,
                    layerBest, evaluations, budget);
        }
    }

    private static final int STATE_MAGIC = 0x5A44464F; // "ZDFO"
    private static final int STATE_VERSION = 1;

    private final PopulationLoss loss;
    private final SearchFactory factory;
    private final Settings settings;
    private final int layers;
    private final int dimension;
    private final long total;
    private final long perLayer; // LAYERS: generations per layer
    private final double[][] bestZ;
    private final double[] bestLoss;
    private final AskTell[][] optimizers; // [layer][kind], created on the layer's first visit by that kind
    private long position; // generations done
    private long evaluations;

    public DfoSearch(PopulationLoss loss, SearchFactory factory, Settings settings) {
        this.loss = loss;
        this.factory = factory;
        this.settings = settings;
        this.layers = loss.layers();
        this.dimension = loss.dimension();
        if (layers < 1 || dimension < 1) {
            throw new IllegalArgumentException("a population loss of " + layers + " layers of dimension " + dimension);
        }
        long lambda = settings.population();
        if (settings.schedule() == Schedule.LAYERS) {
            this.perLayer = settings.budget() / (lambda * layers);
            if (perLayer == 0) {
                throw new ZotuneException("key 'dfo.budget': " + settings.budget() + " gives no generation per layer "
                        + "under schedule layers (population " + lambda + " × " + layers + " layers = "
                        + lambda * layers + " evaluations); raise the budget or use schedule rounds");
            }
            this.total = perLayer * layers;
        } else {
            this.perLayer = 0;
            this.total = settings.budget() / lambda;
        }
        this.bestZ = new double[layers][dimension];
        this.bestLoss = new double[layers];
        Arrays.fill(bestLoss, Double.POSITIVE_INFINITY);
        this.optimizers = new AskTell[layers][Kind.values().length];
    }

    /** The seed of layer {@code layer}'s optimiser of kind {@code kind}: SplitMix64 outputs keyed on all three. */
    public static long optimizerSeed(long seed, int layer, Kind kind) {
        long s = new SplitMix64(seed).nextLong();
        s = new SplitMix64(s ^ (layer + 1L)).nextLong();
        return new SplitMix64(s ^ (kind.ordinal() + 1L)).nextLong();
    }

    public Settings settings() {
        return settings;
    }

    public int layers() {
        return layers;
    }

    public int dimension() {
        return dimension;
    }

    /** Generations in the whole run. */
    public long totalGenerations() {
        return total;
    }

    /** Generations done. */
    public long position() {
        return position;
    }

    /** Forward evaluations spent (λ per generation done; never more than the budget). */
    public long evaluations() {
        return evaluations;
    }

    public boolean done() {
        return position >= total;
    }

    /** The layer generation {@code n} searches. */
    public int layerOf(long n) {
        return (int) (settings.schedule() == Schedule.LAYERS ? n / perLayer : n % layers);
    }

    /** Which visit of its layer generation {@code n} is (0-based). */
    public long visitOf(long n) {
        return settings.schedule() == Schedule.LAYERS ? n % perLayer : n / layers;
    }

    /** The optimiser kind of a layer's visit {@code visit}. */
    public Kind kindOf(long visit) {
        return switch (settings.method()) {
            case CMA -> Kind.CMA_ES;
            case FWA -> Kind.FIREWORKS;
            case ALTERNATE -> visit % 2 == 0 ? Kind.CMA_ES : Kind.FIREWORKS;
        };
    }

    /** Every layer's best point so far (copies; z = 0 for a layer not searched yet). */
    public double[][] bestPoints() {
        double[][] out = new double[layers][];
        for (int l = 0; l < layers; l++) {
            out[l] = bestZ[l].clone();
        }
        return out;
    }

    /** Every layer's best loss so far (+∞ for a layer not searched yet). */
    public double[] bestLosses() {
        return bestLoss.clone();
    }

    /** Runs the next generation; fails when the search is done. */
    public Generation step() {
        if (done()) {
            throw new IllegalStateException("the search has run its " + total + " generations");
        }
        int lambda = settings.population();
        if (evaluations + lambda > settings.budget()) { // cannot happen by construction; the budget is a promise
            throw new IllegalStateException("generation " + position + " would exceed the budget");
        }
        long n = position;
        int layer = layerOf(n);
        int visit = Math.toIntExact(visitOf(n));
        Kind kind = kindOf(visit);
        AskTell opt = optimizer(layer, kind);
        double[][] candidates = opt.ask();
        if (candidates.length != lambda) {
            throw new IllegalStateException(kind + " asked " + candidates.length + " candidates, not " + lambda);
        }
        double[] values = loss.losses(layer, copy(candidates), bestPoints());
        if (values.length != lambda) {
            throw new IllegalStateException("the population loss returned " + values.length + " losses for "
                    + lambda + " candidates");
        }
        evaluations += lambda;
        opt.tell(values.clone());
        double genBest = Double.POSITIVE_INFINITY;
        int arg = -1;
        for (int i = 0; i < lambda; i++) {
            double v = Double.isNaN(values[i]) ? Double.POSITIVE_INFINITY : values[i];
            if (arg < 0 || v < genBest) {
                genBest = v;
                arg = i;
            }
        }
        if (genBest < bestLoss[layer]) {
            bestLoss[layer] = genBest;
            bestZ[layer] = candidates[arg].clone();
        }
        position++;
        if (settings.schedule() == Schedule.LAYERS && (done() || layerOf(position) != layer)) {
            Arrays.fill(optimizers[layer], null); // the layer is finished: its optimisers are not needed again
        }
        return new Generation(n, total, layer, visit, kind, genBest, bestLoss[layer], evaluations, settings.budget());
    }

    private AskTell optimizer(int layer, Kind kind) {
        AskTell o = optimizers[layer][kind.ordinal()];
        if (o == null) {
            o = factory.create(layer, kind, dimension, optimizerSeed(settings.seed(), layer, kind));
            if (o.dimension() != dimension || o.populationSize() != settings.population()) {
                throw new IllegalStateException(kind + " made for dimension " + o.dimension() + ", population "
                        + o.populationSize() + "; the search needs " + dimension + ", " + settings.population());
            }
            optimizers[layer][kind.ordinal()] = o;
        }
        return o;
    }

    private static double[][] copy(double[][] a) {
        double[][] out = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i].clone();
        }
        return out;
    }

    // ---- state ----

    /**
     * Writes the search's whole state: a header of the settings (checked on read), the position, the budget counter,
     * every layer's best z and loss (exact doubles), and each live optimiser's own state, length-prefixed.
     */
    public void writeState(DataOutput out) throws IOException {
        out.writeInt(STATE_MAGIC);
        out.writeInt(STATE_VERSION);
        out.writeInt(settings.method().ordinal());
        out.writeInt(settings.schedule().ordinal());
        out.writeInt(settings.population());
        out.writeLong(settings.budget());
        out.writeLong(settings.seed());
        out.writeInt(layers);
        out.writeInt(dimension);
        out.writeLong(position);
        out.writeLong(evaluations);
        for (int l = 0; l < layers; l++) {
            out.writeDouble(bestLoss[l]);
            for (double v : bestZ[l]) {
                out.writeDouble(v);
            }
        }
        for (int l = 0; l < layers; l++) {
            for (Kind k : Kind.values()) {
                AskTell o = optimizers[l][k.ordinal()];
                out.writeBoolean(o != null);
                if (o != null) {
                    ByteArrayOutputStream b = new ByteArrayOutputStream();
                    try (DataOutputStream d = new DataOutputStream(b)) {
                        o.writeState(d);
                    }
                    out.writeInt(b.size());
                    out.write(b.toByteArray());
                }
            }
        }
    }

    /**
     * Restores a state {@link #writeState} wrote for a search with the same settings, loss shape and optimiser
     * factory; a state of other settings is a one-line {@link ZotuneException} naming what differs.
     */
    public void readState(DataInput in) throws IOException {
        if (in.readInt() != STATE_MAGIC) {
            throw new ZotuneException("not a DFO-LoRA search state");
        }
        int version = in.readInt();
        if (version != STATE_VERSION) {
            throw new ZotuneException("DFO-LoRA search state version " + version + " is not one this zotune reads ("
                    + STATE_VERSION + ")");
        }
        same("optimizer", settings.method().ordinal(), in.readInt());
        same("schedule", settings.schedule().ordinal(), in.readInt());
        same("population", settings.population(), in.readInt());
        same("budget", settings.budget(), in.readLong());
        same("seed", settings.seed(), in.readLong());
        same("layers", layers, in.readInt());
        same("subspace", dimension, in.readInt());
        long pos = in.readLong();
        long evals = in.readLong();
        if (pos < 0 || pos > total || evals != pos * settings.population()) {
            throw new ZotuneException("DFO-LoRA search state: position " + pos + " with " + evals
                    + " evaluations does not fit a run of " + total + " generations of " + settings.population());
        }
        double[] losses = new double[layers];
        double[][] z = new double[layers][dimension];
        for (int l = 0; l < layers; l++) {
            losses[l] = in.readDouble();
            for (int i = 0; i < dimension; i++) {
                z[l][i] = in.readDouble();
                if (!Double.isFinite(z[l][i])) {
                    throw new ZotuneException("DFO-LoRA search state: layer " + l + "'s best point holds " + z[l][i]
                            + " at " + i + " (corrupt)");
                }
            }
            // +inf is a layer not searched yet; a search never keeps a NaN loss as its best
            if (Double.isNaN(losses[l])) {
                throw new ZotuneException("DFO-LoRA search state: layer " + l + "'s best loss is NaN (corrupt)");
            }
        }
        AskTell[][] opts = new AskTell[layers][Kind.values().length];
        for (int l = 0; l < layers; l++) {
            for (Kind k : Kind.values()) {
                if (in.readBoolean()) {
                    byte[] b = readBlock(in, l, k);
                    AskTell o = factory.create(l, k, dimension, optimizerSeed(settings.seed(), l, k));
                    try (DataInputStream d = new DataInputStream(new ByteArrayInputStream(b))) {
                        o.readState(d);
                        if (d.available() > 0) {
                            throw new ZotuneException("DFO-LoRA search state: " + d.available() + " bytes after layer "
                                    + l + "'s " + k + " state (not written by this zotune)");
                        }
                    }
                    opts[l][k.ordinal()] = o;
                }
            }
        }
        position = pos;
        evaluations = evals;
        for (int l = 0; l < layers; l++) {
            bestLoss[l] = losses[l];
            bestZ[l] = z[l];
            optimizers[l] = opts[l];
        }
    }

    /**
     * One optimiser's state block, read in pieces: a length the file does not hold ends in an EOFException (cut
     * short) after reading what is there, never in an allocation of the length claimed.
     */
    private static byte[] readBlock(DataInput in, int layer, Kind kind) throws IOException {
        int len = in.readInt();
        if (len < 0) {
            throw new ZotuneException("DFO-LoRA search state: layer " + layer + "'s " + kind + " state has length "
                    + len + " (corrupt)");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(len, 1 << 16));
        byte[] chunk = new byte[Math.min(len, 1 << 16)];
        for (int left = len; left > 0; left -= chunk.length) {
            int n = Math.min(left, chunk.length);
            in.readFully(chunk, 0, n);
            out.write(chunk, 0, n);
        }
        return out.toByteArray();
    }

    private static void same(String key, long expected, long got) {
        if (expected != got) {
            throw new ZotuneException("DFO-LoRA search state: " + key + " " + got + " is not this run's " + expected);
        }
    }
}
