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
}
