package org.zotune.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.zotune.backend.AttentionSpec;
import org.zotune.backend.Tensor;
import org.zotune.tensor.DType;

/** Hand-computed values for the reference ops (the references the CUDA kernels are tested against). */
class CpuOpsTest {
    private final CpuOps ops = new CpuOps();

    @Test
    void layerNormOfKnownVector() {
        // x = [1, 2, 3, 4]: mean 2.5, variance 1.25
        Tensor x = ops.tensor(new float[] {1, 2, 3, 4}, 1, 4);
        Tensor w = ops.tensor(new float[] {1, 1, 2, 2}, 1, 4);
        Tensor b = ops.tensor(new float[] {0, 1, 0, 1}, 1, 4);
        float[] y = ops.toHost(ops.layerNorm(x, w, b, 0f));
        double s = Math.sqrt(1.25);
        assertArrayEquals(new float[] {(float) (-1.5 / s), (float) (-0.5 / s + 1), (float) (1.0 / s),
            (float) (3.0 / s + 1)}, y, 1e-6f);
    }

    @Test
    void rmsNormOfKnownVector() {
        Tensor x = ops.tensor(new float[] {3, 4}, 1, 2); // mean square 12.5
        Tensor w = ops.tensor(new float[] {1, 2}, 1, 2);
        float[] y = ops.toHost(ops.rmsNorm(x, w, 0f));
        double r = Math.sqrt(12.5);
        assertArrayEquals(new float[] {(float) (3 / r), (float) (8 / r)}, y, 1e-6f);
    }

    @Test
    void linearIsXTimesWTransposedPlusBias() {
        Tensor x = ops.tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor w = ops.tensor(new float[] {1, 0, -1, 2, 1, 0}, 2, 3); // [out 2, in 3]
        Tensor b = ops.tensor(new float[] {10, 20}, 1, 2);
        assertArrayEquals(new float[] {8, 24, 8, 33}, ops.toHost(ops.linear(x, w, b)), 0f);
    }

