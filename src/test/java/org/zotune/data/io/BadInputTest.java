package org.zotune.data.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.ReadOptions;
import org.zotune.data.Example;

/** Malformed rows name file:line, skipBad counts them; missing and empty files are one-line errors. */
class BadInputTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    private static void assertOneLine(ZotuneException e, String endsWith) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().endsWith(endsWith), e.getMessage());
    }

    @Test
    void glueTsvBadRows() throws IOException {
        Path f = write("bad.tsv", "sentence\tlabel\ngood film\t1\nbad film\t7\nno label column\n\nfine\t0\n");
        ZotuneException e = assertThrows(ZotuneException.class, () -> TableReader.sst2(f, ReadOptions.STRICT));
        assertOneLine(e, "bad.tsv:3: label '7' is not one of [0, 1]");
        Dataset d = TableReader.sst2(f, ReadOptions.skipBadRows());
        assertEquals(2, d.size());
        assertEquals(List.of(f + ":3: label '7' is not one of [0, 1]", f + ":4: 1 columns, the header has 2"),
                d.skipped());
        assertEquals("fine", d.get(1).field("sentence"));
        assertEquals(f + ":6", d.get(1).source());
        Path noCol = write("nocol.tsv", "text\tlabel\nx\t1\n");
        assertOneLine(assertThrows(ZotuneException.class, () -> TableReader.sst2(noCol, ReadOptions.STRICT)),
                "nocol.tsv:1: no column 'sentence' in the header [text, label]");
    }

    @Test
    void labelSentenceBadRows() throws IOException {
        Path f = write("ls.txt", "1 fine\npositive great\n3 out of range\n0\n0 ok\n");
        assertOneLine(assertThrows(ZotuneException.class, () -> LabelSentenceReader.read(f, 2, ReadOptions.STRICT)),
                "ls.txt:2: label 'positive' is not an integer");
        Dataset d = LabelSentenceReader.read(f, 2, ReadOptions.skipBadRows());
        assertEquals(2, d.size());
        assertEquals(3, d.skipped().size());
        assertTrue(d.skipped().get(1).endsWith("ls.txt:3: label 3 is outside [0, 2)"));
        assertTrue(d.skipped().get(2).endsWith("ls.txt:4: expected 'label sentence' (an integer, a space, the text)"));
    }

    @Test
    void csvUnclosedQuote() throws IOException {
        Path root = dir.resolve("k");
        Files.createDirectories(root.resolve("mr/16-1"));
        Files.writeString(root.resolve("mr/16-1/train.csv"), "0,\"a \"\"quoted\"\" word\"\n1,\"never closed\n");
        assertOneLine(assertThrows(ZotuneException.class,
                () -> KShotReader.read(root, "mr", 16, 1, "train", ReadOptions.STRICT)),
                "train.csv:2: unclosed double quote");
        Dataset d = KShotReader.read(root, "mr", 16, 1, "train", ReadOptions.skipBadRows());
        assertEquals("a \"quoted\" word", d.get(0).field("sentence"));
        assertEquals(1, d.skipped().size());
        assertOneLine(assertThrows(ZotuneException.class,
                () -> KShotReader.read(root, "mr", 16, 2, "train", ReadOptions.STRICT)),
                "(task mr, k 16, seed 2)");
        assertOneLine(assertThrows(ZotuneException.class,
                () -> KShotReader.read(root, "nope", 16, 1, "train", ReadOptions.STRICT)),
                "unknown LM-BFF task 'nope' (known: " + KShotReader.tasks() + ")");
        assertOneLine(assertThrows(ZotuneException.class,
                () -> KShotReader.read(root, "mr", 0, 1, "train", ReadOptions.STRICT)),
                "k-shot task mr: k = 0 must be positive");
    }

    @Test
    void superGlueBadRows() throws IOException {
        Path f = write("rte.jsonl", """
                {"premise": "p", "hypothesis": "h", "label": "entailment"}
                {"premise": "p", "hypothesis": "h", "label": "maybe"}
                {"premise": "p", "label": "entailment"}
                {"premise": "p", "hypothesis": 3, "label": "entailment"}
                {"premise": "p", "hypothesis": "h", "label": "not_entailment"
                """);
        assertOneLine(assertThrows(ZotuneException.class,
                () -> SuperGlueReader.read(f, SuperGlueReader.Task.RTE, ReadOptions.STRICT)),
                "rte.jsonl:2: label 'maybe' is not one of [entailment, not_entailment]");
        Dataset d = SuperGlueReader.read(f, SuperGlueReader.Task.RTE, ReadOptions.skipBadRows());
        assertEquals(1, d.size());
        assertEquals(4, d.skipped().size());
        assertTrue(d.skipped().get(1).endsWith("rte.jsonl:3: missing field 'hypothesis'"), d.skipped().get(1));
        assertTrue(d.skipped().get(2).endsWith("rte.jsonl:4: field 'hypothesis' must be a string, not number"));
        assertTrue(d.skipped().get(3).contains("rte.jsonl:5: not valid JSON"), d.skipped().get(3));
        Path copa = write("copa.jsonl", "{\"premise\": \"p\", \"choice1\": \"a\", \"choice2\": \"b\", "
                + "\"question\": \"why\", \"label\": 0}\n");
        assertOneLine(assertThrows(ZotuneException.class,
                () -> SuperGlueReader.read(copa, SuperGlueReader.Task.COPA, ReadOptions.STRICT)),
                "copa.jsonl:1: field 'question' must be \"cause\" or \"effect\", not \"why\"");
    }

    @Test
    void zotuneJsonlShapes() throws IOException {
        Dataset cls = ZotuneJsonlReader.read(write("c.jsonl", """
                {"text": "good", "label": "pos"}
                {"text": "bad", "label": "neg"}
                {"text": " meh ", "label": "neutral", "extra": 1}
                """), ReadOptions.STRICT);
        assertEquals(Dataset.Kind.CLASSIFICATION, cls.kind());
        assertEquals(List.of("neg", "neutral", "pos"), cls.labels());
        assertEquals(List.of(2, 0, 1), cls.examples().stream().map(Example::label).toList());
        assertEquals("meh", cls.get(2).field("text"));
        Dataset ints = ZotuneJsonlReader.read(write("i.jsonl", """
                {"text": "a", "label": 10}
                {"text": "b", "label": 9}
                {"text": "c", "label": "2"}
                """), ReadOptions.STRICT);
        assertEquals(List.of("2", "9", "10"), ints.labels()); // numeric, not string, order
        Dataset mc = ZotuneJsonlReader.read(write("m.jsonl",
                "{\"context\": \"Sky is\", \"options\": [\"green\", \"blue\"], \"answer\": 1}\n"), ReadOptions.STRICT);
        assertEquals(Dataset.Kind.MULTIPLE_CHOICE, mc.kind());
        assertEquals(List.of("green", "blue"), mc.get(0).options());
        assertEquals(1, mc.get(0).label());
        Dataset pc = ZotuneJsonlReader.read(write("p.jsonl",
                "{\"prompt\": \"Q: 2+2?\\nA:\", \"completion\": \" 4\"}\n"), ReadOptions.STRICT);
        assertEquals(Dataset.Kind.LANGUAGE_MODEL, pc.kind());
        assertEquals(" 4", pc.get(0).field("completion")); // verbatim
        Dataset tx = ZotuneJsonlReader.read(write("t.jsonl", "{\"text\": \"Once upon a time\"}\n"), ReadOptions.STRICT);
        assertEquals(List.of("text"), tx.inputFields());
    }

    @Test
    void zotuneJsonlBadRows() throws IOException {
        Path f = write("bad.jsonl", """
                {"context": "c", "options": ["a", "b"], "answer": 0}
                {"context": "c", "options": ["a"], "answer": 0}
                {"context": "c", "options": ["a", "b"], "answer": 2}
                {"text": "x", "label": "y"}
                [1, 2]
                {"context": "c", "options": ["a", "b"], "answer": 1}
                """);
        assertOneLine(assertThrows(ZotuneException.class, () -> ZotuneJsonlReader.read(f, ReadOptions.STRICT)),
                "bad.jsonl:2: field 'options' must be an array of at least 2 strings (shape of line 1)");
        Dataset d = ZotuneJsonlReader.read(f, ReadOptions.skipBadRows());
        assertEquals(2, d.size());
        assertEquals(4, d.skipped().size());
        assertTrue(d.skipped().get(1).endsWith("bad.jsonl:3: field 'answer' must be an index in [0, 2), not 2"));
        assertTrue(d.skipped().get(2).endsWith("bad.jsonl:4: missing field 'context'"), d.skipped().get(2));
        assertTrue(d.skipped().get(3).endsWith("bad.jsonl:5: expected a JSON object"));
        Path unknown = write("u.jsonl", "{\"sentence\": \"x\"}\n");
        assertOneLine(assertThrows(ZotuneException.class, () -> ZotuneJsonlReader.read(unknown, ReadOptions.STRICT)),
                "got fields [sentence]");
    }

    @Test
    void corpusShorterThanOneChunk() throws IOException {
        Path text = write("short.txt", "Hi.\n");
        org.zotune.model.tokenizer.Tokenizer tok = org.zotune.model.tokenizer.Llama2cTokenizer.load(
                org.zotune.TestData.file("models/stories260K/tok512.bin"));
        assertOneLine(assertThrows(ZotuneException.class, () -> TextCorpus.read(List.of(text), tok, 64, 0)),
                "short.txt]: " + tok.encode("Hi.").length + " tokens, fewer than one chunk of 64");
    }

    @Test
    void missingAndEmptyFiles() throws IOException {
        Path missing = dir.resolve("nope.tsv");
        assertOneLine(assertThrows(ZotuneException.class, () -> TableReader.sst2(missing, ReadOptions.STRICT)),
                "nope.tsv: no such file");
        Path empty = write("empty.jsonl", "\n\n");
        assertOneLine(assertThrows(ZotuneException.class, () -> ZotuneJsonlReader.read(empty, ReadOptions.STRICT)),
                "empty.jsonl: the data set is empty (no examples)");
        Path headerOnly = write("h.tsv", "sentence\tlabel\n");
        assertOneLine(assertThrows(ZotuneException.class, () -> TableReader.sst2(headerOnly, ReadOptions.STRICT)),
                "h.tsv: the data set is empty (no examples)");
        Path allBad = write("allbad.txt", "x y\nz w\n");
        assertOneLine(assertThrows(ZotuneException.class,
                () -> LabelSentenceReader.read(allBad, 2, ReadOptions.skipBadRows())),
                "allbad.txt: the data set is empty (no examples; 2 malformed rows skipped)");
    }
}
