package org.zotune.model.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Reads a llama2.c "v0" checkpoint ({@code run.c}'s format): a header of 7 little-endian int32 (dim,
 * hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: an untied classifier follows the other
 * tensors), seq_len), then float32 tensors, each stacked over layers: token embedding, attention norms,
 * wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, two RoPE tables (ignored), [classifier].
 *
 * <p>Tensors are renamed to Hugging Face's Llama names. llama2.c rotates interleaved pairs (2i, 2i+1) of
 * each head, HF's Llama rotates halves (i, i + d/2), so the rows of wq and wk are permuted: HF row
 * {@code h·d + j·d/2 + i} is llama2.c row {@code h·d + 2i + j} (j = 0, 1). With that, q·k dot products,
 * and hence the model's outputs, are unchanged.
 */
public final class Llama2cCheckpoint {
    private static final int HEADER_BYTES = 7 * 4;
    /** llama2.c's fixed hyper-parameters (run.c, model.py). */
    public static final double NORM_EPS = 1e-5;
    public static final double ROPE_THETA = 10000.0;
    public static final int BOS = 1;
    public static final int EOS = 2;

    private Llama2cCheckpoint() {
    }

    /** The header fields, as read. */
    public record Header(int dim, int hiddenDim, int numLayers, int numHeads, int numKvHeads, int vocabSize,
                         boolean sharedClassifier, int seqLen) {
        int headDim() {
            return dim / numHeads;
        }

        int kvDim() {
            return numKvHeads * headDim();
        }

        /** Float32 values after the header, as run.c lays them out (throws ArithmeticException on overflow). */
        long expectedFloats() {
            long d = dim;
            long l = numLayers;
            long n = Math.multiplyExact((long) vocabSize, d); // embedding
            n = Math.addExact(n, Math.multiplyExact(l, 2 * d)); // attention and ffn norms
            n = Math.addExact(n, Math.multiplyExact(Math.multiplyExact(l, d), 2 * d)); // wq, wo
            n = Math.addExact(n, Math.multiplyExact(Math.multiplyExact(l, d), 2L * kvDim())); // wk, wv
            n = Math.addExact(n, Math.multiplyExact(Math.multiplyExact(l, d), 3L * hiddenDim)); // w1, w2, w3
            n = Math.addExact(n, d); // final norm
            n = Math.addExact(n, (long) seqLen * headDim()); // freq_cis_real + freq_cis_imag: seq_len·head_dim/2 each
            if (!sharedClassifier) {
                n = Math.addExact(n, Math.multiplyExact((long) vocabSize, d));
            }
            return Math.multiplyExact(n, 4L) / 4; // the byte count must fit too
        }
    }

