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
import org.zotune.ZotuneException;
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
        List<HostTensor> ordered = new ArrayList<>(tensors);
        ordered.sort(Comparator.comparingInt((HostTensor t) -> -t.dtype().bytes()));
        byte[] header = header(file, ordered, metadata);

        AtomicFiles.write(file, ch -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            len.putLong(0, header.length);
            AtomicFiles.writeFully(ch, len);
            AtomicFiles.writeFully(ch, ByteBuffer.wrap(header));
            for (HostTensor t : ordered) {
                AtomicFiles.writeFully(ch, t.bytes());
            }
        });
    }

    private static byte[] header(Path file, List<HostTensor> ordered, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(meta::put); // sorted: Map.of's order varies between runs
        }
        Set<String> seen = new HashSet<>();
        long offset = 0;
        for (HostTensor t : ordered) {
            if (t.name().equals("__metadata__") || !seen.add(t.name())) {
                throw new ZotuneException(file + ": cannot write tensor " + t.name()
                        + ": duplicate or reserved name");
            }
            long size = t.bytes().remaining();
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
