package org.zotune.zo.functions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.junit.jupiter.api.Assertions;

class FunctionsRunnerTest {

    @Test
    void smokeWritesCsvPngAndTable(@TempDir Path dir) throws Exception {
        StringWriter text = new StringWriter();
        List<FunctionsRunner.Run> runs = new FunctionsRunner(new FunctionsRunner.Config(30, 1, 1e-3, true))
                .runAll(dir, new PrintWriter(text));
        assertEquals(36, runs.size());
        for (TestFunction f : TestFunction.values()) {
            Path png = dir.resolve("functions-" + f.id() + ".png");
            BufferedImage img = ImageIO.read(png.toFile());
            assertEquals(900, img.getWidth());
            assertEquals(800, img.getHeight());
            for (FunctionsRunner.Optimizer o : FunctionsRunner.Optimizer.values()) {
                List<String> lines = Files.readAllLines(dir.resolve(f.id() + "-" + o.id() + ".csv"));
                assertEquals("step,x,y,f", lines.get(0));
                assertEquals(32, lines.size(), f.id() + " " + o.id()); // header + start + 30 steps
                String[] first = lines.get(1).split(",");
                assertEquals("0", first[0]);
                assertEquals(f.startX(), Double.parseDouble(first[1]), 1e-6);
                assertEquals(f.startY(), Double.parseDouble(first[2]), 1e-6);
                String[] last = lines.get(31).split(",");
                double x = Double.parseDouble(last[1]);
                double y = Double.parseDouble(last[2]);
                assertEquals(f.value(x, y), Double.parseDouble(last[3]), 1e-12);
            }
        }
        String table = text.toString();
        assertTrue(table.contains("steps f<1e-3"), table);
        assertEquals(1 + 36, table.lines().count(), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("rosenbrock  zo-adamu")), table);
    }

    @Test
    void firstOrderAdamMovesByTheLearningRateOnItsFirstStep() {
        // Adam's first step is lr·sign(g) (bias-corrected m/sqrt(v) = g/|g|): from (-2.5, 2) on f_a, to (-2.47, 1.97)
        FunctionsRunner.Run r = new FunctionsRunner(new FunctionsRunner.Config(1, 1, 1e-3, false))
                .run(FunctionsRunner.Optimizer.ADAM, TestFunction.A, 0.03);
        assertEquals(-2.47, r.xs()[1], 1e-9);
        assertEquals(1.97, r.ys()[1], 1e-9);
    }

    @Test
    void optimisersReachTheMinimumOfTheQuadratic() {
        // f_c is a smooth convex quadratic: every optimiser at its tuned rate gets below the 1e-3 target
        FunctionsRunner runner = new FunctionsRunner(new FunctionsRunner.Config(2000, 1, 1e-3, true));
        for (FunctionsRunner.Optimizer o : FunctionsRunner.Optimizer.values()) {
            FunctionsRunner.Run r = runner.run(o, TestFunction.C);
            assertTrue(r.finalValue() < 1e-3, o.id() + " ended at " + r.finalValue());
            assertTrue(r.stepsToTarget() > 0);
        }
    }

    @Test
    void badConfig() {
        ZotuneException e = Assertions.assertThrows(ZotuneException.class,
                () -> new FunctionsRunner.Config(0, 1, 1e-3, true));
        assertTrue(e.getMessage().contains("--steps"));
        e = Assertions.assertThrows(ZotuneException.class, () -> new FunctionsRunner.Config(10, 1, 0, true));
        assertTrue(e.getMessage().contains("--eps"));
    }
}
