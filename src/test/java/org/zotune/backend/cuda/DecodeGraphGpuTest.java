package org.zotune.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.backend.Parameters;
import org.zotune.model.Architectures;
import org.zotune.model.CausalLM;
import org.zotune.model.Generator;
import org.zotune.model.KvCache;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.DType;
import org.zotune.zo.cuda.DecodeGraph;

/**
 * The captured decode step (one CUDA graph replayed per token): every step's logits bit for bit those of the eager
 * step at the same fixed shapes (the cache at full capacity), in f32, bf16 and f16, at batch 1 and 4 (prompts of
 * different lengths, sequences retiring at the model's positions); and greedy tokens equal to each prompt generated
 * alone without the cache (f32), for GPT-2, OPT and Llama.
 */
@Tag("gpu")
class DecodeGraphGpuTest {
    private static final int[][] PROMPTS = {{5, 9, 2}, {7}, {3, 1, 4, 1, 5, 9}, {8, 8}};

    @Test
    void graphDecodeIsTheEagerFixedShapeDecodeBitForBit() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : KvCacheGpuTest.decoders()) {
            CausalLM lm = Architectures.create(c);
            for (DType t : DType.values()) {
                try (CudaOps ops = CudaOps.create(t);
                     Parameters p = ops.createParameters(KvCacheGpuTest.randomWeights(lm, 37), t)) {
                    for (int[][] prompts : new int[][][] {{PROMPTS[0]}, PROMPTS}) {
                        String what = c.family() + " " + t + " batch " + prompts.length;
                        List<float[][]> eagerSteps = new ArrayList<>();
                        List<float[][]> graphSteps = new ArrayList<>();
                        // 100 new tokens: every sequence runs into the model's positions and retires there
                        int[][] eager = Generator.generate(ops, lm, p, prompts, 100, Generator.Sampling.argmax(), -1,
                                true, true, recording(eagerSteps,
                                        cache -> Generator.eagerDecode(ops, lm, cache.over(p))));
                        int[][] graph = Generator.generate(ops, lm, p, prompts, 100, Generator.Sampling.argmax(), -1,
                                true, true, recording(graphSteps, cache -> new DecodeGraph(ops, lm, p, cache)));
                        assertEquals(eagerSteps.size(), graphSteps.size(), what + ": steps");
                        for (int s = 0; s < eagerSteps.size(); s++) {
                            for (int b = 0; b < prompts.length; b++) {
                                // a retired sequence's row is a placeholder, but the same placeholder in both
                                assertArrayEquals(eagerSteps.get(s)[b], graphSteps.get(s)[b],
                                        what + ": step " + s + " sequence " + b + " graph against eager");
                            }
                        }
                        System.out.println(what + ": " + eagerSteps.size() + " decode steps, graph = eager bitwise");
                        for (int b = 0; b < prompts.length; b++) {
                            assertArrayEquals(eager[b], graph[b], what + ": tokens of sequence " + b);
                        }
                    }
                }
            }
        }
    }

    @Test
    void graphDecodeTokensEqualUncachedGeneration() {
        GpuTestSupport.assumeGpu();
        for (ModelConfig c : KvCacheGpuTest.decoders()) {
            CausalLM lm = Architectures.create(c);
            try (CudaOps ops = CudaOps.create(DType.F32);
                 Parameters p = ops.createParameters(KvCacheGpuTest.randomWeights(lm, 23), DType.F32)) {
                for (int[][] prompts : new int[][][] {{PROMPTS[2]}, PROMPTS}) {
                    int[][] graph = DecodeGraph.generate(ops, lm, p, prompts, 30, Generator.Sampling.argmax(), -1);
                    for (int i = 0; i < prompts.length; i++) {
                        int[] alone = Generator.generate(ops, lm, p, prompts[i], 30, Generator.Sampling.argmax(), -1,
                                null, false);
                        System.out.println(c.family() + " graph decode, batch " + prompts.length + ", prompt " + i
                                + ": " + Arrays.toString(graph[i]));
                        assertArrayEquals(alone, graph[i], c.family() + " batch " + prompts.length + " prompt " + i
                                + ": graph decode against alone without the cache");
                    }
                }
            }
        }
    }

    /** A decode step that keeps a copy of every step's logits. */
    private static Function<KvCache, Generator.DecodeStep> recording(List<float[][]> steps,
                                                                   Function<KvCache, Generator.DecodeStep> make) {
        return cache -> {
            Generator.DecodeStep inner = make.apply(cache);
            return new Generator.DecodeStep() {
                @Override
                public float[][] logits(org.zotune.model.Batch batch, int[] starts) {
                    float[][] l = inner.logits(batch, starts);
                    float[][] copy = new float[l.length][];
                    for (int b = 0; b < l.length; b++) {
                        copy[b] = l[b].clone();
                    }
                    steps.add(copy);
                    return l;
                }

                @Override
                public void close() {
                    inner.close();
                }
            };
        };
    }
}
