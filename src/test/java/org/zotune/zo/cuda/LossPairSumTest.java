package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.zotune.parallel.Collective;
import org.zotune.parallel.InProcessGroup;
import org.zotune.train.objective.CausalLmLoss;

/**
 * The reference of loss_pair_sum (the captured data-parallel step's reduction, {@link DeviceLoss#pairSum}) against
 * what the eager data-parallel step does with the same per-rank (Σ, count) pairs: the workers' all-reduce
 * ({@link InProcessGroup}, run on threads as the workers do) and the objective's {@code fromSums}; bit for bit, for
 * 1 … 5 ranks. And the one-rank case against the one-GPU step's division ({@code zo_grad}'s float division of the
 * pair): one rank's pair through the reduction is the float quotient, so a one-rank data-parallel step is the
 * single-GPU step bit for bit.
 */
class LossPairSumTest {
    @Test
    void isTheEagerAllReduceAndFromSumsBitForBit() throws Exception {
        Random rnd = new Random(21);
        CausalLmLoss lm = new CausalLmLoss();
        for (int world = 1; world <= 5; world++) {
            int pairs = 7;
            float[] gathered = new float[2 * world * pairs];
            for (int i = 0; i < gathered.length; i += 2) {
                gathered[i] = 50f * rnd.nextFloat() * (1 + rnd.nextInt(200));
                gathered[i + 1] = 1 + rnd.nextInt(400);
            }
            float[] reference = DeviceLoss.pairSum(gathered, world);
            InProcessGroup group = new InProcessGroup(world, 30);
            List<Collective> members = group.members();
            ExecutorService pool = Executors.newFixedThreadPool(world);
            try {
                List<Future<float[]>> losses = new ArrayList<>();
                int w = world;
                for (Collective c : members) {
                    losses.add(pool.submit(() -> {
                        float[] out = new float[pairs];
                        for (int i = 0; i < pairs; i++) {
                            int at = 2 * (c.rank() * pairs + i);
                            double[] sums = {gathered[at], gathered[at + 1]};
                            c.allReduceSum(sums);
                            out[i] = lm.fromSums(sums);
                        }
                        return out;
                    }));
                }
                for (int r = 0; r < w; r++) {
                    float[] eager = losses.get(r).get();
                    for (int i = 0; i < pairs; i++) {
                        assertEquals(Float.floatToRawIntBits(eager[i]), Float.floatToRawIntBits(reference[2 * i]),
                                world + " ranks, pair " + i + " on rank " + r + ": eager " + eager[i]
                                        + ", loss_pair_sum's reference " + reference[2 * i]);
                        assertEquals(1f, reference[2 * i + 1]);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void oneRankIsTheFloatDivision() {
        Random rnd = new Random(22);
        for (int i = 0; i < 100_000; i++) {
            float v = Float.intBitsToFloat(rnd.nextInt(0x7f000000)); // positive finite values of any exponent
            float c = 1 + rnd.nextInt(1 << 20);
            float[] out = DeviceLoss.pairSum(new float[] {v, c}, 1);
            assertEquals(Float.floatToRawIntBits(v / c), Float.floatToRawIntBits(out[0]), v + " / " + c);
            // zo_grad then divides the reduced pair by its count 1: the same value
            assertEquals(Float.floatToRawIntBits(out[0]), Float.floatToRawIntBits(out[0] / out[1]));
        }
    }
}
