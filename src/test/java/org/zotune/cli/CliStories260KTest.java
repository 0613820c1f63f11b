package org.zotune.cli;

import org.zotune.model.BundledModel;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;

/**
 * The commands end to end on the CPU with the bundled stories260K model (the real llama2.c checkpoint). The
 * reference is the sample published with the model: greedy decoding from BOS begins with {@link #SAMPLE}.
 */
class CliStories260KTest {
    /** The start of the published greedy sample of stories260K. */
    static final String SAMPLE = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
    static final int VOCAB = 512;
    static final int MAX_POSITIONS = 512;

    @TempDir
    Path tmp;

    private final ObjectMapper json = new ObjectMapper();

    private String model() {
        return BundledModel.get().model().toString();
    }

    private Path write(String name, String text) throws IOException {
        Path p = tmp.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    private JsonNode lastLineJson(CliRun r) throws IOException {
        List<String> lines = r.outLines();
        return json.readTree(lines.get(lines.size() - 1));
    }

    @Test
    void greedyGenerationFromBosReproducesThePublishedSample() {
        CliRun r = CliRun.of("generate", "--greedy", "--max-tokens", "60", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(SAMPLE), () -> "generated:\n" + r.out());
        assertTrue(r.err().contains("stories260K by Andrej Karpathy"), r.err()); // the licence attribution
        assertTrue(r.err().contains("tokens/s"), r.err());

        // greedy is the default
        CliRun plain = CliRun.of("generate", "--max-tokens", "60", "--device", "cpu");
        assertEquals(0, plain.code(), plain.err());
        assertEquals(r.out(), plain.out());
    }

    @Test
    void greedyGenerationContinuesAPrompt() {
        String prompt = "Once upon a time, there was a little girl named Lily.";
        CliRun r = CliRun.of("generate", "--prompt", prompt, "--max-tokens", "12", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(prompt + " She loved to play"), () -> "generated:\n" + r.out());
    }

    @Test
    void samplingRepeatsWithThePrintedSeed() {
        CliRun first = CliRun.of("generate", "--temperature", "0.9", "--max-tokens", "40", "--device", "cpu");
        assertEquals(0, first.code(), first.err());
        Matcher m = Pattern.compile("pass --seed (\\d+) to repeat").matcher(first.err());
        assertTrue(m.find(), first.err());
        CliRun again = CliRun.of("generate", "--temperature", "0.9", "--seed", m.group(1), "--max-tokens", "40",
                "--device", "cpu");
        assertEquals(0, again.code(), again.err());
        assertEquals(first.out(), again.out());
    }

    @Test
    void textLongerThanTheContextIsRefusedUnlessTruncated() throws IOException {
        Path text = write("long.txt", (SAMPLE + " ").repeat(30));
        CliRun r = CliRun.of("perplexity", "--model", model(), "--text-file", text.toString(), "--device", "cpu");
        String line = r.assertUsageError(text.toString(), "--truncate", "maximum of " + MAX_POSITIONS);
        Matcher m = Pattern.compile("is (\\d+) tokens long").matcher(line);
        assertTrue(m.find(), line);
        assertTrue(Integer.parseInt(m.group(1)) > MAX_POSITIONS, line);
        assertEquals("", r.out());

        CliRun t = CliRun.of("perplexity", "--model", model(), "--text-file", text.toString(), "--device", "cpu",
                "--truncate");
        assertEquals(0, t.code(), t.err());
        JsonNode result = lastLineJson(t);
        assertEquals(MAX_POSITIONS, result.get("tokens").asInt());
        double loss = result.get("loss").asDouble();
        assertTrue(loss > 0 && loss < Math.log(VOCAB), "loss " + loss + " is no better than uniform");
        assertEquals(Math.exp(loss), result.get("perplexity").asDouble(), 1e-9 * Math.exp(loss));
    }

    @Test
    void perplexityInF16IsCloseToF32() throws IOException {
        Path text = write("sample.txt", SAMPLE);
        double[] loss = new double[2];
        String[] dtypes = {"f32", "f16"};
        for (int i = 0; i < 2; i++) {
            CliRun r = CliRun.of("perplexity", "--model", model(), "--text-file", text.toString(), "--device", "cpu",
                    "--dtype", dtypes[i]);
            assertEquals(0, r.code(), r.err());
            assertTrue(r.err().contains("backend: cpu " + dtypes[i]), r.err());
            loss[i] = lastLineJson(r).get("loss").asDouble();
        }
        // every op rounded to f16 (11 significant bits) moves the mean loss by well under 0.5%
        assertTrue(loss[0] > 0 && loss[0] < Math.log(VOCAB), "f32 loss " + loss[0]);
        assertEquals(loss[0], loss[1], 5e-3 * loss[0], "f16 loss");
        assertTrue(loss[1] != loss[0], "f16 compute rounds: the loss cannot be bitwise the f32 one");
    }

    @Test
    void emptyTextHasNothingToPredict() throws IOException {
        Path empty = write("empty.txt", "");
        CliRun r = CliRun.of("perplexity", "--model", model(), "--text-file", empty.toString(), "--device", "cpu");
        r.assertUsageError(empty.toString(), "at least 2");
        assertEquals("", r.out());
    }

    private static int argmax(JsonNode values) {
        int best = 0;
        for (int i = 1; i < values.size(); i++) {
            if (values.get(i).asDouble() > values.get(best).asDouble()) {
                best = i;
            }
        }
        return best;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    private JsonNode perplexityWithDump(String name, String text) throws IOException {
        Path dump = tmp.resolve(name + ".json");
        CliRun r = CliRun.of("perplexity", "--model", model(), "--text-file", write(name + ".txt", text).toString(),
                "--device", "cpu", "--dump-logits", dump.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode d = json.readTree(dump.toFile());
        List<String> keys = new ArrayList<>();
        for (Iterator<String> it = d.fieldNames(); it.hasNext(); ) {
            keys.add(it.next());
        }
        assertEquals(List.of("input_ids", "logits_first", "logits_last"), keys);
        assertEquals(lastLineJson(r).get("tokens").asInt(), d.get("input_ids").size());
        assertEquals(VOCAB, d.get("logits_first").size());
        assertEquals(VOCAB, d.get("logits_last").size());
        for (String k : new String[] {"logits_first", "logits_last"}) {
            for (JsonNode v : d.get(k)) {
                assertTrue(v.isNumber() && Double.isFinite(v.asDouble()), k + " has " + v);
            }
        }
        return d;
    }

    @Test
    void dumpedLogitsPredictTheGreedySample() throws IOException {
        // the sample is the model's own greedy output, so each position's argmax is the sample's next token
        String prefix = "Once upon a time, there was a little girl named Lily. She loved to play outside in the";
        JsonNode a = perplexityWithDump("prefix", prefix);
        JsonNode b = perplexityWithDump("sentence", prefix + " park.");
        int[] idsA = ints(a.get("input_ids"));
        int[] idsB = ints(b.get("input_ids"));
        assertTrue(idsB.length > idsA.length);
        int[] head = new int[idsA.length];
        System.arraycopy(idsB, 0, head, 0, idsA.length);
        assertArrayEquals(idsA, head, "the prefix tokenizes as a prefix");
        assertEquals(idsA[1], argmax(a.get("logits_first")), "after BOS the model says 'Once'");
        assertEquals(idsB[idsA.length], argmax(a.get("logits_last")), "after '... in the' the model says 'park'");
    }

    @Test
    void tokenizerLargerThanTheModelVocabularyIsRefused() {
        Path llama2 = TestData.file("tokenizers/llama2-32k/tokenizer.bin");
        CliRun r = CliRun.of("generate", "--tokenizer", llama2.toString(), "--prompt", "Once upon a time",
                "--device", "cpu");
        String line = r.assertUsageError(llama2.toString(), "token id", "vocabulary of " + VOCAB);
        Matcher m = Pattern.compile("token id (\\d+)").matcher(line);
        assertTrue(m.find() && Integer.parseInt(m.group(1)) >= VOCAB, line);
        assertEquals("", r.out());
    }
}
