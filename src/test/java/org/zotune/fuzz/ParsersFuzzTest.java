package org.zotune.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.ReadOptions;
import org.zotune.data.io.KShotReader;
import org.zotune.data.io.TableLayout;
import org.zotune.data.io.TableReader;
import org.zotune.data.io.ZotuneJsonlReader;
import org.zotune.model.Checkpoint;
import org.zotune.model.io.HfConfig;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.HostTensor;
import org.zotune.train.TrainConfig;

/**
 * Fuzz targets for every parser of untrusted input: each reads the fuzzer's bytes as one file and may only return
 * or throw {@link ZotuneException} (a one-line error); anything else (another exception, an error, a hang) is a
 * finding. Under {@code mvn verify} each runs its committed corpus ({@code src/test/resources/org/zotune/fuzz/
 * ParsersFuzzTestInputs/<target>/}: valid seeds and every crash found so far) as a regression test, then fuzzes
 * it for its {@code maxDuration} (the pom's {@code fuzz-<method>} executions, with JAZZER_FUZZ set);
 * {@code scripts/fuzz.sh TARGET SECONDS} fuzzes one through the standalone Jazzer driver and its nested entry class.
 */
class ParsersFuzzTest {
    private static final Path DIR;

    static {
        try {
            DIR = Files.createTempDirectory("zotune-fuzz-");
            DIR.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path file(String name, byte[] bytes) {
        try {
            return Files.write(DIR.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs a parser; a ZotuneException is the expected refusal. */
    private static void refusesOrReads(Runnable parse) {
        try {
            parse.run();
        } catch (ZotuneException expected) {
            // bad input, reported in one line
        }
    }

    /** Entry points for the standalone Jazzer driver (scripts/fuzz.sh): {@code --target_class=...$Safetensors}. */
    public static final class Safetensors {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().safetensors(data);
        }
    }

    public static final class HfConfigJson {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().hfConfigJson(data);
        }
    }

    public static final class Llama2cCheckpoint {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().llama2cCheckpoint(data);
        }
    }

    public static final class Llama2cTokenizer {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().llama2cTokenizer(data);
        }
    }

    public static final class RunConfigYaml {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().runConfigYaml(data);
        }
    }

    public static final class Tsv {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().tsv(data);
        }
    }

    public static final class Jsonl {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().jsonl(data);
        }
    }

    public static final class KShot {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().kShot(data);
        }
    }

    public static final class TrajectoryFile {
        public static void fuzzerTestOneInput(byte[] data) {
            new ParsersFuzzTest().trajectory(data);
        }
    }

    @FuzzTest(maxDuration = "3s")
    void safetensors(byte[] data) {
        refusesOrReads(() -> {
            SafetensorsFile f = SafetensorsFile.open(file("x.safetensors", data));
            for (HostTensor t : f.tensors().values()) {
                t.toFloats();
            }
        });
    }

    @FuzzTest(maxDuration = "3s")
    void hfConfigJson(byte[] data) {
        refusesOrReads(() -> HfConfig.parse(Path.of("config.json"), new String(data, StandardCharsets.UTF_8)));
    }

    @FuzzTest(maxDuration = "3s")
    void llama2cCheckpoint(byte[] data) {
        refusesOrReads(() -> {
            Checkpoint c = org.zotune.model.io.Llama2cCheckpoint.open(file("model.bin", data));
            c.tensors().values().forEach(HostTensor::toFloats);
        });
    }

    @FuzzTest(maxDuration = "3s")
    void llama2cTokenizer(byte[] data) {
        refusesOrReads(() -> {
            org.zotune.model.tokenizer.Llama2cTokenizer t = org.zotune.model.tokenizer.Llama2cTokenizer.load(file("tokenizer.bin", data));
            t.decode(t.encode("Once upon a time"));
        });
    }

    @FuzzTest(maxDuration = "3s")
    void runConfigYaml(byte[] data) {
        refusesOrReads(() -> TrainConfig.parse("c.yaml", new String(data, StandardCharsets.UTF_8), List.of()));
    }

    @FuzzTest(maxDuration = "3s")
    void tsv(byte[] data) {
        refusesOrReads(() -> TableReader.sst2(file("train.tsv", data), ReadOptions.STRICT));
    }

    @FuzzTest(maxDuration = "3s")
    void jsonl(byte[] data) {
        refusesOrReads(() -> ZotuneJsonlReader.read(file("train.jsonl", data), ReadOptions.STRICT));
    }

    /** The first byte picks an LM-BFF task (its layout: TSV with a header, or headerless CSV); the rest is its file. */
    @FuzzTest(maxDuration = "3s")
    void kShot(byte[] data) {
        if (data.length == 0) {
            return;
        }
        List<String> tasks = KShotReader.tasks();
        String task = tasks.get((data[0] & 0xff) % tasks.size());
        String ext = KShotReader.layout(task).format() == TableLayout.Format.TSV ? ".tsv" : ".csv";
        Path dir = DIR.resolve("kshot").resolve(task).resolve("16-42");
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("train" + ext), java.util.Arrays.copyOfRange(data, 1, data.length));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        refusesOrReads(() -> KShotReader.read(DIR.resolve("kshot"), task, 16, 42, "train", ReadOptions.STRICT));
    }

    @FuzzTest(maxDuration = "3s")
    void trajectory(byte[] data) {
        refusesOrReads(() -> org.zotune.train.Trajectory.read(file("trajectory.jsonl", data)));
    }
}
