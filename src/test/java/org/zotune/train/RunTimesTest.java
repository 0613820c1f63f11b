package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.model.BundledModel;

/**
 * A run's last log line tells where its wall time went: setup, the steps this invocation took (a resumed run counts
 * only its own), evaluations, checkpoints, exports and the rest, which add up to the total.
 */
class RunTimesTest {
    private static final Pattern TIME = Pattern.compile("time: ([0-9.]+) s: setup ([0-9.]+) \\(model ([0-9.]+), data "
            + "([0-9.]+), fingerprints ([0-9.]+), engine (-?[0-9.]+)\\), "
            + "(\\d+) steps ([0-9.]+) \\(([0-9.]+) ms each\\), evaluations ([0-9.]+), checkpoints ([0-9.]+) \\(writes "
            + "([0-9.]+) in the background\\), exports ([0-9.]+), other (-?[0-9.]+) \\(logs, summary, plots\\)");

    @TempDir
    Path dir;

    private String run(TrainConfig c, Trainer.Options o) {
        BundledModel b = BundledModel.get();
        StringWriter log = new StringWriter();
        new Trainer(c, b.model(), b.tokenizer(), o, new PrintWriter(log, true)).run();
        return log.toString();
    }

    /** The numbers of the time line, checked to add up; {@code [total, setup, steps, ms, evals, ckpt, exports]}. */
    private static double[] times(String log, long steps) {
        Matcher m = TIME.matcher(log);
        assertTrue(m.find(), "no time line in the log:\n" + log);
        System.out.println(m.group());
        assertEquals(steps, Long.parseLong(m.group(7)), m.group());
        double total = Double.parseDouble(m.group(1));
        double sum = 0;
        for (int g : new int[] {2, 8, 10, 11, 13, 14}) {
            sum += Double.parseDouble(m.group(g));
        }
        assertEquals(total, sum, 0.35, "the parts add up to the total (each rounded to 0.1 s): " + m.group());
        assertTrue(Double.parseDouble(m.group(14)) >= -0.05, "other is not negative: " + m.group());
        double setup = 0;
        for (int g : new int[] {3, 4, 5, 6}) {
            setup += Double.parseDouble(m.group(g));
        }
        assertEquals(Double.parseDouble(m.group(2)), setup, 0.3, "the setup's parts add up to it: " + m.group());
        assertTrue(Double.parseDouble(m.group(6)) >= -0.05, "the engine part is not negative: " + m.group());
        return new double[] {total, Double.parseDouble(m.group(2)), Double.parseDouble(m.group(8)),
                Double.parseDouble(m.group(9)), Double.parseDouble(m.group(10)), Double.parseDouble(m.group(11)),
                Double.parseDouble(m.group(13))};
    }

    @Test
    void theTimeLineCountsThisInvocationsStepsAndAddsUp() throws Exception {
        Path train = TrainRuns.austen(dir, "train.txt", 4000);
        Path dev = TrainRuns.austen(dir, "heldout.txt", 1200);
        Path out = dir.resolve("run");
        TrainConfig c = TrainRuns.config(TrainRuns.yaml(train, dev, out, "steps: 6", "eval_every: 2"));

        String whole = run(c, TrainRuns.quiet());
        double[] t = times(whole, 6);
        assertTrue(t[3] > 0, "a step takes time: " + whole);

        Path parts = dir.resolve("parts");
        TrainConfig p = TrainRuns.config(TrainRuns.yaml(train, dev, parts, "steps: 6", "eval_every: 2"));
        times(run(p, new Trainer.Options(false, false, 4, false)), 4); // --stop-after 4
        times(run(p, new Trainer.Options(true, false, 0, false)), 2); // --resume: the last two
    }
}
