package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelLoader;
import org.zotune.train.objective.CausalLmLoss;
import org.zotune.zo.cuda.DeviceLoss;
import org.zotune.zo.cuda.DeviceZoStep;

/**
 * A rank's shard of a data-parallel batch may hold no target token (say, the one prompt-only example of a shard):
 * its captured step computes a (0, 0) pair that the ranks' sum absorbs, where a whole batch without a target is
 * refused in one line (the graph step on one GPU, the eager step everywhere).
 */
class ShardTargetsTest {
    @Test
    void aShardWithoutTargetsIsAZeroPairNotARefusal() {
        LanguageModel model = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin")).model();
        EncodedExample promptOnly = new EncodedExample("p", new int[][] {{1, 40, 41}}, new int[] {3}, 0);
        PromptBatch shard = PromptBatch.of(List.of(promptOnly), 0);
        CausalLmLoss lm = new CausalLmLoss();

        ZotuneException e = assertThrows(ZotuneException.class,
                () -> CudaZoEngine.deviceLosses(lm, model, List.of(shard)));
        assertTrue(e.getMessage().contains("no target token"), e.getMessage());

        List<DeviceZoStep.MicroBatch> mbs = CudaZoEngine.deviceLosses(lm, model, List.of(shard), true).orElseThrow();
        assertEquals(1, mbs.size());
        DeviceLoss.TokenCrossEntropy ce = (DeviceLoss.TokenCrossEntropy) mbs.get(0).loss();
        int[] none = new int[shard.batch().tokens()];
        Arrays.fill(none, -1);
        assertArrayEquals(none, ce.targets(), "every token unscored: the shard's pair is (0, 0)");
        ce.check(mbs.get(0).batch());
    }
}
