package org.zotune.model.gpt2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** The Conv1D transposition of an export (split over threads, into a reused buffer) against a plain double loop. */
class Gpt2TransposeTest {
    private static HostTensor random(String name, DType dt, int rows, int cols, long seed) {
        Random r = new Random(seed);
        byte[] b = new byte[rows * cols * dt.bytes()];
        r.nextBytes(b);
        return new HostTensor(name, dt, new long[] {rows, cols}, ByteBuffer.wrap(b));
    }

    /** out[c][r] = in[r][c], element bytes moved one element at a time. */
    private static byte[] reference(HostTensor t) {
        int rows = (int) t.dim(0);
        int cols = (int) t.dim(1);
        int e = t.dtype().bytes();
        ByteBuffer in = t.bytes();
        byte[] out = new byte[rows * cols * e];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                for (int k = 0; k < e; k++) {
                    out[(c * rows + r) * e + k] = in.get((r * cols + c) * e + k);
                }
            }
        }
        return out;
    }

    private static byte[] bytes(HostTensor t) {
        ByteBuffer b = t.bytes();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    @Test
    void splitTranspositionEqualsThePlainLoopOnAwkwardShapes() {
        // shapes over one block (n >= 2^16: several threads' column ranges, the last one short) and under it
        int[][] shapes = {{257, 1031}, {3, 70001}, {70001, 3}, {1, 1}, {5, 7}, {640, 641}};
        long seed = 1;
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int[] s : shapes) {
                HostTensor t = random("h.0.mlp.c_fc.weight", dt, s[0], s[1], seed++);
                HostTensor out = Gpt2Architecture.transpose(t);
                assertArrayEquals(new long[] {s[1], s[0]}, out.shape());
                assertArrayEquals(reference(t), bytes(out), dt + " " + s[0] + "x" + s[1]);
            }
        }
    }

    @Test
    void toHfWritesIntoTheScratchBufferWhenItFitsAndLeavesOtherTensorsAlone() {
        Gpt2Architecture arch = new Gpt2Architecture();
        ByteBuffer scratch = ByteBuffer.allocate(300 * 1000 * 2 + 6).order(ByteOrder.LITTLE_ENDIAN);
        HostTensor big = random("transformer.h.3.attn.c_proj.weight", DType.BF16, 300, 1000, 7);
        HostTensor hf = arch.toHf(big, scratch);
        assertArrayEquals(reference(big), bytes(hf));
        // a view of the scratch buffer: writing the buffer changes the returned tensor
        scratch.put(0, (byte) (scratch.get(0) + 1));
        assertEquals((byte) (reference(big)[0] + 1), hf.bytes().get(0));

        // a second, smaller conversion reuses the buffer from index 0
        HostTensor small = random("transformer.h.0.mlp.c_fc.weight", DType.BF16, 9, 11, 8);
        assertArrayEquals(reference(small), bytes(arch.toHf(small, scratch)));

        // too small a buffer: a buffer of its own, the same bytes
        HostTensor f32 = random("transformer.h.0.attn.c_attn.weight", DType.F32, 300, 1000, 9);
        assertArrayEquals(reference(f32), bytes(arch.toHf(f32, scratch)));

        // not a Conv1D weight: the tensor itself, and an export sizes its scratch buffer by the Conv1D weights only
        HostTensor wte = random("transformer.wte.weight", DType.BF16, 50, 8, 10);
        assertSame(wte, arch.toHf(wte, scratch));
        assertFalse(arch.hfCopies("transformer.wte.weight"));
        assertFalse(arch.hfCopies("transformer.h.0.attn.c_attn.bias"));
        assertTrue(arch.hfCopies("transformer.h.0.mlp.c_fc.weight"));
    }
}
