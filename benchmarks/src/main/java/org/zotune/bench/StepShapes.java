package org.zotune.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;

/**
 * The shapes of the step benchmark, by the names benchmarks/peer/mezo_peer.py uses: the GPT-2 family (vocab
 * 50257) and OPT-style decoders (vocab 50272, pre-LayerNorm, ReLU, biases, tied embeddings, learned positions).
 * opt-40b is not a released model: the next size above OPT-30B (hidden 8192, 64 heads, FFN 32768, 48 layers,
 * ~39B parameters), for the largest-model rows. The encoder shapes (bert-*, roberta-*) are {@link EncoderShapes}'.
 */
public final class StepShapes {
    private StepShapes() {
    }

    /** name → {layers, hidden, heads, ffn}. */
    private static final Map<String, int[]> GPT2 = new LinkedHashMap<>();
    private static final Map<String, int[]> OPT = new LinkedHashMap<>();

    static {
        GPT2.put("gpt2-124M", new int[] {12, 768, 12});
        GPT2.put("gpt2-355M", new int[] {24, 1024, 16});
        GPT2.put("gpt2-774M", new int[] {36, 1280, 20});
        GPT2.put("gpt2-1558M", new int[] {48, 1600, 25});
        OPT.put("opt-1.3b", new int[] {24, 2048, 32, 8192});
        OPT.put("opt-2.7b", new int[] {32, 2560, 32, 10240});
        OPT.put("opt-6.7b", new int[] {32, 4096, 32, 16384});
        OPT.put("opt-30b", new int[] {48, 7168, 56, 28672});
        OPT.put("opt-40b", new int[] {48, 8192, 64, 32768});
    }

    public static ModelConfig config(String name) {
        if (EncoderShapes.has(name)) {
            return EncoderShapes.config(name);
        }
        int[] g = GPT2.get(name);
        if (g != null) {
            return Gpt2Shapes.gpt2(g[0], g[1], g[2]);
        }
        int[] o = OPT.get(name);
        if (o != null) {
            return new ModelConfig(ModelFamily.OPT, 50272, o[1], o[0], o[2], o[2], o[1] / o[2], o[3], 2048, 1e-5,
                    ModelConfig.Activation.RELU, true, true, true, o[1], 0.0, null, true, true, 2, 2, 1);
        }
        throw new IllegalArgumentException("unknown step-benchmark shape " + name + " (" + String.join(", ", GPT2.keySet())
                + ", " + String.join(", ", OPT.keySet()) + ", " + String.join(", ", EncoderShapes.names()) + ")");
    }
}
