package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    private static HostTensor bits16(String name, DType dt, int[] bits, long... shape) {
        return new HostTensor(name, dt, shape, ByteBuffer.wrap(RawSafetensors.u16(bits)));
    }

    @Test
    void roundTripThroughReader() throws IOException {
        HostTensor h = bits16("h", DType.F16, new int[] {0x3E00, 0xC000, 0x7BFF}, 3);
        HostTensor w = HostTensor.ofFloats("w", new float[] {1f, -2f, 3.5f, 4f, 5f, 6f}, 2, 3);
        HostTensor b = bits16("b", DType.BF16, new int[] {0x3FC0, 0xC000, 0x3E80}, 3, 1);
        HostTensor s = HostTensor.ofFloats("s", new float[] {9f});
        Path file = dir.resolve("out.safetensors");
        SafetensorsWriter.write(file, List.of(h, w, b, s), Map.of("format", "pt"));

        SafetensorsFile st = SafetensorsFile.open(file);
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertArrayEquals(new float[] {1f, -2f, 3.5f, 4f, 5f, 6f}, st.tensor("w").toFloats());
        assertArrayEquals(new long[] {2, 3}, st.tensor("w").shape());
        assertArrayEquals(new float[] {1.5f, -2f, 0.25f}, st.tensor("b").toFloats());
        assertArrayEquals(new long[] {3, 1}, st.tensor("b").shape());
        assertEquals(DType.BF16, st.tensor("b").dtype());
        assertArrayEquals(new float[] {1.5f, -2f, 65504f}, st.tensor("h").toFloats());
        assertEquals(DType.F16, st.tensor("h").dtype());
        assertArrayEquals(new long[0], st.tensor("s").shape());

        // the layout, read independently of SafetensorsFile: padded header, contiguous offsets, f32 first
        byte[] raw = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, (8 + n) % 8, "data section starts 8-byte aligned");
        JsonNode header = new ObjectMapper().readTree(new String(raw, 8, (int) n, StandardCharsets.UTF_8));
        assertEquals("[0,24]", header.get("w").get("data_offsets").toString());
        assertEquals("[24,28]", header.get("s").get("data_offsets").toString());
        assertEquals("[28,34]", header.get("h").get("data_offsets").toString());
        assertEquals("[34,40]", header.get("b").get("data_offsets").toString());
        assertEquals(8 + n + 40, raw.length);
    }

    @Test
    void replacesAtomicallyAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("ckpt.safetensors");
        SafetensorsWriter.write(file, List.of(HostTensor.ofFloats("a", new float[] {1f}, 1)));
        SafetensorsWriter.write(file, List.of(HostTensor.ofFloats("a", new float[] {2f, 3f}, 2)));
        assertArrayEquals(new float[] {2f, 3f}, SafetensorsFile.open(file).tensor("a").toFloats());

        // a failing write (duplicate names) leaves the previous file intact and nothing else behind
        HostTensor dup = HostTensor.ofFloats("a", new float[] {5f}, 1);
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> SafetensorsWriter.write(file, List.of(dup, dup)));
        assertTrue(e.getMessage().startsWith(file + ": cannot write tensor a"), e.getMessage());
        assertArrayEquals(new float[] {2f, 3f}, SafetensorsFile.open(file).tensor("a").toFloats());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
    }

    @Test
    void roundTripsAMappedTensor() throws IOException {
        Path first = dir.resolve("first.safetensors");
        SafetensorsWriter.write(first, List.of(HostTensor.ofFloats("x", new float[] {1f, 2f, 3f, 4f}, 2, 2)));
        HostTensor mapped = SafetensorsFile.open(first).tensor("x");
        Path second = dir.resolve("sub/second.safetensors");
        SafetensorsWriter.write(second, List.of(mapped));
        assertArrayEquals(Files.readAllBytes(first), Files.readAllBytes(second));
    }
    @Test
    void entriesMadeWhileWritingThroughOneReusedBufferGiveTheSameFile() throws IOException {
        HostTensor w = HostTensor.ofFloats("w", new float[] {1f, -2f, 3.5f, 4f, 5f, 6f}, 2, 3);
        HostTensor b = bits16("b", DType.BF16, new int[] {0x3FC0, 0xC000, 0x3E80}, 3, 1);
        HostTensor v = HostTensor.ofFloats("v", new float[] {7f, 8f}, 2);
        Path eager = dir.resolve("eager.safetensors");
        SafetensorsWriter.write(eager, List.of(b, w, v), Map.of("format", "pt"));

        // every entry's bytes go through the same buffer, filled only when the entry's turn comes
        ByteBuffer shared = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        List<String> calls = new java.util.ArrayList<>();
        List<SafetensorsWriter.Entry> entries = new java.util.ArrayList<>();
        for (HostTensor t : List.of(b, w, v)) {
            entries.add(new SafetensorsWriter.Entry(t.name(), t.dtype(), t.shape(), () -> {
                calls.add(t.name());
                shared.clear();
                shared.put(t.bytes()).flip();
                return shared;
            }));
        }
        Path lazy = dir.resolve("lazy.safetensors");
        SafetensorsWriter.writeEntries(lazy, entries, Map.of("format", "pt"));
        assertArrayEquals(Files.readAllBytes(eager), Files.readAllBytes(lazy));
        assertEquals(List.of("w", "v", "b"), calls, "made once each, in file order (f32 first)");
    }

    @Test
    void anEntryWhoseBytesDisagreeWithItsShapeIsRefusedAndLeavesNoFile() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        SafetensorsWriter.Entry e = new SafetensorsWriter.Entry("x", DType.F32, new long[] {3},
                () -> ByteBuffer.allocate(8));
        IllegalStateException ex = assertThrows(IllegalStateException.class,
                () -> SafetensorsWriter.writeEntries(file, List.of(e), Map.of()));
        assertEquals("tensor x: 8 bytes, the header says 12", ex.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.toList());
        }
    }
}
