package org.zotune.model.bert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelLoader;
import org.zotune.model.io.SafetensorsFile;
import org.zotune.tensor.DType;

/**
 * BERT's pooler (tanh(W·h[first token] + b)) on a tiny random BertModel folder that has one, against that definition
 * written here in double precision over the checkpoint's own pooler weights; a checkpoint without it has none.
 */
class PoolerTest {
    @TempDir
    Path dir;

    @Test
    void poolerIsTanhOfTheDenseLayerOnTheFirstToken() throws IOException {
        for (boolean mlm : new boolean[] {false, true}) {
            Path folder = TinyBertFolder.write(dir.resolve("bert" + mlm), 17, mlm, true);
            LoadedEncoder m = ModelLoader.loadEncoder(folder);
            assertTrue(m.model().hasPooler());
            var stored = SafetensorsFile.open(folder.resolve("model.safetensors")).tensors();
            float[] w = stored.get("bert.pooler.dense.weight").toFloats(); // [out, in]
            float[] bias = stored.get("bert.pooler.dense.bias").toFloats();
            int h = TinyBertFolder.HIDDEN;
            int[][] seqs = {{2, 16, 15, 22, 19, 3}, {2, 18, 3}}; // the second padded to the first's length
            Batch batch = Batch.rightPadded(seqs, 0);
            try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
                Tensor hidden = m.model().hiddenStates(ops, p, batch, null);
                float[] hs = ops.toHost(hidden);
                float[] got = ops.toHost(m.model().pooled(ops, p, hidden, batch.seq()));
                assertEquals(2 * h, got.length);
                for (int b = 0; b < 2; b++) {
                    int row = b * batch.seq();
                    for (int o = 0; o < h; o++) {
                        double z = bias[o];
                        for (int i = 0; i < h; i++) {
                            z += (double) w[o * h + i] * hs[row * h + i];
                        }
                        double want = Math.tanh(z);
                        assertEquals(want, got[b * h + o], 1e-5, "mlm=" + mlm + " sequence " + b + " [" + o + "]");
                    }
                }
            }
        }
    }

    @Test
    void aCheckpointWithoutThePoolerHasNone() throws IOException {
        LoadedEncoder m = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("plain"), 17, true));
        assertFalse(m.model().hasPooler());
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            Batch batch = Batch.of(2, 16, 3);
            Tensor hidden = m.model().hiddenStates(ops, p, batch, null);
            String msg = assertThrows(ZotuneException.class, () -> m.model().pooled(ops, p, hidden, 3)).getMessage();
            assertTrue(msg.contains("no pooler"), msg);
        }
    }
}
