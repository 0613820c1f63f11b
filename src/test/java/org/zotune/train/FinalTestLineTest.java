package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.train.run.MetricsLog;
import org.zotune.train.run.RunFolder;

/**
 * {@link MetricsLog#finalTest}: how a resumed run that had ended (killed after its last checkpoint) tells whether
 * its final test evaluation was written. A run writes a test line at each new best step before that step's
 * checkpoint, and the final one after the final export; where the last step is also the best one, the last step has
 * two test lines and only the second is the final one (CrashMatrixPeftTest's LoRA run, killed inside adapter/'s
 * export, lost its final test line when the first was taken for it).
 */
class FinalTestLineTest {
    @TempDir
    Path dir;

    private MetricsLog metrics(String... lines) throws IOException {
        Path out = dir.resolve("run");
        Files.createDirectories(out);
        Files.writeString(out.resolve(RunFolder.METRICS), String.join("\n", lines) + "\n");
        TrainConfig c = TrainRuns.config(TrainRuns.yaml(dir.resolve("t.txt"), dir.resolve("d.txt"), out));
        return new MetricsLog(new RunFolder(c, true, false), new PrintWriter(new StringWriter()));
    }

    private static String train(int t) {
        return "{\"type\":\"train\",\"t\":" + t + ",\"loss\":3.5}";
    }

    private static String eval(String split, int t, double loss) {
        return "{\"type\":\"eval\",\"split\":\"" + split + "\",\"t\":" + t + ",\"loss\":" + loss + ",\"examples\":9}";
    }

    @Test
    void theBestStepsTestLineAtTheLastStepIsNotTheFinalOne() throws IOException {
        // best at 6: its test line, then the checkpoint; killed before the final test line
        MetricsLog m = metrics(train(5), train(6), eval("dev", 6, 1.5), eval("test", 6, 1.25));
        assertNull(m.finalTest(6, true));
        // the same lines where 6 is not the best step: the one test line at 6 is the final one
        assertEquals(1.25, m.finalTest(6, false).loss());
        assertEquals(1.25, m.finalTest(6).loss());
    }

    @Test
    void theSecondTestLineAtTheBestLastStepIsTheFinalOne() throws IOException {
        MetricsLog m = metrics(train(6), eval("dev", 6, 1.5), eval("test", 6, 1.25), eval("test", 6, 1.0));
        assertEquals(1.0, m.finalTest(6, true).loss());
        assertEquals(1.0, m.finalTest(6, false).loss());
    }

    @Test
    void noTestLineAtTheLastStepIsNoFinalTest() throws IOException {
        MetricsLog m = metrics(eval("test", 4, 1.25), train(5), train(6), eval("dev", 6, 1.5));
        assertNull(m.finalTest(6, false));
        assertNull(m.finalTest(6, true));
        // a test line of another step at the end is not step 6's
        m = metrics(train(6), eval("dev", 6, 1.5), eval("test", 4, 1.25), eval("test", 4, 1.0));
        assertNull(m.finalTest(6, false));
        assertNull(m.finalTest(6, true));
        assertNull(metrics("").finalTest(6, false));
    }
}