    /**
     * The blocked loop (two rows by four outputs) on shapes that leave every tail: each output bitwise the sum over k
     * in order, in double, plus the bias, then rounded to float, as the one-output loop computes it.
     */
    @Test
    void linearIsTheInOrderDoubleSumBitwiseOnAwkwardShapes() {
        java.util.Random r = new java.util.Random(11);
        for (int n : new int[] {1, 2, 3, 7}) {
            for (int out : new int[] {1, 3, 4, 5, 9}) {
                for (int in : new int[] {1, 5, 33}) {
                    float[] xs = new float[n * in];
                    float[] ws = new float[out * in];
                    float[] bs = new float[out];
                    for (int i = 0; i < xs.length; i++) {
                        xs[i] = (float) r.nextGaussian();
                    }
                    for (int i = 0; i < ws.length; i++) {
                        ws[i] = (float) r.nextGaussian();
                    }
                    for (int i = 0; i < bs.length; i++) {
                        bs[i] = (float) r.nextGaussian();
                    }
                    for (boolean bias : new boolean[] {false, true}) {
                        float[] got = ops.toHost(ops.linear(ops.tensor(xs, n, in), ops.tensor(ws, out, in),
                                bias ? ops.tensor(bs, 1, out) : null));
                        for (int row = 0; row < n; row++) {
                            for (int o = 0; o < out; o++) {
                                double acc = 0;
                                for (int k = 0; k < in; k++) {
                                    acc += (double) xs[row * in + k] * ws[o * in + k];
                                }
                                if (bias) {
                                    acc += bs[o];
                                }
                                assertEquals(Float.floatToIntBits((float) acc),
                                        Float.floatToIntBits(got[row * out + o]),
                                        n + "x" + in + " by " + out + " bias " + bias + " at (" + row + ", " + o + ")");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void crossEntropyOfUniformLogitsIsLogVocab() {
        Tensor logits = ops.tensor(new float[8 * 3], 3, 8);
        float[] r = ops.toHost(ops.crossEntropy(logits, ops.ints(new int[] {5, -1, 0})));
        assertEquals(2 * Math.log(8), r[0], 1e-6);
        assertEquals(2f, r[1]);
    }

    @Test
    void firstQueryAttendsOnlyToItselfAndPaddingIsHidden() {
        // batch 1, seq 3, one head of dim 2; key 1 is padding
        Tensor q = ops.tensor(new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
        Tensor k = ops.tensor(new float[] {1, 0, 50, 50, 0, 1}, 3, 2);
        Tensor v = ops.tensor(new float[] {1, 2, 100, 100, 3, 4}, 3, 2);
        AttentionSpec spec = new AttentionSpec(1, 3, 1, 1, 2, 1f, 0, null);
        float[] o = ops.toHost(ops.attention(q, k, v, ops.ints(new int[] {1, 0, 1}), ops.ints(new int[] {0, 1, 2}), spec));
        assertArrayEquals(new float[] {1, 2}, new float[] {o[0], o[1]}, 1e-6f);
        // query 2 = (1,1) scores keys 0 and 2 equally: mean of v0 and v2
        assertArrayEquals(new float[] {2, 3}, new float[] {o[4], o[5]}, 1e-6f);
    }

    @Test
    void ropeRotatesPairsHalfADimensionApart() {
        // head dim 4, theta 1: inverse frequencies 1 and 1^(-1/2) = 1; position 1 rotates both pairs by 1 rad
        Tensor q = ops.tensor(new float[] {0, 0, 0, 0, 1, 0, 0, 0}, 2, 4);
        Tensor k = ops.tensor(new float[] {1, 0, 0, 0, 1, 0, 0, 0}, 2, 4);
        Tensor v = ops.tensor(new float[] {0, 0, 0, 0, 1, 2, 3, 4}, 2, 4);
        AttentionSpec spec = new AttentionSpec(1, 2, 1, 1, 4, 1f, 1.0, null);
        // q1 and k1 both at position 1 rotate by the same angle: their dot product stays 1; q1·k0 = cos(1)
        float[] o = ops.toHost(ops.attention(q, k, v, ops.ints(new int[] {1, 1}), ops.ints(new int[] {0, 1}), spec));
        double w0 = Math.exp(Math.cos(1.0));
        double w1 = Math.exp(1.0);
        double p1 = w1 / (w0 + w1);
        assertArrayEquals(new float[] {(float) p1, (float) (2 * p1), (float) (3 * p1), (float) (4 * p1)},
                new float[] {o[4], o[5], o[6], o[7]}, 1e-6f);
    }

    @Test
    void bf16ComputeRoundsOutputs() {
        CpuOps bf = new CpuOps(DType.BF16);
        Tensor x = bf.tensor(new float[] {1.00390625f}, 1, 1); // 1 + 2^-8: halfway, rounds to even (1.0)
        assertEquals(1.0f, bf.toHost(x)[0]);
    }

    @Test
    void f16ComputeRoundsOutputsToNearestEvenAndOverflowsToInfinity() {
        CpuOps h = new CpuOps(DType.F16);
        Tensor x = h.tensor(new float[] {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 1e-8f, 70000f}, 1, 4);
        // halfway cases go to the even mantissa; 1e-8 is below half the smallest subnormal; 70000 > 65504
        assertArrayEquals(new float[] {1f, 1 + 0x1p-9f, 0f, Float.POSITIVE_INFINITY}, h.toHost(x));
        Tensor a = h.tensor(new float[] {1f, 2048f, 0x1p-24f}, 1, 3);
        Tensor b = h.tensor(new float[] {0x1p-10f, 1f, 0x1p-24f}, 1, 3);
        h.addInPlace(a, b);
        // 1 + 2^-10 is a half; 2048 + 1 is a tie between 2048 and 2050 (ulp 2): the even 2048; subnormals add exactly
        assertArrayEquals(new float[] {1 + 0x1p-10f, 2048f, 0x1p-23f}, h.toHost(a));
        // an op whose exact output exceeds 65504 gives infinity, as torch's float16 does
        Tensor w = h.tensor(new float[] {300f, 300f}, 1, 2);
        Tensor in = h.tensor(new float[] {200f, 200f}, 1, 2);
        assertEquals(Float.POSITIVE_INFINITY, h.toHost(h.linear(in, w, null))[0]);
    }

    @Test
    void f16ParametersThatOverflowAreRefusedWithTheTensorName() {
        CpuOps h = new CpuOps(DType.F16);
        java.util.List<org.zotune.tensor.HostTensor> ok = java.util.List.of(
                org.zotune.tensor.HostTensor.ofFloats("w", new float[] {65504f, -65519f, 1e-9f}, 3));
        float[] back = h.toHost(h.createParameters(ok, DType.F16).weight(0));
        assertArrayEquals(new float[] {65504f, -65504f, 0f}, back);
        java.util.List<org.zotune.tensor.HostTensor> big = java.util.List.of(
                org.zotune.tensor.HostTensor.ofFloats("model.decoder.w", new float[] {1f, 70000f}, 2));
        org.zotune.ZotuneException e = org.junit.jupiter.api.Assertions.assertThrows(org.zotune.ZotuneException.class,
                () -> h.createParameters(big, DType.F16));
        assertEquals("tensor model.decoder.w: element 1 = 70000.0 overflows f16 (largest finite 65504); load it as"
                + " bf16 or f32", e.getMessage());
        // the same value is fine in bf16
        assertEquals(70144f, h.toHost(new CpuOps(DType.BF16).createParameters(big, DType.BF16).weight(0))[1]);
    }
}
