package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Parsing and error paths of the command line: everything that fails before a model is loaded. */
class MainTest {
    @TempDir
    Path tmp;

    private Path text() throws IOException {
        Path t = tmp.resolve("text.txt");
        Files.writeString(t, "Once upon a time");
        return t;
    }

    @Test
    void perplexityWithoutModelFlag() throws IOException {
        CliRun r = CliRun.of("perplexity", "--text-file", text().toString());
        r.assertUsageError("--model", "zotune perplexity --help");
        assertEquals("", r.out());
    }

    @Test
    void perplexityWithMissingModelPath() throws IOException {
        Path missing = tmp.resolve("no-such-model.bin");
        CliRun r = CliRun.of("perplexity", "--model", missing.toString(), "--text-file", text().toString());
        r.assertUsageError("model", missing.toString(), "does not exist");
    }

    @Test
    void generateWithMissingModelPath() {
        Path missing = tmp.resolve("no-such-model");
        CliRun r = CliRun.of("generate", "--model", missing.toString());
        r.assertUsageError(missing.toString(), "does not exist");
    }

    @Test
    void generateWithMissingTokenizerPath() {
        Path missing = tmp.resolve("tok.bin");
        CliRun r = CliRun.of("generate", "--model", tmp.toString(), "--tokenizer", missing.toString());
        r.assertUsageError("tokenizer", missing.toString(), "does not exist");
    }

    @Test
    void perplexityWithoutTextFileFlag() {
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString());
        r.assertUsageError("--text-file");
    }

    @Test
    void perplexityWithMissingTextFile() {
        Path missing = tmp.resolve("missing.txt");
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString(), "--text-file", missing.toString());
        r.assertUsageError("text file", missing.toString(), "does not exist");
    }

    @Test
    void perplexityWithTextFileThatIsNotUtf8() throws IOException {
        Path bad = tmp.resolve("latin1.txt");
        Files.write(bad, new byte[] {'c', 'a', 'f', (byte) 0xE9, '\n'}); // "café" in ISO-8859-1
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString(), "--text-file", bad.toString());
        r.assertUsageError(bad.toString(), "UTF-8");
    }

    @Test
    void perplexityWithDumpIntoMissingFolder() throws IOException {
        Path dump = tmp.resolve("nowhere").resolve("logits.json");
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString(), "--text-file", text().toString(),
                "--dump-logits", dump.toString());
        r.assertUsageError("--dump-logits", "does not exist");
    }

    @Test
    void perplexityWithDumpOntoAFolderIsRefusedBeforeTheModelLoads() throws IOException {
        Path folder = java.nio.file.Files.createDirectories(tmp.resolve("a-folder"));
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString(), "--text-file", text().toString(),
                "--dump-logits", folder.toString());
        r.assertUsageError("--dump-logits " + folder + " is a folder, not a file");
    }

    @Test
    void badDtype() throws IOException {
        CliRun r = CliRun.of("perplexity", "--model", tmp.toString(), "--text-file", text().toString(),
                "--dtype", "f64");
        r.assertUsageError("--dtype", "'f64'", "f32, bf16 or f16");
    }

    @Test
    void badDevice() {
        CliRun.of("generate", "--device", "tpu").assertUsageError("--device", "'tpu'", "cpu, cuda or auto");
    }

    @Test
    void greedyConflictsWithTemperature() {
        CliRun r = CliRun.of("generate", "--greedy", "--temperature", "0.7");
        r.assertUsageError("--greedy", "--temperature");
        assertEquals("", r.out());
    }

    @Test
    void seedNeedsTemperature() {
        CliRun.of("generate", "--seed", "3").assertUsageError("--seed", "--temperature");
    }

    @Test
    void temperatureMustBePositive() {
        CliRun.of("generate", "--temperature", "0").assertUsageError("--temperature", "positive");
        CliRun.of("generate", "--temperature", "-1").assertUsageError("--temperature", "positive");
        CliRun.of("generate", "--temperature", "NaN").assertUsageError("--temperature", "positive");
    }

    @Test
    void maxTokensMustBePositive() {
        CliRun.of("generate", "--max-tokens", "0").assertUsageError("--max-tokens");
        CliRun.of("generate", "--max-tokens", "many").assertUsageError("--max-tokens", "'many'");
    }

    @Test
    void unknownOptionCommandAndNoCommand() {
        CliRun.of("generate", "--bogus").assertUsageError("--bogus", "zotune generate --help");
        CliRun.of("train-everything").assertUsageError("train-everything");
        CliRun.of().assertUsageError("missing command", "perplexity", "generate");
    }

    @Test
    void helpOnEveryCommandListsItsFlags() {
        CliRun top = CliRun.of("--help");
        assertEquals(0, top.code());
        for (String s : new String[] {"perplexity", "generate", "--verbose", "--version"}) {
            assertTrue(top.out().contains(s), s + " missing from zotune --help:\n" + top.out());
        }
        CliRun p = CliRun.of("perplexity", "--help");
        assertEquals(0, p.code());
        for (String s : new String[] {"--model", "--text-file", "--device", "--dtype", "--tokenizer", "--truncate",
                "--dump-logits", "--verbose"}) {
            assertTrue(p.out().contains(s), s + " missing from zotune perplexity --help:\n" + p.out());
        }
        CliRun g = CliRun.of("generate", "--help");
        assertEquals(0, g.code());
        for (String s : new String[] {"--model", "--tokenizer", "--prompt", "--max-tokens", "--greedy",
                "--temperature", "--seed", "--device", "--dtype"}) {
            assertTrue(g.out().contains(s), s + " missing from zotune generate --help:\n" + g.out());
        }
        assertEquals(0, CliRun.of("help", "generate").code());
    }

    @Test
    void version() {
        CliRun r = CliRun.of("--version");
        assertEquals(0, r.code());
        assertTrue(r.out().startsWith("zotune "), r.out());
    }

    @Test
    void verboseAddsTheStackTrace() {
        Path missing = tmp.resolve("missing.bin");
        CliRun quiet = CliRun.of("generate", "--model", missing.toString());
        assertEquals(1, quiet.errLines().size(), quiet.err());
        for (String[] args : new String[][] {{"--verbose", "generate", "--model", missing.toString()},
                {"generate", "--model", missing.toString(), "--verbose"}}) {
            CliRun loud = CliRun.of(args);
            assertEquals(2, loud.code());
            assertTrue(loud.errLines().get(0).startsWith("zotune: "), loud.err());
            assertTrue(loud.err().contains(ZotuneException.class.getName()), loud.err());
            assertTrue(loud.err().contains("\tat org.zotune.cli."), loud.err());
        }
    }

    /** A command that fails the way a bug does. */
    @Command(name = "boom")
    static final class Boom implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("index 3 out of range\nsecond line");
        }
    }

    @Test
    void unexpectedExceptionIsOneLineWithExitCode1() {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand("boom", new Boom());
        CliRun r = CliRun.of(cl, "boom");
        assertEquals(1, r.code());
        String line = r.assertOneErrorLine("internal error", "IllegalStateException", "index 3 out of range");
        assertTrue(line.contains("--verbose"), line);

        CommandLine verbose = new CommandLine(new Main());
        verbose.addSubcommand("boom", new Boom());
        CliRun v = CliRun.of(verbose, "--verbose", "boom");
        assertEquals(1, v.code());
        assertTrue(v.err().contains("\tat org.zotune.cli.MainTest$Boom.call"), v.err());
    }
}
