package org.zotune.model.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * A read-only {@code .safetensors} file: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to {dtype, shape, data_offsets}, then the raw little-endian data. The header is validated completely
 * at {@link #open}; tensors are memory-mapped slices, so opening a multi-GiB file costs no heap.
 *
 * <p>A Java buffer holds at most 2 GiB, so the data section is mapped in chunks of whole tensors (each
 * chunk at most {@link #MAX_CHUNK} bytes); a tensor never straddles two mappings.
 */
public final class SafetensorsFile {
    /** Largest mapping handed out (a {@link ByteBuffer} is int-indexed). */
    static final long MAX_CHUNK = Integer.MAX_VALUE;
    /** The safetensors format caps the header at 100 MB; anything larger is a corrupt length field. */
    static final long MAX_HEADER = 100L * 1024 * 1024;

    /** One header entry: where a tensor's bytes lie, relative to the start of the data section. */
    public record Entry(String name, DType dtype, long[] shape, long begin, long end) {
        public long byteSize() {
            return end - begin;
        }
    }

    private final Path path;
    private final Map<String, String> metadata;
    private final Map<String, Entry> entries;
    private final Map<String, HostTensor> tensors;

    private SafetensorsFile(Path path, Map<String, String> metadata, Map<String, Entry> entries,
                            Map<String, HostTensor> tensors) {
        this.path = path;
        this.metadata = metadata;
        this.entries = entries;
        this.tensors = tensors;
    }

    /** Opens, validates and maps {@code file}. */
    public static SafetensorsFile open(Path file) {
        return open(file, MAX_CHUNK);
    }

    /** As {@link #open(Path)} with a smaller mapping limit, so tests can exercise the chunking. */
    static SafetensorsFile open(Path file, long maxChunk) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw bad(file, "truncated file: " + size + " bytes, but a safetensors file starts with an "
                        + "8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen < 0 || headerLen > size - 8) {
                throw bad(file, "header length " + Long.toUnsignedString(headerLen) + " exceeds the file size ("
                        + size + " bytes): truncated or not a safetensors file");
            }
            if (headerLen > MAX_HEADER) {
                throw bad(file, "header length " + headerLen + " exceeds the format's 100 MB limit: "
                        + "not a safetensors file");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBuf, 8);
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;

            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(file, headerBuf.array(), dataSize, metadata);
            checkOverlaps(file, entries);
            Map<String, HostTensor> tensors = map(file, ch, dataStart, entries, maxChunk);
            return new SafetensorsFile(file, Collections.unmodifiableMap(metadata),
                    Collections.unmodifiableMap(entries), Collections.unmodifiableMap(tensors));
        } catch (NoSuchFileException e) {
            throw new ZotuneException(file + ": file not found", e);
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return path;
    }

    /** The optional {@code __metadata__} string map. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Header entries in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** All tensors by name, in header order (memory-mapped). */
    public Map<String, HostTensor> tensors() {
        return tensors;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The tensor called {@code name}; a one-line error naming the file when there is none. */
    public HostTensor tensor(String name) {
        HostTensor t = tensors.get(name);
        if (t == null) {
            throw bad(path, "no tensor " + name);
        }
        return t;
    }

    // ---------------------------------------------------------------- header parsing

    private static Map<String, Entry> parseHeader(Path file, byte[] header, long dataSize,
                                                  Map<String, String> metadataOut) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw bad(file, "header is not valid UTF-8: not a safetensors file");
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw bad(file, "malformed header JSON: " + Json.oneLine(e));
        }
        if (root == null || !root.isObject()) {
            throw bad(file, "header JSON is not an object");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        Iterator<Map.Entry<String, JsonNode>> it = root.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw bad(file, "__metadata__ is not an object of strings");
                }
                v.fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw bad(file, "__metadata__ value for '" + m.getKey() + "' is not a string");
                    }
                    metadataOut.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            entries.put(name, parseEntry(file, name, v, dataSize));
        }
        return entries;
    }

    private static Entry parseEntry(Path file, String name, JsonNode v, long dataSize) {
        String where = "tensor " + name;
        if (!v.isObject()) {
            throw bad(file, where + ": header entry is not an object");
        }
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw bad(file, where + ": missing dtype");
        }
        DType dtype = dtypeOf(dt.asText());
        if (dtype == null) {
            throw bad(file, where + " has unsupported dtype " + dt.asText()
                    + " (supported: F32, BF16, F16)");
        }
        long[] shape = longArray(file, where, "shape", v.get("shape"), -1);
        long[] offsets = longArray(file, where, "data_offsets", v.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (end < begin) {
            throw bad(file, where + ": data_offsets [" + begin + ", " + end + "] end before they begin");
        }
        if (end > dataSize) {
            throw bad(file, where + ": data_offsets [" + begin + ", " + end + "] are out of bounds: the data "
                    + "section has " + dataSize + " bytes (truncated file?)");
        }
        long numel = 1;
        try {
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
            long expected = Math.multiplyExact(numel, (long) dtype.bytes());
            if (expected != end - begin) {
                throw bad(file, where + ": data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
                        + " bytes but shape " + Arrays.toString(shape) + " " + dtype + " needs " + expected);
            }
        } catch (ArithmeticException e) {
            throw bad(file, where + ": shape " + Arrays.toString(shape) + " is too large");
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static DType dtypeOf(String s) {
        for (DType d : DType.values()) {
            if (d.safetensorsName().equals(s)) {
                return d;
            }
        }
        return null;
    }

    private static long[] longArray(Path file, String where, String field, JsonNode n, int length) {
        if (n == null) {
            throw bad(file, where + ": missing " + field);
        }
        if (!n.isArray() || (length >= 0 && n.size() != length)) {
            throw bad(file, where + ": " + field + " must be an array of "
                    + (length >= 0 ? length + " " : "") + "non-negative integers, got " + n);
        }
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = n.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToLong() || e.asLong() < 0) {
                throw bad(file, where + ": " + field + " must be an array of non-negative integers, got " + n);
            }
            out[i] = e.asLong();
        }
        return out;
    }

    private static void checkOverlaps(Path file, Map<String, Entry> entries) {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.removeIf(e -> e.byteSize() == 0); // empty tensors occupy no bytes
        sorted.sort(Comparator.comparingLong(Entry::begin));
        for (int i = 1; i < sorted.size(); i++) {
            Entry prev = sorted.get(i - 1);
            Entry cur = sorted.get(i);
            if (cur.begin() < prev.end()) {
                throw bad(file, "tensor " + cur.name() + ": data_offsets [" + cur.begin() + ", " + cur.end()
                        + "] overlap tensor " + prev.name() + " [" + prev.begin() + ", " + prev.end() + "]");
            }
        }
    }

    // ---------------------------------------------------------------- mapping

    /**
     * Groups tensors (in offset order) into runs spanning at most {@code maxChunk} bytes, maps each run once
     * and slices the tensors out of it.
     */
    private static Map<String, HostTensor> map(Path file, FileChannel ch, long dataStart,
                                               Map<String, Entry> entries, long maxChunk) throws IOException {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin));
        Map<String, HostTensor> byName = new LinkedHashMap<>();
        int i = 0;
        while (i < sorted.size()) {
            Entry first = sorted.get(i);
            if (first.byteSize() > maxChunk) {
                throw bad(file, "tensor " + first.name() + " has " + first.byteSize() + " bytes: more than "
                        + maxChunk + ", the largest buffer Java can map; split it across tensors");
            }
            long chunkBegin = first.begin();
            long chunkEnd = first.end();
            int j = i + 1;
            while (j < sorted.size() && sorted.get(j).end() - chunkBegin <= maxChunk) {
                chunkEnd = Math.max(chunkEnd, sorted.get(j).end());
                j++;
            }
            ByteBuffer chunk = chunkEnd > chunkBegin
                    ? ch.map(FileChannel.MapMode.READ_ONLY, dataStart + chunkBegin, chunkEnd - chunkBegin)
                    : ByteBuffer.allocate(0);
            for (int k = i; k < j; k++) {
                Entry e = sorted.get(k);
                ByteBuffer slice = chunk.slice((int) (e.begin() - chunkBegin), (int) e.byteSize());
                byName.put(e.name(), new HostTensor(e.name(), e.dtype(), e.shape(), slice));
            }
            i = j;
        }
        Map<String, HostTensor> inHeaderOrder = new LinkedHashMap<>();
        for (String name : entries.keySet()) {
            inHeaderOrder.put(name, byName.get(name));
        }
        return inHeaderOrder;
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    static ZotuneException bad(Path file, String what) {
        return new ZotuneException(file + ": " + what);
    }
}
