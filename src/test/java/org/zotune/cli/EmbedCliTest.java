package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Pooling;
import org.zotune.api.Precision;
import org.zotune.model.bert.TinyBertFolder;

/**
 * zotune embed on a tiny random BERT: a file of several chunks streams out line for line what the API gives each
 * line alone, with progress lines on stderr (none with --no-progress); --max-length cuts a long line as transformers
 * does (the first n - 1 tokens and the final [SEP]); its bad values and a too long line without it are one line,
 * exit 2, as is an --out whose folder is missing or that is a folder (checked before the model loads).
 */
class EmbedCliTest {
    @TempDir
    Path dir;

    private static final List<String> WORDS = List.of("it", "was", "great", "terrible", "the", "movie", "a", "film",
            "fun", "dull", "plot", "is", "acting", "wonderful", "boring", ".", ",");

    private static String sentence(Random r, int words) {
        StringBuilder b = new StringBuilder();
        for (int w = 0; w < words; w++) {
            b.append(w == 0 ? "" : " ").append(WORDS.get(r.nextInt(WORDS.size())));
        }
        return b.toString();
    }

    private static List<float[]> read(Path out) throws IOException {
        List<float[]> rows = new ArrayList<>();
        for (String l : Files.readAllLines(out)) {
            JsonNode e = new ObjectMapper().readTree(l).get("embedding");
            float[] v = new float[e.size()];
            for (int c = 0; c < v.length; c++) {
                v[c] = (float) e.get(c).asDouble();
            }
            rows.add(v);
        }
        return rows;
    }

