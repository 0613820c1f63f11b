package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.stream.Collectors;
import picocli.CommandLine;

/** One in-process run of the command line, with stdout and stderr captured. */
record CliRun(int code, String out, String err) {

    static CliRun of(String... args) {
        return of(new CommandLine(new Main()), args);
    }

    static CliRun of(CommandLine cl, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new CliRun(code, out.toString(), err.toString());
    }

    List<String> errLines() {
        return err.lines().collect(Collectors.toList());
    }

    List<String> outLines() {
        return out.lines().collect(Collectors.toList());
    }

    /** Exit code 2 and exactly one line on stderr, "zotune: ...", containing every fragment; returns it. */
    String assertUsageError(String... fragments) {
        assertEquals(2, code, () -> "exit code; stderr was:\n" + err);
        return assertOneErrorLine(fragments);
    }

    /** The last stderr line is the error; everything before it is progress (the model loading, ...). */
    String assertOneErrorLine(String... fragments) {
        List<String> lines = errLines();
        assertEquals(1, lines.stream().filter(l -> l.startsWith("zotune: ")).count(),
                () -> "one 'zotune: ' line expected on stderr:\n" + err);
        String line = lines.get(lines.size() - 1);
        assertTrue(line.startsWith("zotune: "), () -> "last stderr line is not the error:\n" + err);
        assertFalse(err.contains("\tat "), () -> "stack trace without --verbose:\n" + err);
        for (String f : fragments) {
            assertTrue(line.contains(f), () -> "'" + f + "' missing from: " + line);
        }
        return line;
    }
}
