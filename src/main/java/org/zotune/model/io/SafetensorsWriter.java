package org.zotune.model.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.zotune.ZotuneException;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Writes {@code .safetensors} files atomically: the bytes go to a temporary file in the target folder, which
 * is fsynced and then renamed over the target, so a crash leaves either the old file or the complete new one.
 */
public final class SafetensorsWriter {
    private SafetensorsWriter() {
    }

    public static void write(Path file, Collection<HostTensor> tensors) {
        write(file, tensors, Map.of());
    }

    /**
     * Writes {@code tensors} (names must be unique) with an optional {@code __metadata__} string map. Tensors
     * are laid out widest dtype first (stable otherwise), so every tensor starts aligned to its element size.
     */
    public static void write(Path file, Collection<HostTensor> tensors, Map<String, String> metadata) {
        List<Entry> entries = new ArrayList<>(tensors.size());
        for (HostTensor t : tensors) {
            entries.add(new Entry(t.name(), t.dtype(), t.shape(), t::bytes));
        }
        writeEntries(file, entries, metadata);
    }

    /**
     * A tensor whose bytes are made while the file is written: {@code bytes} is called once, when its turn comes,
     * and may return a buffer that the next entry's call reuses (a layout conversion into one scratch buffer, so
     * that a file of converted tensors never holds all of them in memory).
     */
    public record Entry(String name, DType dtype, long[] shape, Supplier<ByteBuffer> bytes) {
        long size() {
            long n = dtype.bytes();
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** {@link #write(Path, Collection, Map)} for entries whose bytes are made on demand. */
    public static void writeEntries(Path file, List<Entry> entries, Map<String, String> metadata) {
        List<Entry> ordered = new ArrayList<>(entries);
        ordered.sort(Comparator.comparingInt((Entry t) -> -t.dtype().bytes()));
        byte[] header = header(file, ordered, metadata);

        AtomicFiles.write(file, ch -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            len.putLong(0, header.length);
            AtomicFiles.writeFully(ch, len);
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header));
            for (Entry t : ordered) {
                ByteBuffer b = t.bytes().get();
                if (b.remaining() != t.size()) {
                    throw new IllegalStateException("tensor " + t.name() + ": " + b.remaining() + " bytes, the header "
                            + "says " + t.size());
                }
                AtomicFiles.writeFully(ch, b);
            }
        });
    }

    private static byte[] header(Path file, List<Entry> ordered, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(meta::put); // sorted: Map.of's order varies between runs
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (Entry t : ordered) {
            if (t.name().equals("__metadata__") || !seen.add(t.name())) {
                throw new ZotuneException(file + ": cannot write tensor " + t.name()
                        + ": duplicate or reserved name");
            }
            long size = t.size();
            ObjectNode e = root.putObject(t.name());
            e.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = e.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            e.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json;
        try {
            json = Json.MAPPER.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // pad with spaces so the data section starts 8-byte aligned, as the reference writer does
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            out[i] = ' ';
        }
        return out;
    }
}
