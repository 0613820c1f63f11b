package org.zotune.model.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.model.BundledModel;

/** Test tokenizers that do not fit the bundled model. */
public final class WidenedTokenizer {
    private WidenedTokenizer() {
    }

    /**
     * The bundled model's own tok512.bin with {@code extra} pieces appended (llama2.c's format: float32 score, int32
     * length, bytes), of bytes no ordinary text holds, so that text encodes as it does with the model's own
     * tokenizer while the vocabulary is larger than the model's.
     */
    public static Path write(Path to, int extra) throws IOException {
        byte[] own = Files.readAllBytes(BundledModel.get().tokenizer());
        ByteBuffer b = ByteBuffer.allocate(own.length + extra * 11).order(ByteOrder.LITTLE_ENDIAN);
        b.put(own);
        for (int i = 0; i < extra; i++) {
            b.putFloat(-1e6f).putInt(3).put((byte) 1).put((byte) ('A' + i / 26)).put((byte) ('a' + i % 26));
        }
        Files.createDirectories(to.toAbsolutePath().getParent());
        return Files.write(to, b.array());
    }
}
