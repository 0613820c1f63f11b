package org.zotune.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** The GPT-2 family's shapes (124M, 355M, 774M, 1.5B) with random weights, for timing. */
public final class Gpt2Shapes {
    private Gpt2Shapes() {
    }

    /** Name → (layers, hidden, heads). */
    public static ModelConfig config(String name) {
        switch (name) {
            case "124M": return gpt2(12, 768, 12);
            case "355M": return gpt2(24, 1024, 16);
            case "774M": return gpt2(36, 1280, 20);
            case "1558M": return gpt2(48, 1600, 25);
            default: throw new IllegalArgumentException("unknown GPT-2 size " + name + " (124M, 355M, 774M, 1558M)");
        }
    }

    static ModelConfig gpt2(int layers, int hidden, int heads) {
        return new ModelConfig(ModelFamily.GPT2, 50257, hidden, layers, heads, heads, hidden / heads, 4 * hidden,
                1024, 1e-5, ModelConfig.Activation.GELU_TANH, true, true, true, hidden, 0, null, true, true,
                50256, 50256, -1);
    }

    /**
     * Random bf16 weights in the model's parameter order, uniform with GPT-2's init scale (std 0.02)
     * around 0, and around 1 for norm weights. Never zeros (zeros time differently from real data).
     */
    public static List<HostTensor> randomWeights(List<ParamSpec> specs, long seed) {
        HostTensor[] out = new HostTensor[specs.size()];
        IntStream.range(0, specs.size()).parallel().forEach(k -> {
            ParamSpec p = specs.get(k);
            SplittableRandom rnd = new SplittableRandom(seed + 7919L * k);
            long n = p.numel();
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n * 2)).order(ByteOrder.LITTLE_ENDIAN);
            float center = p.role() == ParamSpec.Role.NORM_WEIGHT ? 1f : 0f;
            float halfWidth = 0.02f * (float) Math.sqrt(3);
            for (long i = 0; i < n; i++) {
                float v = center + halfWidth * (2 * rnd.nextFloat() - 1);
                b.putShort(DType.floatToBf16(v));
            }
            b.flip();
            out[k] = new HostTensor(p.name(), DType.BF16, p.shape(), b);
        });
        return List.of(out);
    }

    /**
     * Matrix-product FLOPs of one forward over {@code tokens} tokens in sequences of {@code seq}: per layer
     * the four projections (24·C² per token) and the two attention products (4·T·C per token, full
     * square as cuBLAS computes it), plus the LM head (2·C·V per token).
     */
    public static double gemmFlops(ModelConfig c, int batch, int seq) {
        double tokens = (double) batch * seq;
        double hidden = c.hiddenSize();
        double perLayer = 24 * hidden * hidden + 4.0 * seq * hidden;
        return tokens * (c.numLayers() * perLayer + 2 * hidden * c.vocabSize());
    }
}
