package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.backend.cuda.GpuTestSupport.assertClose;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architectures;
import org.zotune.model.Batch;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.KvCache;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Batched generation with the key/value cache on CUDA (one block of rows per sequence, prompts of different lengths
 * right-padded): every step's logits against the CPU reference running the same batched cache (f32: 1e-4; bf16 / f16:
 * the relative error of KvCacheGpuTest), in the eager form and at full capacity (a captured graph's fixed shapes), and
 * greedy decoding of the batch token for token against each prompt generated alone without the cache (f32), for
 * GPT-2, OPT and Llama (GQA, Llama-3 RoPE).
 */
@Tag("gpu")
class KvCacheBatchGpuTest {
    private static final int[][] PROMPTS = {{5, 9, 2}, {7}, {3, 1, 4, 1, 5, 9}, {8, 8}};

    @Test
    void batchedStepsMatchTheCpu() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : KvCacheGpuTest.decoders()) {
            CausalLM lm = Architectures.create(c);
            List<HostTensor> w = KvCacheGpuTest.randomWeights(lm, 19);
            for (DType t : DType.values()) {
                for (boolean full : new boolean[] {false, true}) {
                    String what = c.family() + " " + t + (full ? " full capacity" : " eager");
                    List<float[]> expected;
                    try (CpuOps cpu = new CpuOps(t); Parameters p = cpu.createParameters(w, t)) {
                        expected = batchedSteps(cpu, lm, p, 6, full);
                    }
                    List<float[]> actual;
                    try (CudaOps ops = CudaOps.create(t); Parameters p = ops.createParameters(w, t)) {
                        actual = batchedSteps(ops, lm, p, 6, full);
                    }
                    for (int step = 0; step < expected.size(); step++) {
                        String at = what + " step " + step;
                        float[] e = expected.get(step);
                        float[] a = actual.get(step);
                        if (t == DType.F32) {
                            assertClose(e, a, 1e-4, 1e-4, at);
                        } else {
                            double num = 0;
                            double den = 0;
                            for (int i = 0; i < e.length; i++) {
                                assertTrue(Float.isFinite(a[i]), at + " logit " + i + " is " + a[i]);
                                num += (double) (a[i] - e[i]) * (a[i] - e[i]);
                                den += (double) e[i] * e[i];
                            }
                            double rel = Math.sqrt(num / den);
                            System.out.printf("%-45s ||gpu - cpu||/||cpu|| %.3e%n", at, rel);
                            assertTrue(rel < (t == DType.BF16 ? 2e-2 : 1e-2), at + ": relative error " + rel);
                        }
                    }
                }
            }
        }
    }

    @Test
    void batchedGreedyDecodingIsEachPromptAlone() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : KvCacheGpuTest.decoders()) {
            CausalLM lm = Architectures.create(c);
            try (CudaOps ops = CudaOps.create(DType.F32);
                 Parameters p = ops.createParameters(KvCacheGpuTest.randomWeights(lm, 23), DType.F32)) {
                int[][] batched = Generator.generate(ops, lm, p, PROMPTS, 30, Generator.Sampling.argmax(), -1, true);
                for (int i = 0; i < PROMPTS.length; i++) {
                    int[] alone = Generator.generate(ops, lm, p, PROMPTS[i], 30, Generator.Sampling.argmax(), -1,
                            null, false);
                    System.out.println(c.family() + " batched greedy on CUDA, prompt " + i + ": "
                            + Arrays.toString(batched[i]));
                    assertArrayEquals(alone, batched[i], c.family() + " prompt " + i + ": batched against alone");
                }
            }
        }
    }

    /**
     * The prompts right-padded through a batched cache, then {@code steps} made-up tokens per sequence one at a time;
     * each forward's rows of the sequences' last tokens (B rows of logits, one array per step).
     */
    private static List<float[]> batchedSteps(Ops ops, CausalLM m, WeightSource w, int steps, boolean full) {
        int n = PROMPTS.length;
        int vocab = m.config().vocabSize();
        int longest = Arrays.stream(PROMPTS).mapToInt(a -> a.length).max().orElseThrow();
        List<float[]> out = new java.util.ArrayList<>();
        try (KvCache cache = new KvCache(ops, n, longest + steps, full)) {
            WeightSource cw = cache.over(w);
            Batch batch = Batch.rightPadded(PROMPTS, 0);
            for (int step = 0; step <= steps; step++) {
                try (Ops.Scope sc = ops.scope()) {
                    Tensor fresh = m.forward(ops, cw, batch, cache.lengths());
                    int[] add = new int[n];
                    float[] rows = new float[n * vocab];
                    for (int b = 0; b < n; b++) {
                        add[b] = step == 0 ? PROMPTS[b].length : 1;
                        int row = step == 0 ? b * batch.seq() + PROMPTS[b].length - 1 : b;
                        System.arraycopy(ops.toHost(ops.rows(fresh, row, row + 1)), 0, rows, b * vocab, vocab);
                    }
                    cache.advance(add);
                    out.add(rows);
                }
                int[] ids = new int[n];
                int[] ones = new int[n];
                for (int b = 0; b < n; b++) {
                    ids[b] = (step * 37 + b * 11 + 5) % vocab;
                    ones[b] = 1;
                }
                batch = new Batch(n, 1, ids, ones);
            }
        }
        return out;
    }
}
