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
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;

/**
 * zotune fill-mask end to end on a tiny random BertForMaskedLM folder: the printed top-k and the --dump-logits JSON
 * against a softmax and a sort written here over the model's MLM logits at every position; the one-line refusals.
 */
class FillMaskCliTest {
    @TempDir
    Path tmp;

    private Path folder;

    @BeforeEach
    void setUp() throws IOException {
        folder = TinyBertFolder.write(tmp.resolve("bert"), 5, true);
    }

    private static int id(String t) {
        return TinyBertFolder.id(t);
    }

    /** The MLM logits at every position of one sequence, [seq][vocab]. */
    private float[][] allLogits(int[] ids) {
        LoadedEncoder m = ModelLoader.loadEncoder(folder);
        int v = TinyBertFolder.VOCAB.size();
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            float[] all = ops.toHost(m.model().forward(ops, p, Batch.of(ids)));
            float[][] rows = new float[ids.length][];
            for (int s = 0; s < ids.length; s++) {
                rows[s] = java.util.Arrays.copyOfRange(all, s * v, (s + 1) * v);
            }
            return rows;
        }
    }

    /** The k most probable ids of a row with their probabilities, best first. */
    private static List<double[]> top(float[] row, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : row) {
            max = Math.max(max, x);
        }
        double z = 0;
        for (float x : row) {
            z += Math.exp(x - max);
        }
        List<double[]> all = new ArrayList<>();
        for (int i = 0; i < row.length; i++) {
            all.add(new double[] {i, Math.exp(row[i] - max) / z});
        }
        all.sort(Comparator.comparingDouble((double[] a) -> -a[1]));
        return all.subList(0, k);
    }

    @Test
    void textPrintsTheTopTokensAndDumpsTheLogitsAtEveryMask() throws IOException {
        Path dump = tmp.resolve("logits.json");
        CliRun r = CliRun.of("fill-mask", "--model", folder.toString(), "--text", "The [MASK] was [MASK] .",
                "--top-k", "3", "--dump-logits", dump.toString());
        assertEquals(0, r.code(), r.err());
        int[] ids = {id("[CLS]"), id("the"), id("[MASK]"), id("was"), id("[MASK]"), id("."), id("[SEP]")};
        int[] masks = {2, 4};
        float[][] want = allLogits(ids);

        JsonNode o = new ObjectMapper().readTree(dump.toFile());
        assertEquals(ids.length, o.get("input_ids").size());
        for (int i = 0; i < ids.length; i++) {
            assertEquals(ids[i], o.get("input_ids").get(i).asInt());
        }
        assertEquals(2, o.get("mask_positions").size());
        assertEquals(2, o.get("logits").size());
        int v = TinyBertFolder.VOCAB.size();
        for (int m = 0; m < 2; m++) {
            assertEquals(masks[m], o.get("mask_positions").get(m).asInt());
            JsonNode row = o.get("logits").get(m);
            assertEquals(v, row.size());
            for (int c = 0; c < v; c++) {
                float w = want[masks[m]][c];
                double g = row.get(c).asDouble();
                assertEquals(w, g, 1e-5 + 1e-5 * Math.abs(w), "mask " + m + " logit " + c);
            }
        }

        List<String> lines = r.outLines();
        assertEquals(2 * 4, lines.size(), r.out());
        for (int m = 0; m < 2; m++) {
            assertEquals("mask at position " + masks[m] + ":", lines.get(4 * m));
            List<double[]> best = top(want[masks[m]], 3);
            for (int k = 0; k < 3; k++) {
                String[] f = lines.get(4 * m + 1 + k).trim().split("\\s+");
                assertEquals(TinyBertFolder.VOCAB.get((int) best.get(k)[0]), f[0], lines.get(4 * m + 1 + k));
                assertEquals(String.format(Locale.ROOT, "%.4f", best.get(k)[1]), f[1]);
            }
        }
    }

    /**
     * --adapter: a prefix trained on the masked-LM objective (a run's adapter/) changes the logits at the mask to what
     * the API gives with that adapter; a missing adapter folder is one line.
     */
    @Test
    void anAdapterFolderAppliesToTheLogits() throws IOException {
        Path run = new ReplayRuns(tmp).train(folder, "prefix-mlm", ReplayRuns.MLM, ReplayRuns.PREFIX);
        Path adapter = run.resolve("adapter");
        Path dump = tmp.resolve("logits.json");
        CliRun r = CliRun.of("fill-mask", "--model", folder.toString(), "--adapter", adapter.toString(), "--text",
                "the movie was [MASK] .", "--dump-logits", dump.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        int[] ids = {id("[CLS]"), id("the"), id("movie"), id("was"), id("[MASK]"), id("."), id("[SEP]")};
        float[] want;
        try (org.zotune.api.Model m = org.zotune.api.Model.open(org.zotune.api.ModelSource.of(folder),
                org.zotune.api.Device.CPU, org.zotune.api.Precision.F32, adapter)) {
            want = m.fillMask(ids, id("[MASK]"), 3).get(0).logits();
        }
        float[] plain = allLogits(ids)[4];
        JsonNode row = new ObjectMapper().readTree(dump.toFile()).get("logits").get(0);
        double moved = 0;
        for (int c = 0; c < want.length; c++) {
            assertEquals(want[c], row.get(c).asDouble(), 1e-5 + 1e-5 * Math.abs(want[c]), "logit " + c);
            moved = Math.max(moved, Math.abs(want[c] - plain[c]));
        }
        assertTrue(moved > 1e-3, "the prefix changes the logits (" + moved + ")");
        CliRun.of("fill-mask", "--model", folder.toString(), "--adapter", tmp.resolve("none").toString(), "--text",
                "a [MASK]").assertUsageError("adapter", "none");
    }

    @Test
    void inputIdsNeedNoTokenizerAndPrintIds() throws IOException {
        Files.delete(folder.resolve("tokenizer.json"));
        int[] ids = {id("[CLS]"), id("it"), id("was"), id("[MASK]"), id("[SEP]")};
        CliRun r = CliRun.of("fill-mask", "--model", folder.toString(), "--input-ids", "2,9,10,4,3", "--mask-id", "4",
                "--top-k", "2");
        assertEquals(0, r.code(), r.err());
        List<double[]> best = top(allLogits(ids)[3], 2);
        List<String> lines = r.outLines();
        assertEquals(3, lines.size(), r.out());
        assertEquals("mask at position 3:", lines.get(0));
        for (int k = 0; k < 2; k++) {
            String[] f = lines.get(1 + k).trim().split("\\s+");
            assertEquals(Integer.toString((int) best.get(k)[0]), f[0]);
            assertEquals(String.format(Locale.ROOT, "%.4f", best.get(k)[1]), f[1]);
        }
    }

    @Test
    void badInputIsOneLineWithExitTwo() {
        String m = folder.toString();
        CliRun.of("fill-mask", "--model", m, "--text", "the movie was great .")
                .assertUsageError("--text has no [MASK]", "needs at least one mask");
        CliRun.of("fill-mask", "--model", m, "--input-ids", "2,9,10,3")
                .assertUsageError("--input-ids has no mask id 4");
        int v = TinyBertFolder.VOCAB.size();
        CliRun.of("fill-mask", "--model", m, "--input-ids", "2,4," + v + ",3")
                .assertUsageError("--input-ids: id " + v + " is outside the vocabulary of " + v);
        CliRun.of("fill-mask", "--model", m, "--input-ids", "2,-1,4,3")
                .assertUsageError("--input-ids: id -1 is outside the vocabulary");
        CliRun.of("fill-mask", "--model", m, "--input-ids", "2,4,3", "--mask-id", "99")
                .assertUsageError("--mask-id 99 is outside the vocabulary of " + v);
        CliRun.of("fill-mask", "--model", m, "--text", "a [MASK]", "--top-k", "0")
                .assertUsageError("--top-k must be at least 1");
        Path noDir = tmp.resolve("missing").resolve("l.json");
        CliRun.of("fill-mask", "--model", m, "--text", "a [MASK]", "--dump-logits", noDir.toString())
                .assertUsageError("--dump-logits", "does not exist");
        assertFalse(Files.exists(noDir));
        CliRun.of("fill-mask", "--model", m, "--text", "a [MASK]", "--dump-logits", tmp.toString())
                .assertUsageError("--dump-logits " + tmp + " is a folder, not a file");
        CliRun.of("fill-mask", "--model", m, "--input-ids", "2,x,3").assertUsageError("--input-ids");
    }
}
