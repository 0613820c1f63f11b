package org.zotune.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.zo.functions.FunctionsRunner;
import picocli.CommandLine;

class FunctionsCommandTest {

    @Test
    void helpListsTheLearningRatesInUse() {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new FunctionsCommand());
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("--help"));
        String help = out.toString().replace("\r", "");
        for (String row : FunctionsRunner.learningRateTable().split("\n")) {
            assertTrue(help.contains(row), "--help lacks the row '" + row + "':\n" + help);
        }
    }

    @Test
    void runsAndWrites(@TempDir Path dir) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new FunctionsCommand());
        cl.setOut(new PrintWriter(out));
        Path target = dir.resolve("nested/out");
        assertEquals(0, cl.execute("--out", target.toString(), "--steps", "5", "--seed", "3"));
        assertTrue(Files.exists(target.resolve("functions-rosenbrock.png")));
        assertTrue(Files.exists(target.resolve("beale-zo-adamu.csv")));
        assertTrue(out.toString().contains("wrote CSV and PNG files"), out.toString());
    }
}
