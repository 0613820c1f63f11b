package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.model.ParamSpec.Role;
import org.zotune.zo.noise.NoiseLayout;

/** The chunk table against NoiseLayout (ALGORITHMS.md §1): noise indices ignore the 256-byte memory alignment. */
class ChunkTableTest {
    private static final List<ParamSpec> SPECS = List.of(
            new ParamSpec("a", new long[] {1}, Role.BIAS),
            new ParamSpec("b", new long[] {3}, Role.NORM_WEIGHT),
            new ParamSpec("c", new long[] {7, 143}, Role.MATRIX),       // 1001
            new ParamSpec("frozen", new long[] {5}, Role.NORM_BIAS),
            new ParamSpec("d", new long[] {4097}, Role.EMBEDDING),
            new ParamSpec("e", new long[] {2, 3}, Role.POSITION_EMBEDDING));

    /** Offsets as CudaParameters lays out f32 tensors: each rounded up to 64 elements (256 bytes). */
    private static long[] memOffsets() {
        long[] o = new long[SPECS.size()];
        long at = 0;
        for (int i = 0; i < o.length; i++) {
            o[i] = at;
            at += (SPECS.get(i).numel() + 63) / 64 * 64;
        }
        return o;
    }

    private static final boolean[] TRAIN = {true, true, true, false, true, true};

    @Test
    void noiseOffsetsFollowTheLayoutOfTheTrainableTensors() {
        ChunkTable t = ChunkTable.build(SPECS, memOffsets(), TRAIN, 1024);
        // by hand: a@0 (1), b@4 (3), c@8 (1001 -> 1009, rounded 1012), d@1012 (4097 -> 5109 -> 5112), e@5112 (6)
        NoiseLayout l = t.layout();
        assertEquals(5, l.count());
        assertEquals(List.of(0L, 4L, 8L, 1012L, 5112L),
                List.of(l.offset(0), l.offset(1), l.offset(2), l.offset(3), l.offset(4)));
        assertEquals(5120, l.totalElements());
        assertEquals(5120, t.stateElements());
        assertEquals(List.of(0, 1, 2, 4, 5), List.of(t.parameter(0), t.parameter(1), t.parameter(2), t.parameter(3),
                t.parameter(4)));
        NoiseLayout reference = new NoiseLayout(List.of(SPECS.get(0), SPECS.get(1), SPECS.get(2), SPECS.get(4),
                SPECS.get(5)));
        long[] mem = memOffsets();
        // every trainable element appears exactly once, with its memory and noise index
        int c = 0;
        for (int k = 0; k < reference.count(); k++) {
            int p = t.parameter(k);
            long covered = 0;
            while (c < t.size() && t.chunks().get(c).param() == p) {
                ChunkTable.Chunk ch = t.chunks().get(c);
                assertEquals(mem[p] + covered, ch.mem(), "chunk " + c + " memory offset");
                assertEquals(reference.offset(k) + covered, ch.noise(), "chunk " + c + " noise offset");
                assertEquals(0, ch.noise() % 4, "chunks start on a Philox block");
                assertTrue(ch.len() > 0 && ch.len() <= 1024);
                assertEquals(SPECS.get(p).role().decays() ? ChunkTable.FLAG_DECAYS : 0, ch.flags());
                covered += ch.len();
                c++;
            }
            assertEquals(reference.size(k), covered, "tensor " + SPECS.get(p).name() + " fully covered");
        }
        assertEquals(t.size(), c, "no chunk of a frozen tensor");
        assertEquals(1 + 1 + 1 + 5 + 1, t.size(), "4097 elements in chunks of 1024 make 5");
    }

    @Test
    void deviceBytesAreLittleEndianChunkStructs() {
        ChunkTable t = ChunkTable.build(SPECS, memOffsets(), null, 1024);
        ByteBuffer b = t.toBytes().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(t.size() * 24, b.capacity());
        for (int i = 0; i < t.size(); i++) {
            ChunkTable.Chunk c = t.chunks().get(i);
            assertEquals(c.mem(), b.getLong(24 * i));
            assertEquals(c.noise(), b.getLong(24 * i + 8));
            assertEquals(c.len(), b.getInt(24 * i + 16));
            assertEquals(c.flags(), b.getInt(24 * i + 20));
        }
        // with every tensor trainable, "frozen" (5 elements) shifts the later noise offsets
        assertEquals(1012 + 8, t.layout().offset(4));
    }

    @Test
    void badInputIsOneLine() {
        long[] mem = memOffsets();
        mem[2] = 6;
        ZotuneException e = assertThrows(ZotuneException.class, () -> ChunkTable.build(SPECS, mem, null, 1024));
        assertTrue(e.getMessage().contains("parameter c") && e.getMessage().contains("multiple of 4"), e.getMessage());
        assertThrows(ZotuneException.class, () -> ChunkTable.build(SPECS, memOffsets(), null, 1022));
        assertThrows(ZotuneException.class, () -> ChunkTable.build(SPECS, new long[2], null, 1024));
        assertThrows(ZotuneException.class, () -> ChunkTable.build(SPECS, memOffsets(), new boolean[2], 1024));
    }
}
