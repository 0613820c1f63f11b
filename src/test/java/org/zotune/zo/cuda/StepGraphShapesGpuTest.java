package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.model.Batch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;
import org.zotune.train.objective.NextTokenTargets;
import org.zotune.zo.optim.PerturbationStrategy;
import org.zotune.zo.optim.ZoOptimizerConfig;
import org.zotune.zo.optim.ZoStep;

/**
 * The captured step's graphs per shape (StepGraph) on the bundled stories260K model: batches of alternating shapes
 * (A, B, A, B, ... and A, B, C, A, ...) give bitwise the eager step's losses and weights, with one capture per shape
 * while the shapes fit the graphs held, and a capture for every step whose shape's graph was dropped (least
 * recently replayed first) when they do not.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StepGraphShapesGpuTest {
    private LoadedModel model;
    private Batch a;
    private Batch b;
    private Batch c;

    @BeforeAll
    void load() {
        ZoGpu.assumeGpu();
        BundledModel bundled = BundledModel.get();
        model = ModelLoader.load(bundled.model());
        Llama2cTokenizer tok = Llama2cTokenizer.load(bundled.tokenizer());
        a = Batch.rightPadded(new int[][] {tok.encode("Once upon a time, there was a little girl named Lily."),
            tok.encode("The sun was shining.")}, 0);
        b = Batch.rightPadded(new int[][] {tok.encode("Tom had a red ball. He liked to throw it high in the sky and"
                + " catch it with both hands."), tok.encode("The dog barked."), tok.encode("Mom smiled.")}, 0);
        c = Batch.rightPadded(new int[][] {tok.encode("A bird sang.")}, 0);
    }

    /** Losses and final weights of the steps, and the graph counts. */
    private record Run(List<ZoStep.Result> results, float[][] theta, long captures, long replays) {
        float[] losses() {
            int q = results.get(0).lossPlus().length;
            float[] l = new float[2 * q * results.size()];
            for (int i = 0; i < results.size(); i++) {
                for (int k = 0; k < q; k++) {
                    l[2 * (i * q + k)] = results.get(i).lossPlus()[k];
                    l[2 * (i * q + k) + 1] = results.get(i).lossMinus()[k];
                }
            }
            return l;
        }
    }

    private Run run(ZoOptimizerConfig opt, ZoStep.Config zc, List<Batch> batches, boolean graph, int maxGraphs) {
        DType d = zc.paramDType();
        try (CudaOps ops = CudaOps.create(d); Parameters p = ops.createParameters(model.parameters(), d)) {
            List<ZoStep.Result> results = new ArrayList<>();
            long captures;
            long replays;
            try (DeviceZoStep e = new DeviceZoStep(ops, model.model(), p, opt, zc).useGraph(graph)
                    .maxGraphs(maxGraphs)) {
                for (Batch x : batches) {
                    e.submit(x, NextTokenTargets.of(x));
                    results.addAll(e.poll());
                }
                results.addAll(e.drain());
                captures = e.graphCaptures();
                replays = e.graphReplays();
            }
            float[][] theta = new float[p.count()][];
            for (int i = 0; i < theta.length; i++) {
                theta[i] = ops.toHost(p.weight(i));
            }
            return new Run(results, theta, captures, replays);
        }
    }

    private static void assertSameBits(Run g, Run e, String what) {
        float[] gl = g.losses();
        float[] el = e.losses();
        System.out.printf("%s: graph losses %s%n  eager losses %s%n  captures %d, replays %d%n", what,
                java.util.Arrays.toString(gl), java.util.Arrays.toString(el), g.captures(), g.replays());
        ZoKernelsGpuTest.assertBitwise(gl, el, what + ": losses (graph vs eager)");
        for (int i = 0; i < g.theta().length; i++) {
            ZoKernelsGpuTest.assertBitwise(g.theta()[i], e.theta()[i], what + ": parameter " + i + " (graph vs eager)");
        }
    }

    private List<Batch> sequence(Batch... pattern) {
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            out.addAll(List.of(pattern));
        }
        return out;
    }

    @Test
    void alternatingShapesReplayTheirOwnGraphsBitwiseTheEagerStep() {
        assertTrue(a.batch() != b.batch() || a.seq() != b.seq(), "A and B differ in shape");
        for (PerturbationStrategy s : PerturbationStrategy.values()) {
            for (DType d : new DType[] {DType.F32, DType.BF16}) {
                ZoStep.Config zc = DeviceZoStepTest.config(s, d);
                List<Batch> abab = sequence(a, b); // A, B, A, B, A, B
                String what = "A, B x3, " + s + " " + d;
                Run g = run(DeviceZoStepTest.sgd(1e-3), zc, abab, true, 8);
                Run e = run(DeviceZoStepTest.sgd(1e-3), zc, abab, false, 8);
                assertSameBits(g, e, what);
                assertEquals(2, g.captures(), what + ": one capture per distinct shape");
                assertEquals(abab.size(), g.replays(), what + ": every step replays a graph");
                assertEquals(0, e.captures(), what + ": the eager step captures nothing");
            }
        }
        // q = 3 and ZO-AdaMU, whose state the graphs share
        List<Batch> abc = sequence(a, b, c);
        ZoStep.Config q3 = DeviceZoStepTest.config(PerturbationStrategy.SHADOW, DType.BF16).withSamples(3);
        Run g = run(DeviceZoStepTest.sgd(1e-3), q3, abc, true, 8);
        assertSameBits(g, run(DeviceZoStepTest.sgd(1e-3), q3, abc, false, 8), "A, B, C x3, q = 3");
        assertEquals(3, g.captures(), "q = 3: one capture per distinct shape");
        ZoStep.Config f32 = DeviceZoStepTest.config(PerturbationStrategy.IN_PLACE, DType.F32);
        g = run(DeviceZoStepTest.adamu(1e-4), f32, abc, true, 8);
        assertSameBits(g, run(DeviceZoStepTest.adamu(1e-4), f32, abc, false, 8), "A, B, C x3, zo-adamu in-place");
        assertEquals(3, g.captures(), "zo-adamu: one capture per distinct shape");
    }

    @Test
    void shapesBeyondTheGraphsHeldDropTheLeastRecentlyReplayed() {
        ZoStep.Config zc = DeviceZoStepTest.config(PerturbationStrategy.SHADOW, DType.F32);
        List<Batch> abc = sequence(a, b, c); // A, B, C, A, B, C, ...
        Run e = run(DeviceZoStepTest.sgd(1e-3), zc, abc, false, 8);
        Run two = run(DeviceZoStepTest.sgd(1e-3), zc, abc, true, 2);
        assertSameBits(two, e, "A, B, C x3 with 2 graphs held");
        assertEquals(abc.size(), two.captures(), "2 graphs, 3 shapes in a cycle: each step's graph was dropped");
        Run one = run(DeviceZoStepTest.sgd(1e-3), zc, sequence(a, a, b), true, 1);
        assertSameBits(one, run(DeviceZoStepTest.sgd(1e-3), zc, sequence(a, a, b), false, 1), "A, A, B x3, 1 graph");
        assertEquals(6, one.captures(), "1 graph: A, A replays once, every change of shape captures");
        Run three = run(DeviceZoStepTest.sgd(1e-3), zc, abc, true, 3);
        assertSameBits(three, e, "A, B, C x3 with 3 graphs held");
        assertEquals(3, three.captures(), "3 graphs: one capture per shape");
    }
}