    public static Checkpoint open(Path bin) {
        if (!Files.isRegularFile(bin)) {
            throw new ZotuneException(bin + ": no such llama2.c checkpoint file");
        }
        try (FileChannel ch = FileChannel.open(bin, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) {
                throw new ZotuneException(bin + ": truncated llama2.c header (" + size + " bytes, need "
                        + HEADER_BYTES + ")");
            }
            ByteBuffer hb = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            while (hb.hasRemaining()) {
                if (ch.read(hb, hb.position()) < 0) {
                    throw new ZotuneException(bin + ": truncated llama2.c header");
                }
            }
            hb.flip();
            rejectOtherFormats(bin, hb);
            Header h = parseHeader(bin, hb);
            long expectedBytes;
            try {
                expectedBytes = Math.addExact(HEADER_BYTES, 4 * h.expectedFloats());
            } catch (ArithmeticException e) {
                throw new ZotuneException(bin + ": file size " + size + " bytes does not match the header ("
                        + describe(h) + " implies more than 2^63 bytes)");
            }
            if (size != expectedBytes) {
                throw new ZotuneException(bin + ": file size " + size + " bytes does not match the header ("
                        + describe(h) + " implies " + expectedBytes + " bytes)"
                        + (size < expectedBytes ? ": the file is truncated" : ""));
            }
            return new Checkpoint(bin, config(h), readTensors(ch, h));
        } catch (IOException e) {
            throw new ZotuneException(bin + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** llama2.c's later export versions start with a magic number; PyTorch .bin files are zip archives. */
    private static void rejectOtherFormats(Path bin, ByteBuffer hb) {
        int first = hb.getInt(0);
        if (first == 0x616b3432) { // "ak42"
            throw new ZotuneException(bin + ": llama2.c export version " + hb.getInt(4) + " (magic \"ak42\") is not "
                    + "supported; export the model in the legacy version 0 format (export.py --version 0)");
        }
        if (first == 0x04034b50) { // "PK\3\4"
            throw new ZotuneException(bin + ": a zip archive (a PyTorch pytorch_model.bin?), not a llama2.c "
                    + "checkpoint; zotune reads Hugging Face folders with safetensors or llama2.c version 0 files");
        }
    }

    static Header parseHeader(Path bin, ByteBuffer hb) {
        int dim = positive(bin, "dim", hb.getInt());
        int hidden = positive(bin, "hidden_dim", hb.getInt());
        int layers = positive(bin, "n_layers", hb.getInt());
        int heads = positive(bin, "n_heads", hb.getInt());
        int kvHeads = positive(bin, "n_kv_heads", hb.getInt());
        int vocabRaw = hb.getInt();
        if (vocabRaw == 0 || vocabRaw == Integer.MIN_VALUE) {
            throw new ZotuneException(bin + ": header field vocab_size = " + vocabRaw + " is invalid");
        }
        int seqLen = positive(bin, "seq_len", hb.getInt());
        if (dim % heads != 0) {
            throw new ZotuneException(bin + ": header field n_heads = " + heads + " does not divide dim = " + dim);
        }
        if (kvHeads > heads || heads % kvHeads != 0) {
            throw new ZotuneException(bin + ": header field n_kv_heads = " + kvHeads
                    + " does not divide n_heads = " + heads);
        }
        if ((dim / heads) % 2 != 0) {
            throw new ZotuneException(bin + ": header fields dim = " + dim + ", n_heads = " + heads
                    + " give an odd head size " + dim / heads + " (RoPE needs an even one)");
        }
        return new Header(dim, hidden, layers, heads, kvHeads, Math.abs(vocabRaw), vocabRaw > 0, seqLen);
    }

    private static int positive(Path bin, String field, int value) {
        if (value <= 0) {
            throw new ZotuneException(bin + ": header field " + field + " = " + value + " must be positive");
        }
        return value;
    }

    private static String describe(Header h) {
        return "dim=" + h.dim() + " hidden_dim=" + h.hiddenDim() + " n_layers=" + h.numLayers() + " n_heads="
                + h.numHeads() + " n_kv_heads=" + h.numKvHeads() + " vocab_size="
                + (h.sharedClassifier() ? h.vocabSize() : -h.vocabSize()) + " seq_len=" + h.seqLen();
    }

    static ModelConfig config(Header h) {
        return new ModelConfig(ModelFamily.LLAMA, h.vocabSize(), h.dim(), h.numLayers(), h.numHeads(),
                h.numKvHeads(), h.headDim(), h.hiddenDim(), h.seqLen(), NORM_EPS, ModelConfig.Activation.SILU,
                h.sharedClassifier(), true, true, h.dim(), ROPE_THETA, null, false, false, BOS, EOS, -1);
    }

    private static Map<String, HostTensor> readTensors(FileChannel ch, Header h) throws IOException {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        long pos = HEADER_BYTES;
        int d = h.dim();
        int kv = h.kvDim();
        int hid = h.hiddenDim();
        int hd = h.headDim();
        pos = put(out, ch, pos, "model.embed_tokens.weight", h.vocabSize(), d);
        pos = perLayer(out, ch, pos, h, "input_layernorm.weight", d);
        // wq and wk: permuted from interleaved to rotate-half pairs, per layer
        for (int l = 0; l < h.numLayers(); l++) {
            out.put(layer(l, "self_attn.q_proj.weight"), permuted(ch, pos, layer(l, "self_attn.q_proj.weight"),
                    h.numHeads(), hd, d));
            pos += 4L * d * d;
        }
        for (int l = 0; l < h.numLayers(); l++) {
            out.put(layer(l, "self_attn.k_proj.weight"), permuted(ch, pos, layer(l, "self_attn.k_proj.weight"),
                    h.numKvHeads(), hd, d));
            pos += 4L * kv * d;
        }
        pos = perLayer(out, ch, pos, h, "self_attn.v_proj.weight", kv, d);
        pos = perLayer(out, ch, pos, h, "self_attn.o_proj.weight", d, d);
        pos = perLayer(out, ch, pos, h, "post_attention_layernorm.weight", d);
        pos = perLayer(out, ch, pos, h, "mlp.gate_proj.weight", hid, d); // w1
        pos = perLayer(out, ch, pos, h, "mlp.down_proj.weight", d, hid); // w2
        pos = perLayer(out, ch, pos, h, "mlp.up_proj.weight", hid, d); // w3
        pos = put(out, ch, pos, "model.norm.weight", d);
        pos += 4L * h.seqLen() * hd; // RoPE tables: recomputed from theta instead
        if (!h.sharedClassifier()) {
            put(out, ch, pos, "lm_head.weight", h.vocabSize(), d);
        }
        return out;
    }

    private static String layer(int l, String suffix) {
        return "model.layers." + l + "." + suffix;
    }

    private static long perLayer(Map<String, HostTensor> out, FileChannel ch, long pos, Header h, String suffix,
                                 long... shape) throws IOException {
        for (int l = 0; l < h.numLayers(); l++) {
            pos = put(out, ch, pos, layer(l, suffix), shape);
        }
        return pos;
    }

    private static long put(Map<String, HostTensor> out, FileChannel ch, long pos, String name, long... shape)
            throws IOException {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        ByteBuffer data = ch.map(FileChannel.MapMode.READ_ONLY, pos, 4 * n).order(ByteOrder.LITTLE_ENDIAN);
        out.put(name, new HostTensor(name, DType.F32, shape, data));
        return pos + 4 * n;
    }

    private static HostTensor permuted(FileChannel ch, long pos, String name, int heads, int headDim, int cols)
            throws IOException {
        int rows = heads * headDim;
        FloatBuffer src = ch.map(FileChannel.MapMode.READ_ONLY, pos, 4L * rows * cols)
                .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] dst = new float[rows * cols];
        int half = headDim / 2;
        for (int hh = 0; hh < heads; hh++) {
            for (int j = 0; j < 2; j++) {
                for (int i = 0; i < half; i++) {
                    int to = hh * headDim + j * half + i;
                    int from = hh * headDim + 2 * i + j;
                    src.get(from * cols, dst, to * cols, cols);
                }
            }
        }
        return HostTensor.ofFloats(name, dst, rows, cols);
    }
}
