package org.zotune.dfo;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.zotune.data.split.SplitMix64;
import org.zotune.dfo.search.AskTell;
import org.zotune.dfo.search.SearchFactory;

/** Test-local stand-ins for the real optimisers and the batched forward: a (1+λ) random search and a quadratic. */
public final class SearchFixtures {
    private SearchFixtures() {
    }

    /**
     * (1+λ) random search: candidates mean + σ·u with u uniform in [-1, 1), drawn from a counter-based hash of
     * (seed, generation, index), so the state is the mean, the best and the generation count.
     */
    public static final class RandomSearch implements AskTell {
        final int dimension;
        final int population;
        final double sigma;
        final long seed;
        final SearchFactory.Kind kind;
        final int layer;
        double[] mean;
        double best = Double.POSITIVE_INFINITY;
        long generation;
        double[][] asked;

        public RandomSearch(int layer, SearchFactory.Kind kind, int dimension, int population, double sigma, long seed) {
            this.layer = layer;
            this.kind = kind;
            this.dimension = dimension;
            this.population = population;
            this.sigma = sigma;
            this.seed = seed;
            this.mean = new double[dimension];
        }

        @Override
        public int dimension() {
            return dimension;
        }

        @Override
        public int populationSize() {
            return population;
        }

        @Override
        public long generation() {
            return generation;
        }

        @Override
        public double[][] ask() {
            SplitMix64 r = new SplitMix64(seed * 31 + generation);
            asked = new double[population][dimension];
            for (int i = 0; i < population; i++) {
                for (int j = 0; j < dimension; j++) {
                    double u = (r.nextLong() >>> 11) * 0x1.0p-53 * 2 - 1;
                    asked[i][j] = mean[j] + sigma * u;
                }
            }
            double[][] out = new double[population][];
            for (int i = 0; i < population; i++) {
                out[i] = asked[i].clone();
            }
            return out;
        }

        @Override
        public void tell(double[] values) {
            for (int i = 0; i < population; i++) {
                double v = Double.isNaN(values[i]) ? Double.POSITIVE_INFINITY : values[i];
                if (v < best) {
                    best = v;
                    mean = asked[i].clone();
                }
            }
            generation++;
        }

        @Override
        public double[] best() {
            return mean.clone();
        }

        @Override
        public double bestValue() {
            return best;
        }

        @Override
        public void writeState(DataOutput out) throws IOException {
            out.writeLong(generation);
            out.writeDouble(best);
            for (double v : mean) {
                out.writeDouble(v);
            }
        }

        @Override
        public void readState(DataInput in) throws IOException {
            generation = in.readLong();
            best = in.readDouble();
            for (int j = 0; j < dimension; j++) {
                mean[j] = in.readDouble();
            }
        }
    }

    /** A factory of {@link RandomSearch}es that records what it made; FWA steps are wider, to tell them apart. */
    public static final class Factory implements SearchFactory {
        final int population;
        public final List<RandomSearch> made = new ArrayList<>();

        public Factory(int population) {
            this.population = population;
        }

        @Override
        public AskTell create(int layer, Kind kind, int dimension, long seed) {
            RandomSearch r = new RandomSearch(layer, kind, dimension, population, kind == Kind.CMA_ES ? 0.5 : 0.8,
                    seed);
            made.add(r);
            return r;
        }
    }

    /**
     * loss(z) = Σ_l Σ_i w_l·(z_l,i − c_l,i)² + coupling·(Σ_l z_l,0)²: each layer a quadratic around its own centre,
     * coupled through the first coordinates so that a layer's loss depends on the other layers' current points.
     * Records every call (layer, candidates, current).
     */
    public static final class Quadratic implements PopulationLoss {
        final int layers;
        final int dimension;
        public final List<Integer> layerCalls = new ArrayList<>();
        public final List<double[][]> candidateCalls = new ArrayList<>();
        public final List<double[][]> currentCalls = new ArrayList<>();
        public long evaluations;

        public Quadratic(int layers, int dimension) {
            this.layers = layers;
            this.dimension = dimension;
        }

        @Override
        public int layers() {
            return layers;
        }

        @Override
        public int dimension() {
            return dimension;
        }

        double value(double[][] z) {
            double s = 0;
            double first = 0;
            for (int l = 0; l < layers; l++) {
                for (int i = 0; i < dimension; i++) {
                    double d = z[l][i] - (l + 1) * 0.1 * (i % 3 - 1);
                    s += (1 + l) * d * d;
                }
                first += z[l][0];
            }
            return s + 0.3 * first * first;
        }

        @Override
        public double[] losses(int layer, double[][] candidates, double[][] current) {
            layerCalls.add(layer);
            candidateCalls.add(copy(candidates));
            currentCalls.add(copy(current));
            evaluations += candidates.length;
            double[] out = new double[candidates.length];
            for (int c = 0; c < candidates.length; c++) {
                double[][] z = copy(current);
                z[layer] = candidates[c].clone();
                out[c] = value(z);
            }
            return out;
        }

        static double[][] copy(double[][] a) {
            double[][] out = new double[a.length][];
            for (int i = 0; i < a.length; i++) {
                out[i] = a[i].clone();
            }
            return out;
        }
    }
}
