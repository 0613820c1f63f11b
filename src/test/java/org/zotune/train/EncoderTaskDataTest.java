package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.MaskedPromptEncoder;
import org.zotune.data.batch.TextRowEncoder;
import org.zotune.data.prompt.MaskedTemplate;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.train.config.Data;

/**
 * The encoder tasks' data as a run config reads it, on the real files of ../shared/data and MiniLM's WordPiece
 * tokenizer: LM-BFF's 16-shot folders (every seed) of SST-2, SST-5, TREC, MNLI, SNLI, RTE, MRPC with the built-in
 * masked-LM templates (test = the full evaluation set where the folders have one), and MeZO's k = 512 per class drawn
 * from each task's training pool with its full dev / test set (formats sst2, label-sentence, nli-json, superglue),
 * also as objective similarity / head reads it. Counts and class balance are the files' own.
 */
class EncoderTaskDataTest {
    private static HfTokenizer tok;

    @BeforeAll
    static void load() {
        tok = HfTokenizer.load(TestData.file("models/all-MiniLM-L6-v2/tokenizer.json"));
    }

    @AfterAll
    static void close() {
        if (tok != null) { // null when load() was skipped: no shared data here
            tok.close();
        }
    }

    private static String ds(String relative) {
        return TestData.file("datasets/" + relative).toString();
    }

    private static Data data(String... keys) {
        List<String> o = new ArrayList<>();
        for (String k : keys) {
            o.add("data." + k);
        }
        return TrainConfig.parse("t", "model: x\ndata: {format: jsonl, train: a}\nout: o\n", o).data();
    }

    private static TrainData masked(Data d) {
        MaskedTemplate t = TrainData.maskedTemplate(d);
        MaskedPromptEncoder enc = MaskedPromptEncoder.of(tok, 0, 128);
        TrainData data = TrainData.loadMasked(d, enc, t, 42);
        enc.labelTokens(t.words(), false); // every built-in label word is one WordPiece token
        return data;
    }

    private static int[] perClass(List<EncodedExample> set, int classes) {
        int[] n = new int[classes];
        for (EncodedExample e : set) {
            n[e.gold()]++;
        }
        return n;
    }

