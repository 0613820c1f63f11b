package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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
}
