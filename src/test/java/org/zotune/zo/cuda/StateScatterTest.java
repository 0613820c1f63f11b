package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.tensor.DType;

/**
 * The checkpoint's slice-by-slice read of an optimiser state vector (OptimizerState.readSlices): the vector read in
 * chunks of any size and scattered into per-tensor float32 slices equals the slices cut from the whole vector, for
 * slices with gaps between them (alignment padding), out of order, empty, and straddling chunk boundaries.
 */
class StateScatterTest {
    @Test
    void chunkedScatterEqualsSlicingTheWholeVector() {
        long[] offsets = {0, 7, 40, 41, 100, 64};
        long[] sizes = {5, 30, 0, 23, 37, 30};
        int elements = 137;
        Random r = new Random(3);
        for (DType st : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            ByteBuffer whole = ByteBuffer.allocate(elements * st.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            float[] values = new float[elements];
            for (int i = 0; i < elements; i++) {
                short bits = (short) (r.nextInt(0x7800) - 0x3C00); // finite in both 16-bit formats
                if (st == DType.F32) {
                    values[i] = (float) r.nextGaussian();
                    whole.putFloat(4 * i, values[i]);
                } else {
                    whole.putShort(2 * i, bits);
                    values[i] = st == DType.BF16 ? DType.bf16ToFloat(bits) : DType.f16ToFloat(bits);
                }
            }
            for (int chunk : new int[] {1, 3, 16, 64, 136, 137, 1000}) {
                ByteBuffer[] out = new ByteBuffer[offsets.length];
                for (int p = 0; p < out.length; p++) {
                    out[p] = ByteBuffer.allocate((int) (4 * sizes[p])).order(ByteOrder.LITTLE_ENDIAN);
                }
                for (int c0 = 0; c0 < elements; c0 += chunk) {
                    int c1 = Math.min(elements, c0 + chunk);
                    ByteBuffer part = whole.duplicate().position(c0 * st.bytes()).limit(c1 * st.bytes()).slice()
                            .order(ByteOrder.LITTLE_ENDIAN);
                    OptimizerState.scatter(part, c0, c1, st, offsets, sizes, out);
                }
                for (int p = 0; p < out.length; p++) {
                    for (int i = 0; i < sizes[p]; i++) {
                        assertEquals(Float.floatToRawIntBits(values[(int) offsets[p] + i]),
                                Float.floatToRawIntBits(out[p].getFloat(4 * i)),
                                st + " chunk " + chunk + " slice " + p + " element " + i);
                    }
                }
            }
        }
    }
    @Test
    void gatherIsScattersInverseAndZeroesTheGaps() {
        long[] offsets = {3, 20, 9, 50};
        long[] sizes = {4, 25, 11, 0};
        int elements = 61;
        Random r = new Random(5);
        for (DType st : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            ByteBuffer[] in = new ByteBuffer[offsets.length];
            for (int p = 0; p < in.length; p++) {
                in[p] = ByteBuffer.allocate((int) (4 * sizes[p])).order(ByteOrder.LITTLE_ENDIAN);
                for (int k = 0; k < sizes[p]; k++) { // values exact in every state dtype
                    in[p].putFloat(4 * k, (r.nextInt(255) - 127) / 16f); // 7 significant bits
                }
            }
            for (int chunk : new int[] {1, 7, 32, 61, 100}) {
                ByteBuffer whole = ByteBuffer.allocate(elements * st.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < whole.capacity(); i++) {
                    whole.put(i, (byte) 0x5A); // garbage where the gaps are: gather must zero it
                }
                for (int c0 = 0; c0 < elements; c0 += chunk) {
                    int c1 = Math.min(elements, c0 + chunk);
                    ByteBuffer part = whole.duplicate().position(c0 * st.bytes()).limit(c1 * st.bytes()).slice()
                            .order(ByteOrder.LITTLE_ENDIAN);
                    OptimizerState.gather(part, c0, c1, st, offsets, sizes, in);
                }
                boolean[] covered = new boolean[elements];
                for (int p = 0; p < offsets.length; p++) {
                    for (int k = 0; k < sizes[p]; k++) {
                        covered[(int) offsets[p] + k] = true;
                    }
                }
                for (int e = 0; e < elements; e++) {
                    if (!covered[e]) {
                        for (int b = 0; b < st.bytes(); b++) {
                            assertEquals(0, whole.get(e * st.bytes() + b), st + " chunk " + chunk + " gap " + e);
                        }
                    }
                }
                ByteBuffer[] back = new ByteBuffer[offsets.length];
                for (int p = 0; p < back.length; p++) {
                    back[p] = ByteBuffer.allocate((int) (4 * sizes[p])).order(ByteOrder.LITTLE_ENDIAN);
                }
                OptimizerState.scatter(whole, 0, elements, st, offsets, sizes, back);
                for (int p = 0; p < back.length; p++) {
                    for (int k = 0; k < sizes[p]; k++) {
                        assertEquals(in[p].getFloat(4 * k), back[p].getFloat(4 * k),
                                st + " chunk " + chunk + " slice " + p + " element " + k);
                    }
                }
            }
        }
    }
}
