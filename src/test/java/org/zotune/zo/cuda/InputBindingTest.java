package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.IntTensor;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.tensor.DType;

/**
 * The graph's int inputs: a dry run of the forward records the values of its ops.ints calls; a forward whose
 * ints calls return tensors holding those values (as the replayed graph reads them) computes the same logits as a
 * plain forward on the batch, for every model family, with padding on either side (OPT's cumsum positions).
 */
class InputBindingTest {

    private static List<IntTensor> upload(CpuOps cpu, List<int[]> values) {
        List<IntTensor> out = new ArrayList<>();
        for (int[] v : values) {
            out.add(cpu.ints(v));
        }
        return out;
    }

    @Test
    void dryRunInputsReproduceThePlainForward() {
        Batch right = Batch.rightPadded(new int[][] {{1, 5, 7, 2, 9}, {3, 4, 6}}, 0);
        Batch left = new Batch(2, 5, new int[] {1, 5, 7, 2, 9, 0, 0, 3, 4, 6}, new int[] {1, 1, 1, 1, 1, 0, 0, 1, 1, 1});
        for (CausalLM m : TinyModels.all()) {
            try (CpuOps cpu = new CpuOps(DType.F32);
                 Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 3), DType.F32)) {
                for (Batch b : List.of(right, left)) {
                    List<int[]> rec = InputRecorder.record(m, b, p, DType.F32);
                    assertTrue(rec.size() >= 2, m.config().family() + ": at least ids and mask");
                    BoundInputOps bound = new BoundInputOps(cpu);
                    bound.bind(upload(cpu, rec));
                    float[] expected = cpu.toHost(m.forward(cpu, p, b));
                    float[] actual = cpu.toHost(m.forward(bound, p, b));
                    assertArrayEquals(expected, actual, 0f, m.config().family() + " " + Arrays.toString(b.mask()));
                }
                // inputs recorded for one batch do not serve another of the same shape
                List<int[]> recRight = InputRecorder.record(m, right, p, DType.F32);
                BoundInputOps bound = new BoundInputOps(cpu);
                bound.bind(upload(cpu, recRight));
                assertFalse(Arrays.equals(cpu.toHost(m.forward(cpu, p, left)), cpu.toHost(m.forward(bound, p, left))),
                        m.config().family() + ": stale inputs change the logits");
            }
        }
    }

    @Test
    void aBatchOfAnotherShapeIsRefused() {
        CausalLM m = TinyModels.all().get(0);
        try (CpuOps cpu = new CpuOps(DType.F32);
             Parameters p = cpu.createParameters(TinyModels.randomParameters(m, 3), DType.F32)) {
            List<int[]> rec = InputRecorder.record(m, Batch.of(1, 2, 3), p, DType.F32);
            BoundInputOps bound = new BoundInputOps(cpu);
            bound.bind(upload(cpu, rec));
            ZotuneException e = assertThrows(ZotuneException.class, () -> m.forward(bound, p, Batch.of(1, 2, 3, 4)));
            assertTrue(e.getMessage().contains("dry run"), e.getMessage());
            bound.rewind();
            assertEquals(cpu.toHost(m.forward(cpu, p, Batch.of(1, 2, 3))).length,
                    cpu.toHost(m.forward(bound, p, Batch.of(1, 2, 3))).length);
        }
    }
}
