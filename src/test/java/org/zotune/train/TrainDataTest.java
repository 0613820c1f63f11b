package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.BundledModel;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;

class TrainDataTest {
    @TempDir
    Path dir;

    @Test
    void truncationIsExplicitAndKeepsTheAnswer() throws Exception {
        Path f = dir.resolve("d.jsonl");
        String longText = "the cat sat on the mat and looked at the dog for a very long time indeed";
        Files.writeString(f, "{\"text\": \"" + longText + "\", \"label\": \"pos\"}\n"
                + "{\"text\": \"ok\", \"label\": \"neg\"}\n");
        TrainConfig c = TrainConfig.parse("t.yaml", "model: x\nout: o\ndata:\n  format: jsonl\n  train: '" + f
                + "'\n  template: '{text} It was {label}'\n  verbalizer: {pos: great, neg: bad}\n", List.of());
        BundledModel b = BundledModel.get();
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        int full = tok.encode(longText + " It was great").length;
        int max = 16;
        assertTrue(full > max, "the long example must need cutting: " + full);
        TrainData d = TrainData.load(c.data(), tok, max, 1);
        assertTrue(d.description().endsWith("; 1 training example(s) truncated to max_length 16"), d.description());
        var ex = d.train().get(0);
        int longest = 0;
        for (int[] r : ex.rows()) {
            longest = Math.max(longest, r.length);
        }
        assertEquals(max, longest); // every candidate row loses the same prompt tokens, enough for the longest
        int[] row = ex.rows()[ex.gold()]; // "great" (labels: neg, pos)
        int[] answer = tok.encode(longText + " It was great");
        // the answer's tokens (the end of the full text) survive; the prompt lost its start after BOS
        for (int i = 1; i <= 3; i++) {
            assertEquals(answer[answer.length - i], row[row.length - i]);
        }
        assertEquals(tok.bosId(), row[0]);
    }

    @Test
    void kShotReadsTheFolderOfTheWholeSeedAndOneRoot() throws Exception {
        Path root = dir.resolve("k-shot");
        Files.createDirectories(root.resolve("mr/2-1"));
        Files.writeString(root.resolve("mr/2-1/train.csv"), "0,a dull film\n1,a fine film\n");
        BundledModel b = BundledModel.get();
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        String yaml = "model: x\nout: o\ndata:\n  format: kshot\n  task: mr\n  k_shot: 2\n  train: %s\n"
                + "  template: '{sentence} It was {label}'\n  verbalizer: {'0': bad, '1': great}\n";
        TrainConfig c = TrainConfig.parse("t.yaml", yaml.formatted("'" + root + "'"), List.of());
        assertEquals(2, TrainData.load(c.data(), tok, 32, 1).train().size());
        // seed 2^32 + 1 is not seed 1: its folder 2-4294967297 does not exist
        String m = assertThrows(ZotuneException.class, () -> TrainData.load(c.data(), tok, 32, (1L << 32) + 1))
                .getMessage();
        assertTrue(m.contains("2-4294967297: no such k-shot folder (task mr, k 2, seed 4294967297)"), m);
        // a second root would be ignored: refused
        TrainConfig two = TrainConfig.parse("t.yaml", yaml.formatted("['" + root + "', '" + root + "']"),
                List.of());
        assertEquals("data.train: data.format kshot reads one LM-BFF root folder, got 2",
                assertThrows(ZotuneException.class, () -> TrainData.load(two.data(), tok, 32, 1)).getMessage());
    }
}