    @Test
    void aLongFileStreamsInChunksWithProgress() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 3, false);
        Random r = new Random(7);
        List<String> lines = new ArrayList<>();
        int n = 2 * EmbedCommand.CHUNK + 37; // three chunks, the last one short
        for (int i = 0; i < n; i++) {
            lines.add(sentence(r, 1 + r.nextInt(12)));
        }
        Path text = Files.write(dir.resolve("in.txt"), lines);
        Path out = dir.resolve("out.jsonl");
        CliRun run = CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--normalize",
                "--out", out.toString(), "--device", "cpu");
        assertEquals(0, run.code(), run.err());
        assertEquals(3, run.err().lines().filter(l -> l.startsWith("embed: ") && l.contains(" of " + n + " lines"))
                .count(), run.err());
        assertTrue(run.err().contains("embed: " + n + " of " + n + " lines"), run.err());
        List<float[]> got = read(out);
        assertEquals(n, got.size());
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            for (int i : new int[] {0, 1, EmbedCommand.CHUNK - 1, EmbedCommand.CHUNK, 2 * EmbedCommand.CHUNK + 36}) {
                float[] want = m.embed(List.of(lines.get(i)), Pooling.MEAN, true)[0];
                for (int c = 0; c < want.length; c++) { // other batches, other padding: equal up to rounding
                    assertEquals(want[c], got.get(i)[c], 1e-5, "line " + i + " [" + c + "]");
                }
            }
        }
        CliRun quiet = CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--out",
                dir.resolve("q.jsonl").toString(), "--device", "cpu", "--no-progress");
        assertEquals(0, quiet.code(), quiet.err());
        assertFalse(quiet.err().contains(" lines, "), quiet.err());
    }

    /**
     * --adapter: a prefix trained on the similarity objective (a run's adapter/) gives the embeddings the API gives
     * with that adapter, not the base's; a missing adapter folder is one line.
     */
    @Test
    void anAdapterFolderAppliesToTheEmbeddings() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 4, false);
        Path run = new ReplayRuns(dir).train(model, "prefix-sim", ReplayRuns.SIMILARITY, ReplayRuns.PREFIX);
        Path adapter = run.resolve("adapter");
        List<String> lines = List.of("the movie is fun", "a boring film .");
        Path text = Files.write(dir.resolve("in.txt"), lines);
        Path out = dir.resolve("out.jsonl");
        CliRun r = CliRun.of("embed", "--model", model.toString(), "--adapter", adapter.toString(), "--text-file",
                text.toString(), "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        List<float[]> got = read(out);
        float[][] want;
        float[][] plain;
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32, adapter)) {
            want = m.embed(lines, Pooling.MEAN, false);
        }
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            plain = m.embed(lines, Pooling.MEAN, false);
        }
        double moved = 0;
        for (int i = 0; i < lines.size(); i++) {
            for (int c = 0; c < want[i].length; c++) {
                assertEquals(want[i][c], got.get(i)[c], 1e-5, "line " + i + " [" + c + "]");
                moved = Math.max(moved, Math.abs(want[i][c] - plain[i][c]));
            }
        }
        assertTrue(moved > 1e-4, "the prefix changes the embeddings (" + moved + ")");
        CliRun.of("embed", "--model", model.toString(), "--adapter", dir.resolve("none").toString(), "--text-file",
                text.toString()).assertUsageError("adapter", "none");
    }

    @Test
    void maxLengthCutsALongLineKeepingItsFinalSeparator() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 4, false);
        String longLine = sentence(new Random(3), 80); // more than the tiny model's 64 positions
        Path text = Files.writeString(dir.resolve("in.txt"), "the movie is fun\n" + longLine + "\n");
        CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--device", "cpu")
                .assertUsageError("line 2 of", "more than the model's 64 positions", "--max-length");
        Path out = dir.resolve("out.jsonl");
        CliRun run = CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--max-length",
                "10", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.err().contains("embed: 1 of 2 lines cut to --max-length 10 tokens"), run.err());
        List<float[]> got = read(out);
        try (Model m = Model.open(ModelSource.of(model), Device.CPU, Precision.F32)) {
            int[] ids = m.tokenize(longLine);
            assertEquals(TinyBertFolder.id("[SEP]"), ids[ids.length - 1]);
            int[] cut = java.util.Arrays.copyOf(ids, 10);
            cut[9] = TinyBertFolder.id("[SEP]");
            float[][] want = m.embedIds(new int[][] {m.tokenize("the movie is fun"), cut}, Pooling.MEAN, false);
            for (int i = 0; i < 2; i++) {
                for (int c = 0; c < want[i].length; c++) {
                    assertEquals(want[i][c], got.get(i)[c], 1e-5, "line " + i + " [" + c + "]");
                }
            }
            // control: the cut keeps [SEP]; the first ten tokens alone embed otherwise
            float[] plain = m.embedIds(new int[][] {java.util.Arrays.copyOf(ids, 10)}, Pooling.MEAN, false)[0];
            double d = 0;
            for (int c = 0; c < plain.length; c++) {
                d = Math.max(d, Math.abs(plain[c] - got.get(1)[c]));
            }
            assertTrue(d > 1e-4, "control: " + d);
        }
        for (String bad : List.of("1", "65")) {
            CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--max-length", bad,
                    "--device", "cpu").assertUsageError("--max-length " + bad, "between 2", "64 positions");
        }
    }

    @Test
    void anOutFileThatCannotBeWrittenIsOneLineBeforeTheModelLoads() throws IOException {
        Path model = TinyBertFolder.write(dir.resolve("bert"), 4, false);
        Path text = Files.writeString(dir.resolve("in.txt"), "the movie is fun\n");
        Path noDir = dir.resolve("missing").resolve("out.jsonl");
        CliRun missing = CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--out",
                noDir.toString(), "--device", "cpu");
        missing.assertUsageError("--out " + noDir, "folder", "does not exist");
        assertFalse(missing.err().contains("loading"), missing.err());
        assertFalse(Files.exists(noDir.getParent()));
        Path folder = Files.createDirectories(dir.resolve("a-folder"));
        CliRun.of("embed", "--model", model.toString(), "--text-file", text.toString(), "--out", folder.toString(),
                "--device", "cpu").assertUsageError("--out " + folder + " is a folder, not a file");
        assertTrue(Files.isDirectory(folder));
    }
}