    @Test
    void lmBffSixteenShotFoldersOfEveryTaskAndSeed() {
        // task -> built-in template, classes, full test size (0: the folders have no test split)
        record Task(String name, String template, int classes, int test) {
        }
        List<Task> tasks = List.of(new Task("SST-2", "sst2", 2, 872), new Task("sst-5", "sst5", 5, 2210),
                new Task("trec", "trec", 6, 500), new Task("MNLI", "mnli", 3, 0), new Task("SNLI", "snli", 3, 0),
                new Task("RTE", "rte", 2, 277), new Task("MRPC", "mrpc", 2, 408));
        String root = ds("lm-bff-k-shot");
        for (Task t : tasks) {
            for (long seed : new long[] {13, 21, 42, 87, 100}) {
                List<String> keys = new ArrayList<>(List.of("format=kshot", "train=" + root, "dev=" + root,
                        "task=" + t.name(), "k_shot=16", "seed=" + seed, "template=" + t.template()));
                if (t.test() > 0) {
                    keys.add("test=" + root);
                }
                TrainData d = masked(data(keys.toArray(String[]::new)));
                String what = t.name() + " seed " + seed;
                assertEquals(16 * t.classes(), d.train().size(), what);
                assertEquals(16 * t.classes(), d.dev().size(), what);
                for (int n : perClass(d.train(), t.classes())) {
                    assertEquals(16, n, what + " class balance");
                }
                assertEquals(t.test(), d.test().size(), what + " test");
            }
        }
        // MNLI and SNLI folders hold train and dev only: a test split is refused in one line
        ZotuneException e = assertThrows(ZotuneException.class, () -> masked(data("format=kshot", "train=" + root,
                "test=" + root, "task=MNLI", "k_shot=16", "template=mnli")));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void mezoFiveHundredTwelvePerClassWithTheFullEvaluationSets() {
        // SST-2: GLUE train (67,349) -> 512 per class; dev = the 872 GLUE dev sentences
        TrainData sst2 = masked(data("format=sst2", "train=" + ds("sst2-glue/train.tsv"),
                "dev=" + ds("sst2-glue/dev.tsv"), "k_shot=512", "template=sst2"));
        assertEquals(1024, sst2.train().size());
        assertEquals(872, sst2.dev().size());
        assertEquals(List.of(512, 512), List.of(perClass(sst2.train(), 2)[0], perClass(sst2.train(), 2)[1]));
        // SST-5: 8,544 -> 5 x 512; dev 1,101, test 2,210
        TrainData sst5 = masked(data("format=label-sentence", "classes=5", "train=" + ds("sst5/stsa.fine.train"),
                "dev=" + ds("sst5/stsa.fine.dev"), "test=" + ds("sst5/stsa.fine.test"), "k_shot=512",
                "template=sst5"));
        assertEquals(2560, sst5.train().size());
        assertEquals(1101, sst5.dev().size());
        assertEquals(2210, sst5.test().size());
        // TREC: one class has 86 training questions; k = 512 needs k_shot_partial (LM-BFF's generator keeps them all)
        String[] trec = {"format=label-sentence", "classes=6", "train=" + ds("trec/TREC.train.all"),
            "test=" + ds("trec/TREC.test.all"), "k_shot=512", "template=trec"};
        ZotuneException e = assertThrows(ZotuneException.class, () -> masked(data(trec)));
        assertTrue(e.getMessage().contains("has 86 examples, fewer than k = 512")
                && e.getMessage().contains("data.k_shot_partial"), e.getMessage());
        List<String> partial = new ArrayList<>(List.of(trec));
        partial.add("k_shot_partial=true");
        TrainData t = masked(data(partial.toArray(String[]::new)));
        assertEquals(5 * 512 + 86, t.train().size());
        assertEquals(500, t.test().size());
        // MNLI, SNLI: the 8,999-example pools -> 3 x 512; dev = their 1,000-example dev sets
        for (String task : new String[] {"MNLI", "SNLI"}) {
            TrainData nli = masked(data("format=nli-json", "train=" + ds("nli-subsets/" + task + "-train.json"),
                    "dev=" + ds("nli-subsets/" + task + "-dev.json"), "k_shot=512", "template=" + task.toLowerCase()));
            assertEquals(1536, nli.train().size(), task);
            assertEquals(1000, nli.dev().size(), task);
            for (int n : perClass(nli.train(), 3)) {
                assertEquals(512, n, task);
            }
        }
        // RTE: SuperGLUE's full train (2,490) -> 2 x 512; dev = its 277 validation pairs
        TrainData rte = masked(data("format=superglue", "task=rte", "train=" + ds("superglue/RTE/full-train.jsonl"),
                "dev=" + ds("superglue/RTE/full-val.jsonl"), "k_shot=512", "template=rte"));
        assertEquals(1024, rte.train().size());
        assertEquals(277, rte.dev().size());
    }

    @Test
    void theSameDataForObjectivesSimilarityAndHead() {
        Data d = data("format=nli-json", "train=" + ds("nli-subsets/SNLI-dev.json"), "k_shot=16",
                "template=snli");
        TextRowEncoder enc = new TextRowEncoder(tok, 128);
        TrainData e = TrainData.loadEncoded(d, enc, TrainData.textTemplate(d), 0, 42);
        assertEquals(48, e.train().size());
        assertEquals(List.of("contradiction", "entailment", "neutral"), e.labels());
        // a pair is [CLS] premise [SEP] hypothesis [SEP]
        int[] row = e.train().get(0).rows()[0];
        int sep = tok.encodeNoSpecial("[SEP]")[0];
        int seps = 0;
        for (int id : row) {
            seps += id == sep ? 1 : 0;
        }
        assertEquals(2, seps);
        assertEquals(sep, row[row.length - 1]);
        assertEquals(Map.of("contradiction", "No", "entailment", "Yes", "neutral", "Maybe"),
                org.zotune.train.objective.LabelDescriptions.builtin("snli"));
        Data sst = data("format=kshot", "train=" + ds("lm-bff-k-shot"), "dev=" + ds("lm-bff-k-shot"),
                "test=" + ds("lm-bff-k-shot"), "task=SST-2", "k_shot=16", "seed=21", "template=sst2");
        TrainData s = TrainData.loadEncoded(sst, enc, TrainData.textTemplate(sst), 0, 42);
        assertEquals(32, s.train().size());
        assertEquals(872, s.test().size());
        assertEquals(List.of("0", "1"), s.labels());
    }
}
