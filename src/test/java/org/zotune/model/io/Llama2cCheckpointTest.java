package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.tensor.HostTensor;

class Llama2cCheckpointTest {
    @TempDir
    Path tmp;

    private static Path stories() {
        return TestData.file("models/stories260K/stories260K.bin");
    }

    @Test
    void readsStories260KHeaderAndTensors() throws IOException {
        Checkpoint c = Llama2cCheckpoint.open(stories());
        ModelConfig m = c.config();
        assertEquals(ModelFamily.LLAMA, m.family());
        assertEquals(64, m.hiddenSize());
        assertEquals(172, m.intermediateSize());
        assertEquals(5, m.numLayers());
        assertEquals(8, m.numHeads());
        assertEquals(4, m.numKvHeads());
        assertEquals(8, m.headDim());
        assertEquals(512, m.vocabSize());
        assertEquals(512, m.maxPositions());
        assertTrue(m.tieWordEmbeddings());
        assertEquals(1e-5, m.normEps());
        assertEquals(10000.0, m.ropeTheta());
        assertEquals(1, m.bosTokenId());
        assertEquals(2, m.eosTokenId());
        // 1 embedding + 9 per layer + final norm; tied: no lm_head
        assertEquals(1 + 9 * 5 + 1, c.tensors().size());
        assertNull(c.tensors().get("lm_head.weight"));
        assertArrayEquals(new long[] {512, 64}, c.tensors().get("model.embed_tokens.weight").shape());
        assertArrayEquals(new long[] {32, 64}, c.tensors().get("model.layers.4.self_attn.k_proj.weight").shape());
        assertArrayEquals(new long[] {64, 172}, c.tensors().get("model.layers.0.mlp.down_proj.weight").shape());
        assertArrayEquals(new long[] {64}, c.tensors().get("model.norm.weight").shape());

        // raw offsets: the embedding starts right after the header; layer 0's attention norm follows it
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(stories())).order(ByteOrder.LITTLE_ENDIAN);
        float[] emb = c.tensors().get("model.embed_tokens.weight").toFloats();
        assertEquals(raw.getFloat(28), emb[0]);
        assertEquals(raw.getFloat(28 + 4 * (512 * 64 - 1)), emb[512 * 64 - 1]);
        assertEquals(raw.getFloat(28 + 4 * 512 * 64),
                c.tensors().get("model.layers.0.input_layernorm.weight").toFloats()[0]);
        // wq layer 0, llama2.c row 1 (head 0, pair 0, odd element) is HF row 4 (= head_dim / 2)
        long wq = 28 + 4L * (512 * 64 + 5 * 64);
        float[] q0 = c.tensors().get("model.layers.0.self_attn.q_proj.weight").toFloats();
        assertEquals(raw.getFloat((int) (wq + 4 * 64)), q0[4 * 64]);
        assertEquals(raw.getFloat((int) (wq + 4 * 2 * 64)), q0[64], "llama2.c row 2 (pair 1, even) → HF row 1");
    }

    // ---- bad input ----

    private static byte[] header(int dim, int hidden, int layers, int heads, int kv, int vocab, int seq) {
        return ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN).putInt(dim).putInt(hidden).putInt(layers)
                .putInt(heads).putInt(kv).putInt(vocab).putInt(seq).array();
    }

    private Path file(byte[] b) throws IOException {
        Path p = tmp.resolve("bad.bin");
        Files.write(p, b);
        return p;
    }

    private void expect(byte[] content, String... fragments) throws IOException {
        Path p = file(content);
        ZotuneException e = assertThrows(ZotuneException.class, () -> Llama2cCheckpoint.open(p));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains("bad.bin"), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + e.getMessage() + "' lacks '" + f + "'");
        }
    }

    @Test
    void rejectsBadHeaders() throws IOException {
        expect(new byte[10], "truncated", "header");
        expect(header(0, 172, 5, 8, 4, 512, 512), "dim = 0");
        expect(header(64, -1, 5, 8, 4, 512, 512), "hidden_dim = -1");
        expect(header(64, 172, 0, 8, 4, 512, 512), "n_layers = 0");
        expect(header(64, 172, 5, -8, 4, 512, 512), "n_heads = -8");
        expect(header(64, 172, 5, 8, 0, 512, 512), "n_kv_heads = 0");
        expect(header(64, 172, 5, 8, 4, 0, 512), "vocab_size = 0");
        expect(header(64, 172, 5, 8, 4, 512, 0), "seq_len = 0");
        expect(header(64, 172, 5, 7, 7, 512, 512), "n_heads = 7", "dim = 64");
        expect(header(64, 172, 5, 8, 3, 512, 512), "n_kv_heads = 3");
        expect(header(64, 172, 5, 8, 16, 512, 512), "n_kv_heads = 16");
        expect(header(48, 172, 5, 16, 16, 512, 512), "odd head size");
        // a valid header whose tensors are missing
        expect(header(64, 172, 5, 8, 4, 512, 512), "file size 28", "1056540", "truncated");
        // other formats named as such
        byte[] v1 = header(0x616b3432, 1, 64, 172, 5, 8, 4);
        expect(v1, "version 1", "version 0");
        byte[] zip = new byte[64];
        zip[0] = 'P';
        zip[1] = 'K';
        zip[2] = 3;
        zip[3] = 4;
        expect(zip, "zip", "safetensors");
        // absurd sizes do not overflow into a plausible size
        expect(header(Integer.MAX_VALUE - 1, Integer.MAX_VALUE, 1 << 30, 1, 1, Integer.MAX_VALUE, 1 << 30),
                "does not match");
    }

    @Test
    void rejectsTruncatedAndOversizedFiles() throws IOException {
        byte[] all = Files.readAllBytes(stories());
        expect(Arrays.copyOf(all, all.length - 4), "file size 1056536", "1056540", "truncated");
        expect(Arrays.copyOf(all, all.length + 4), "file size 1056544", "1056540");
        // negative vocab_size means an untied classifier follows: the real file is then too short
        byte[] untied = all.clone();
        ByteBuffer.wrap(untied).order(ByteOrder.LITTLE_ENDIAN).putInt(20, -512);
        expect(untied, "vocab_size=-512", "truncated");
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> Llama2cCheckpoint.open(tmp.resolve("absent.bin")));
        assertTrue(e.getMessage().contains("absent.bin"));
    }

    @Test
    void readsAnUntiedClassifier() throws IOException {
        byte[] all = Files.readAllBytes(stories());
        ByteBuffer b = ByteBuffer.allocate(all.length + 4 * 512 * 64).order(ByteOrder.LITTLE_ENDIAN);
        b.put(all);
        for (int i = 0; i < 512 * 64; i++) {
            b.putFloat(i * 0.5f);
        }
        b.putInt(20, -512);
        Checkpoint c = Llama2cCheckpoint.open(file(b.array()));
        assertFalse(c.config().tieWordEmbeddings());
        HostTensor head = c.tensors().get("lm_head.weight");
        assertArrayEquals(new long[] {512, 64}, head.shape());
        assertEquals(0.5f * (512 * 64 - 1), head.toFloats()[512 * 64 - 1]);
    }
}
