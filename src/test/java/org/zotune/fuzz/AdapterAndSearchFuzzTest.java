package org.zotune.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.zotune.ZotuneException;
import org.zotune.dfo.DfoSearch;
import org.zotune.dfo.PopulationLoss;
import org.zotune.dfo.search.CmaEs;
import org.zotune.dfo.search.Fireworks;
import org.zotune.model.BundledModel;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.peft.Prefix;
import org.zotune.tensor.HostTensor;
import org.zotune.train.DfoCheckpoints;
import org.zotune.train.PeftImport;

/**
 * Fuzz targets for the inputs added with adapters and DFO-LoRA, in the manner of {@link ParsersFuzzTest}: each may
 * only return or throw {@link ZotuneException}. Under {@code mvn verify} each replays its committed corpus
 * ({@code src/test/resources/org/zotune/fuzz/AdapterAndSearchFuzzTestInputs/<target>/}) and then fuzzes it for its
 * {@code maxDuration} (the pom's {@code fuzz-<method>} executions); {@code scripts/fuzz.sh} fuzzes one for long
 * through its nested entry class.
 * <ul>
 * <li>peftAdapter: a PEFT LoRA adapter folder for the bundled stories260K. The input is a 4-byte big-endian length n,
 * n bytes of adapter_config.json, the rest adapter_model.safetensors; what loads has its tensors read.</li>
 * <li>dfoSearchState: a DFO-LoRA checkpoint's search.bin resumed by {@link DfoCheckpoints#load} into a search with
 * both optimisers (CMA-ES full covariance and Fireworks, schedule alternate) over a small quadratic; a state that
 * loads must also run its next generation.</li>
 * <li>prefixAdapter: a PEFT prefix-tuning adapter_model.safetensors whose prompt_embeddings are read back into the
 * bundled model's prefix of 2 tokens ({@link Prefix#fromPeft}).</li>
 * </ul>
 */
class AdapterAndSearchFuzzTest {
    private static final Path DIR;
    private static final LanguageModel MODEL = ModelLoader.load(BundledModel.get().model()).model();
    static final int LAYERS = 2;
    static final int DIMENSION = 4;
    static final long PROJECTION_SEED = 11;

    static {
        try {
            DIR = Files.createTempDirectory("zotune-fuzz-");
            DIR.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path write(Path file, byte[] bytes) {
        try {
            Files.createDirectories(file.getParent());
            return Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void refusesOrReads(Runnable parse) {
        try {
            parse.run();
        } catch (ZotuneException expected) {
            // bad input, reported in one line
        }
    }

    /** Splits a peftAdapter input into its two files (the length is clamped to what is there). */
    static byte[][] split(byte[] data) {
        if (data.length < 4) {
            return new byte[][] {data, new byte[0]};
        }
        long n = Integer.toUnsignedLong(ByteBuffer.wrap(data, 0, 4).getInt());
        int end = (int) Math.min(4 + n, data.length);
        return new byte[][] {Arrays.copyOfRange(data, 4, end), Arrays.copyOfRange(data, end, data.length)};
    }

    /** The search the dfoSearchState target resumes (and the seed generator saves). */
    static DfoSearch search() {
        PopulationLoss quadratic = new PopulationLoss() {
            @Override
            public int layers() {
                return LAYERS;
            }

            @Override
            public int dimension() {
                return DIMENSION;
            }

            @Override
            public double[] losses(int layer, double[][] candidates, double[][] current) {
                double[] out = new double[candidates.length];
                for (int c = 0; c < candidates.length; c++) {
                    for (int i = 0; i < DIMENSION; i++) {
                        double d = candidates[c][i] - 0.1 * (layer + 1);
                        out[c] += d * d;
                    }
                }
                return out;
            }
        };
        return new DfoSearch(quadratic, (layer, kind, dimension, seed) -> switch (kind) {
            case CMA_ES -> CmaEs.create(dimension, 4, 0.3, false, seed);
            case FIREWORKS -> Fireworks.create(dimension, 4, 0.3, seed);
        }, new DfoSearch.Settings(DfoSearch.Method.ALTERNATE, DfoSearch.Schedule.ROUNDS, 4, 200, 5));
    }

    public static final class PeftAdapter {
        public static void fuzzerTestOneInput(byte[] data) {
            new AdapterAndSearchFuzzTest().peftAdapter(data);
        }
    }

    public static final class DfoSearchState {
        public static void fuzzerTestOneInput(byte[] data) {
            new AdapterAndSearchFuzzTest().dfoSearchState(data);
        }
    }

    public static final class PrefixAdapter {
        public static void fuzzerTestOneInput(byte[] data) {
            new AdapterAndSearchFuzzTest().prefixAdapter(data);
        }
    }

    @FuzzTest(maxDuration = "3s")
    void peftAdapter(byte[] data) {
        byte[][] files = split(data);
        Path dir = DIR.resolve("adapter");
        write(dir.resolve("adapter_config.json"), files[0]);
        write(dir.resolve("adapter_model.safetensors"), files[1]);
        refusesOrReads(() -> {
            PeftImport.Adapter a = PeftImport.read(dir, MODEL, () -> "sha256:0");
            a.tensors().forEach(HostTensor::toFloats);
        });
    }

    @FuzzTest(maxDuration = "3s")
    void dfoSearchState(byte[] data) {
        Path run = DIR.resolve("dfo-run");
        Path step = run.resolve("checkpoint/step-3");
        write(run.resolve("checkpoint/latest.json"), "{\"step\": 3, \"dir\": \"step-3\"}".getBytes());
        write(step.resolve("state.json"), ("{\"method\": \"dfo\", \"projection_seed\": " + PROJECTION_SEED + "}")
                .getBytes());
        write(step.resolve("search.bin"), data);
        refusesOrReads(() -> {
            DfoSearch s = search();
            DfoCheckpoints.load(run, s, PROJECTION_SEED);
            if (!s.done()) {
                s.step();
            }
        });
    }

    @FuzzTest(maxDuration = "3s")
    void prefixAdapter(byte[] data) {
        Path file = write(DIR.resolve("prefix/adapter_model.safetensors"), data);
        Prefix prefix = Prefix.of(MODEL.config(), 2, 16);
        refusesOrReads(() -> {
            HostTensor t = SafetensorsFile.open(file).tensors().get("prompt_embeddings");
            if (t != null) {
                prefix.fromPeft(t, file.toString()).forEach(HostTensor::toFloats);
            }
        });
    }
}
