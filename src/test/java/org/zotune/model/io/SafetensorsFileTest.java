package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.zotune.model.io.RawSafetensors.concat;
import static org.zotune.model.io.RawSafetensors.f32;
import static org.zotune.model.io.RawSafetensors.u16;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

class SafetensorsFileTest {
    @TempDir
    Path dir;

    /** Opening must fail with a one-line message naming the file and containing every fragment. */
    private void assertBad(Path file, String... fragments) {
        ZotuneException e = assertThrows(ZotuneException.class, () -> SafetensorsFile.open(file));
        String msg = e.getMessage();
        assertFalse(msg.contains("\n"), "one line: " + msg);
        assertTrue(msg.startsWith(file.toString()), "names the file: " + msg);
        for (String f : fragments) {
            assertTrue(msg.contains(f), "message should contain '" + f + "': " + msg);
        }
    }

    @Test
    void readsHandAssembledFileInAllThreeDtypes() throws IOException {
        // bf16: 1.5 = 0x3FC0, -2 = 0xC000, 0.25 = 0x3E80; f16: 1.5 = 0x3E00, -2 = 0xC000, 65504 = 0x7BFF
        byte[] a = f32(1f, 2f, 3f, 4f, 5f, -6.5f);
        byte[] b = u16(0x3FC0, 0xC000, 0x3E80);
        byte[] c = u16(0x3E00, 0xC000, 0x7BFF);
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"c\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[30,36]},"
                + "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]},"
                + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[40,40]}}   ";
        Path file = RawSafetensors.write(dir.resolve("m.safetensors"), header, concat(a, b, c, f32(7f)));

        SafetensorsFile st = SafetensorsFile.open(file);
        assertEquals(Map.of("format", "pt"), st.metadata());
        assertEquals(List.of("b", "a", "c", "scalar", "empty"), List.copyOf(st.tensors().keySet()));
        HostTensor ta = st.tensor("a");
        assertEquals(DType.F32, ta.dtype());
        assertArrayEquals(new long[] {2, 3}, ta.shape());
        assertArrayEquals(new float[] {1f, 2f, 3f, 4f, 5f, -6.5f}, ta.toFloats());
        assertArrayEquals(new float[] {1.5f, -2f, 0.25f}, st.tensor("b").toFloats());
        assertEquals(DType.BF16, st.tensor("b").dtype());
        assertArrayEquals(new float[] {1.5f, -2f, 65504f}, st.tensor("c").toFloats());
        assertEquals(DType.F16, st.tensor("c").dtype());
        assertArrayEquals(new float[] {7f}, st.tensor("scalar").toFloats());
        assertEquals(0, st.tensor("empty").numel());

        ZotuneException e = assertThrows(ZotuneException.class, () -> st.tensor("nope"));
        assertEquals(file + ": no tensor nope", e.getMessage());
    }

    @Test
    void chunkedMappingSlicesEveryTensorCorrectly() throws IOException {
        // 5 tensors of 16 bytes; chunks of at most 40 bytes hold two tensors each, so tensors come from 3 mappings
        StringBuilder h = new StringBuilder("{");
        byte[][] parts = new byte[5][];
        for (int i = 0; i < 5; i++) {
            parts[i] = f32(10 * i, 10 * i + 1, 10 * i + 2, 10 * i + 3);
            h.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[4],")
                    .append("\"data_offsets\":[").append(16 * i).append(',').append(16 * i + 16).append("]}");
        }
        h.append('}');
        Path file = RawSafetensors.write(dir.resolve("chunks.safetensors"), h.toString(), concat(parts));
        SafetensorsFile st = SafetensorsFile.open(file, 40);
        for (int i = 0; i < 5; i++) {
            assertArrayEquals(new float[] {10 * i, 10 * i + 1, 10 * i + 2, 10 * i + 3},
                    st.tensor("t" + i).toFloats(), "t" + i);
        }
        ZotuneException e = assertThrows(ZotuneException.class, () -> SafetensorsFile.open(file, 15));
        assertTrue(e.getMessage().startsWith(file + ": tensor t0 has 16 bytes: more than 15"), e.getMessage());
    }

    @Test
    void truncatedBeforeTheHeaderLength() throws IOException {
        Path file = dir.resolve("tiny.safetensors");
        Files.write(file, new byte[] {1, 2, 3});
        assertBad(file, "truncated file: 3 bytes");
    }

    @Test
    void headerLengthBeyondFileSize() throws IOException {
        byte[] header = "{}".getBytes(StandardCharsets.UTF_8);
        Path file = RawSafetensors.write(dir.resolve("len.safetensors"), 1000, header, new byte[0]);
        assertBad(file, "header length 1000 exceeds the file size (10 bytes)");
        Path neg = RawSafetensors.write(dir.resolve("neg.safetensors"), -1L, header, new byte[0]);
        assertBad(neg, "header length 18446744073709551615 exceeds the file size");
    }

    @Test
    void malformedHeaderJson() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("json.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],", f32(1f));
        assertBad(file, "malformed header JSON");
        Path notObj = RawSafetensors.write(dir.resolve("arr.safetensors"), "[1,2]", new byte[0]);
        assertBad(notObj, "header JSON is not an object");
        Path dup = RawSafetensors.write(dir.resolve("dup.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", f32(1f));
        assertBad(dup, "malformed header JSON", "Duplicate field 'a'");
        Path utf = RawSafetensors.write(dir.resolve("utf.safetensors"), 2, new byte[] {(byte) 0xff, (byte) 0xfe},
                new byte[0]);
        assertBad(utf, "header is not valid UTF-8");
    }

    @Test
    void offsetsOutOfBounds() throws IOException {
        // header promises 8 bytes, the file holds 4: a truncated download
        Path file = RawSafetensors.write(dir.resolve("oob.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", f32(1f));
        assertBad(file, "tensor w: data_offsets [0, 8] are out of bounds: the data section has 4 bytes");
        Path backwards = RawSafetensors.write(dir.resolve("back.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", f32(1f, 2f));
        assertBad(backwards, "tensor w: data_offsets [4, 0] end before they begin");
    }

    @Test
    void overlappingTensors() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("overlap.safetensors"),
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", f32(1f, 2f, 3f));
        assertBad(file, "tensor y: data_offsets [4, 12] overlap tensor x [0, 8]");
    }

    @Test
    void offsetsNotMatchingShapeTimesDtype() throws IOException {
        Path file = RawSafetensors.write(dir.resolve("size.safetensors"),
                "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", f32(1f, 2f));
        assertBad(file, "tensor w: data_offsets [0, 8] hold 8 bytes but shape [3] BF16 needs 6");
    }

    @Test
    void unsupportedDtypesAreNamed() throws IOException {
        for (String dt : new String[] {"I8", "F64"}) {
            Path file = RawSafetensors.write(dir.resolve(dt + ".safetensors"),
                    "{\"q\":{\"dtype\":\"" + dt + "\",\"shape\":[8],\"data_offsets\":[0,8]}}", new byte[8]);
            assertBad(file, "tensor q has unsupported dtype " + dt + " (supported: F32, BF16, F16)");
        }
    }

    @Test
    void malformedEntries() throws IOException {
        String[][] cases = {
            {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "tensor w: missing dtype"},
            {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "tensor w: missing shape"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "tensor w: missing data_offsets"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "tensor w: shape must be"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "tensor w: shape must be"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "tensor w: data_offsets must be"},
            {"{\"w\":[1,2]}", "tensor w: header entry is not an object"},
            {"{\"__metadata__\":{\"n\":1}}", "__metadata__ value for 'n' is not a string"},
            {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                "tensor w: shape [4294967296, 4294967296] is too large"},
        };
        int i = 0;
        for (String[] c : cases) {
            Path file = RawSafetensors.write(dir.resolve("bad" + i++ + ".safetensors"), c[0], f32(1f));
            assertBad(file, c[1]);
        }
    }

    /**
     * A real file over 2 GiB (sparse: the big tensors are holes that read as zeros), so offsets beyond
     * Integer.MAX_VALUE and two mappings are exercised. Opt-in (-Dzotune.largeTests=true) because a file
     * system without sparse files would write 2.5 GB.
     */
    @Test
    void fileOverTwoGibibytes() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("zotune.largeTests"),
                "set -Dzotune.largeTests=true to run");
        long big = 335_544_320L; // floats: 1.25 GiB per tensor
        long tailBegin = 2 * big * 4;
        String header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[" + big + "],\"data_offsets\":[0," + big * 4 + "]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[" + big + "],\"data_offsets\":[" + big * 4 + "," + tailBegin + "]},"
                + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + tailBegin + "," + (tailBegin + 8) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("big.safetensors");
        long dataStart = 8 + h.length;
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(dataStart + tailBegin + 8);
            raf.seek(0);
            raf.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.seek(dataStart + tailBegin - 4); // last element of b
            raf.write(f32(-3f));
            raf.write(f32(1.25f, 2.5f));
        }
        SafetensorsFile st = SafetensorsFile.open(file);
        assertArrayEquals(new float[] {1.25f, 2.5f}, st.tensor("tail").toFloats());
        java.nio.ByteBuffer b = st.tensor("b").bytes();
        assertEquals(-3f, b.getFloat((int) (big * 4 - 4)));
        assertEquals(0f, b.getFloat(0));
        assertEquals(big, st.tensor("a").numel());
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("absent.safetensors");
        assertBad(file, "file not found");
    }
}
