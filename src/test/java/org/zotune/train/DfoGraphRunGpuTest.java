package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.dfo.BatchedPopulation;
import org.zotune.model.BundledModel;

/**
 * A whole dfo run on CUDA with captured generations against the same run with {@code -Dzotune.dfo.graph=false}
 * (the eager generation), on the bundled stories260K with objective accuracy (−accuracy: counts, which the device and
 * the host reduce to the same bits, so the two searches see the same losses), schedule layers (every layer's first
 * generation uncaptured, its second captured, the rest replayed), CMA-ES and Fireworks: the log says which way the
 * generations ran, and metrics.jsonl, subspace.json and the exported adapter are the same bit for bit.
 */
@Tag("gpu")
class DfoGraphRunGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    @Test
    void capturedGenerationsGiveTheEagerRunBitForBit() throws IOException {
        for (String optimizer : new String[] {"cma", "fwa"}) {
            Path graph = dir.resolve("graph-" + optimizer);
            Path eager = dir.resolve("eager-" + optimizer);
            String graphLog = run(graph, optimizer);
            String eagerLog;
            String before = System.getProperty(BatchedPopulation.GRAPH_PROPERTY);
            System.setProperty(BatchedPopulation.GRAPH_PROPERTY, "false");
            try {
                eagerLog = run(eager, optimizer);
            } finally {
                if (before == null) {
                    System.clearProperty(BatchedPopulation.GRAPH_PROPERTY);
                } else {
                    System.setProperty(BatchedPopulation.GRAPH_PROPERTY, before);
                }
            }
            String what = optimizer + ", schedule layers";
            assertTrue(graphLog.contains("generations captured as CUDA graphs"), what + ":\n" + graphLog);
            assertTrue(eagerLog.contains("generations eager (-Dzotune.dfo.graph=false)"), what + ":\n" + eagerLog);
            List<String> a = Files.readAllLines(graph.resolve("metrics.jsonl"));
            List<String> b = Files.readAllLines(eager.resolve("metrics.jsonl"));
            int differ = 0;
            String first = null;
            for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
                if (!a.get(i).equals(b.get(i))) {
                    differ++;
                    first = first == null ? "line " + i + ": " + a.get(i) + " against " + b.get(i) : first;
                }
            }
            System.out.printf("%s: %d and %d metrics lines, %d differ%s%n", what, a.size(), b.size(), differ,
                    first == null ? "" : "; first " + first);
            assertTrue(a.size() > 10, what + ": " + a.size() + " metrics lines");
            assertEquals(String.join("\n", b), String.join("\n", a), what + ": metrics.jsonl");
            assertEquals(Files.readString(eager.resolve(DfoTrainer.SUBSPACE)),
                    Files.readString(graph.resolve(DfoTrainer.SUBSPACE)), what + ": subspace.json");
            assertArrayEquals(Files.readAllBytes(eager.resolve("adapter/adapter_model.safetensors")),
                    Files.readAllBytes(graph.resolve("adapter/adapter_model.safetensors")), what + ": adapter");
        }
    }

    /** λ = 5, D = 8, budget 100: four generations per layer of stories260K's five. Returns the log. */
    private String run(Path out, String optimizer) throws IOException {
        TrainConfig c = TrainConfig.parse("t.yaml", DfoRunTest.yaml(dir, out, "  optimizer: " + optimizer,
                "  subspace: 8", "  population: 5", "  budget: 100", "  schedule: layers"),
                List.of("device=cuda", "objective=accuracy"));
        BundledModel b = BundledModel.get();
        StringWriter log = new StringWriter();
        try {
            new DfoTrainer(c, b.model(), b.tokenizer(), new Trainer.Options(false, false, 0, false),
                    new PrintWriter(log, true), DfoParts.populationLoss(), DfoParts.searches(c.dfo())).run();
        } catch (RuntimeException e) {
            System.out.println(log);
            throw e;
        }
        return log.toString();
    }
}
