package org.zotune.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Runs the CPU checks of the benchmark report scripts, so that CI's benchmarks/ build runs them:
 * test_report_step.py (report_step.py on a synthetic results folder with and without the second floor's
 * measurements: the printed floors and targets against hand-computed values) and test_dfo_speed_report.py
 * (dfo/speed_report.py on synthetic speed.sh folders with the peer in float32 and in bf16, one from before the bf16
 * peer and one whose bf16 peer failed on a shape) and test_e2e_report.py (e2e/report.py: a failed zotune train gets
 * no ratio; one that ran, its wall and step ratios) and test_generate_report.py (generate/report.py: the phase columns
 * and the ratios to HF's dynamic and static caches) and test_minilm_report.py (minilm/report.py: the lr picked on
 * the first seed's dev, the seeds' means at it, failed and unfinished runs named) and test_minilm_lpft.py (run.sh's
 * phase lpft with a stand-in zotune: lpft.py's splits, probe folders and the runs started from them; skips itself
 * without numpy). Needs only python3 (no torch); skipped where there is none.
 */
class ReportScriptsPyTest {

    @ParameterizedTest
    @ValueSource(strings = {"test_report_step.py", "test_dfo_speed_report.py", "test_e2e_report.py",
        "test_generate_report.py", "test_minilm_report.py", "test_minilm_lpft.py"})
    void reportScriptPassesItsChecks(String name) throws IOException, InterruptedException {
        Path script = Path.of(name); // surefire runs in the benchmarks/ module's folder
        assertTrue(Files.isRegularFile(script), "missing " + script.toAbsolutePath());
        assumeTrue(python3Runs(), "no python3 on PATH");
        Process p = new ProcessBuilder("python3", script.toString()).redirectErrorStream(true).start();
        boolean done = p.waitFor(120, TimeUnit.SECONDS);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!done) {
            p.destroyForcibly();
        }
        assertTrue(done, name + " did not finish in 120 s:\n" + out);
        assertEquals(0, p.exitValue(), name + " failed:\n" + out);
    }

    private static boolean python3Runs() {
        try {
            Process p = new ProcessBuilder("python3", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
