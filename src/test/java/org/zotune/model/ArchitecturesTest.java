package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.model.gpt2.Gpt2;
import org.zotune.model.llama.Llama;
import org.zotune.model.opt.Opt;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** Parameter order and shapes of each architecture on tiny configs, and arranging checkpoints into them. */
class ArchitecturesTest {

    static ModelConfig gpt2(int layers) {
        return new ModelConfig(ModelFamily.GPT2, 11, 8, layers, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);
    }

    static ModelConfig opt(boolean normBefore, int proj) {
        return new ModelConfig(ModelFamily.OPT, 13, 8, 2, 2, 2, 4, 20, 16, 1e-5, ModelConfig.Activation.RELU, true,
                normBefore, normBefore, proj, 0, null, true, true, 0, 2, 1);
    }

    static ModelConfig llama(boolean tied, boolean bias) {
        return new ModelConfig(ModelFamily.LLAMA, 17, 12, 2, 4, 2, 3 * 2, 20, 32, 1e-6, ModelConfig.Activation.SILU,
                tied, true, true, 12, 10000, null, bias, bias, 1, 2, -1);
    }

    private static List<String> describe(CausalLM m) {
        List<String> out = new ArrayList<>();
        for (ParamSpec p : m.params()) {
            out.add(p.toString());
        }
        return out;
    }

    @Test
    void gpt2ParamsFollowHfNamesInOutLayout() {
        CausalLM m = Architectures.create(gpt2(1));
        assertTrue(m instanceof Gpt2);
        assertEquals(List.of(
                "transformer.wte.weight[11, 8] EMBEDDING",
                "transformer.wpe.weight[16, 8] POSITION_EMBEDDING",
                "transformer.h.0.ln_1.weight[8] NORM_WEIGHT",
                "transformer.h.0.ln_1.bias[8] NORM_BIAS",
                "transformer.h.0.attn.c_attn.weight[24, 8] MATRIX",
                "transformer.h.0.attn.c_attn.bias[3, 8] BIAS",
                "transformer.h.0.attn.c_proj.weight[8, 8] MATRIX",
                "transformer.h.0.attn.c_proj.bias[8] BIAS",
                "transformer.h.0.ln_2.weight[8] NORM_WEIGHT",
                "transformer.h.0.ln_2.bias[8] NORM_BIAS",
                "transformer.h.0.mlp.c_fc.weight[32, 8] MATRIX",
                "transformer.h.0.mlp.c_fc.bias[32] BIAS",
                "transformer.h.0.mlp.c_proj.weight[8, 32] MATRIX",
                "transformer.h.0.mlp.c_proj.bias[8] BIAS",
                "transformer.ln_f.weight[8] NORM_WEIGHT",
                "transformer.ln_f.bias[8] NORM_BIAS"), describe(m));
        assertEquals(2 + 12 * 3 + 2, Architectures.create(gpt2(3)).params().size());
    }

    @Test
    void optParamsWithProjectionAndPostNorm() {
        CausalLM m = Architectures.create(opt(false, 6));
        assertTrue(m instanceof Opt);
        List<String> d = describe(m);
        assertEquals("model.decoder.embed_tokens.weight[13, 6] EMBEDDING", d.get(0));
        assertEquals("model.decoder.embed_positions.weight[18, 8] POSITION_EMBEDDING", d.get(1));
        assertEquals("model.decoder.project_in.weight[8, 6] MATRIX", d.get(2));
        assertEquals(List.of(
                "model.decoder.layers.0.self_attn_layer_norm.weight[8] NORM_WEIGHT",
                "model.decoder.layers.0.self_attn_layer_norm.bias[8] NORM_BIAS",
                "model.decoder.layers.0.self_attn.q_proj.weight[8, 8] MATRIX",
                "model.decoder.layers.0.self_attn.q_proj.bias[8] BIAS",
                "model.decoder.layers.0.self_attn.k_proj.weight[8, 8] MATRIX",
                "model.decoder.layers.0.self_attn.k_proj.bias[8] BIAS",
                "model.decoder.layers.0.self_attn.v_proj.weight[8, 8] MATRIX",
                "model.decoder.layers.0.self_attn.v_proj.bias[8] BIAS",
                "model.decoder.layers.0.self_attn.out_proj.weight[8, 8] MATRIX",
                "model.decoder.layers.0.self_attn.out_proj.bias[8] BIAS",
                "model.decoder.layers.0.final_layer_norm.weight[8] NORM_WEIGHT",
                "model.decoder.layers.0.final_layer_norm.bias[8] NORM_BIAS",
                "model.decoder.layers.0.fc1.weight[20, 8] MATRIX",
                "model.decoder.layers.0.fc1.bias[20] BIAS",
                "model.decoder.layers.0.fc2.weight[8, 20] MATRIX",
                "model.decoder.layers.0.fc2.bias[8] BIAS"), d.subList(3, 19));
        // no decoder-level final_layer_norm without do_layer_norm_before; project_out last
        assertEquals("model.decoder.project_out.weight[6, 8] MATRIX", d.get(d.size() - 1));
        assertEquals(3 + 16 * 2 + 1, d.size());
        List<String> pre = describe(Architectures.create(opt(true, 8)));
        assertEquals(2 + 16 * 2 + 2, pre.size());
        assertEquals("model.decoder.final_layer_norm.weight[8] NORM_WEIGHT", pre.get(pre.size() - 2));
        assertFalse(pre.stream().anyMatch(s -> s.contains("project_")));
    }

    @Test
    void llamaParamsGqaUntiedBiases() {
        CausalLM m = Architectures.create(llama(false, true));
        assertTrue(m instanceof Llama);
        List<String> d = describe(m);
        assertEquals(List.of(
                "model.embed_tokens.weight[17, 12] EMBEDDING",
                "model.layers.0.input_layernorm.weight[12] NORM_WEIGHT",
                "model.layers.0.self_attn.q_proj.weight[24, 12] MATRIX",
                "model.layers.0.self_attn.q_proj.bias[24] BIAS",
                "model.layers.0.self_attn.k_proj.weight[12, 12] MATRIX",
                "model.layers.0.self_attn.k_proj.bias[12] BIAS",
                "model.layers.0.self_attn.v_proj.weight[12, 12] MATRIX",
                "model.layers.0.self_attn.v_proj.bias[12] BIAS",
                "model.layers.0.self_attn.o_proj.weight[12, 24] MATRIX",
                "model.layers.0.self_attn.o_proj.bias[12] BIAS",
                "model.layers.0.post_attention_layernorm.weight[12] NORM_WEIGHT",
                "model.layers.0.mlp.gate_proj.weight[20, 12] MATRIX",
                "model.layers.0.mlp.gate_proj.bias[20] BIAS",
                "model.layers.0.mlp.up_proj.weight[20, 12] MATRIX",
                "model.layers.0.mlp.up_proj.bias[20] BIAS",
                "model.layers.0.mlp.down_proj.weight[12, 20] MATRIX",
                "model.layers.0.mlp.down_proj.bias[12] BIAS"), d.subList(0, 17));
        assertEquals("model.norm.weight[12] NORM_WEIGHT", d.get(d.size() - 2));
        assertEquals("lm_head.weight[17, 12] MATRIX", d.get(d.size() - 1));
        assertEquals(1 + 16 * 2 + 2, d.size());
        assertEquals(1 + 9 * 2 + 1, Architectures.create(llama(true, false)).params().size());
    }

    @Test
    void rejectsConfigsItCannotRun() {
        ModelConfig c = gpt2(1);
        ModelConfig silu = new ModelConfig(c.family(), c.vocabSize(), c.hiddenSize(), c.numLayers(), c.numHeads(),
                c.numKvHeads(), c.headDim(), c.intermediateSize(), c.maxPositions(), c.normEps(),
                ModelConfig.Activation.SILU, true, true, true, 8, 0, null, true, true, -1, -1, -1);
        assertThrows(IllegalArgumentException.class, () -> Architectures.create(silu));
        ModelConfig l = llama(true, false);
        ModelConfig badHeads = new ModelConfig(l.family(), l.vocabSize(), l.hiddenSize(), l.numLayers(), 4, 3,
                l.headDim(), l.intermediateSize(), l.maxPositions(), l.normEps(), l.activation(), true, true, true,
                12, 10000, null, false, false, 1, 2, -1);
        assertThrows(IllegalArgumentException.class, () -> Architectures.create(badHeads));
    }

    // ---- arranging checkpoints ----

    /** Distinct values: element i of a tensor is base + i. */
    static HostTensor counting(String name, DType dtype, float base, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        ByteBuffer b = ByteBuffer.allocate((int) n * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float v = base + i;
            if (dtype == DType.F32) {
                b.putFloat(v);
            } else {
                b.putShort(dtype == DType.BF16 ? DType.floatToBf16(v) : DType.floatToF16(v));
            }
        }
        b.flip();
        return new HostTensor(name, dtype, shape, b);
    }

    /** A GPT-2 checkpoint as HF's gpt2 files store it: no "transformer." prefix, Conv1D weights [in, out]. */
    static Map<String, HostTensor> gpt2Checkpoint(DType dtype) {
        Map<String, HostTensor> t = new LinkedHashMap<>();
        t.put("wte.weight", counting("wte.weight", dtype, 0, 11, 8));
        t.put("wpe.weight", counting("wpe.weight", dtype, 0, 16, 8));
        t.put("h.0.ln_1.weight", counting("", dtype, 0, 8));
        t.put("h.0.ln_1.bias", counting("", dtype, 0, 8));
        t.put("h.0.attn.c_attn.weight", counting("", dtype, 1000, 8, 24));
        t.put("h.0.attn.c_attn.bias", counting("", dtype, 2000, 24));
        t.put("h.0.attn.c_proj.weight", counting("", dtype, 0, 8, 8));
        t.put("h.0.attn.c_proj.bias", counting("", dtype, 0, 8));
        t.put("h.0.ln_2.weight", counting("", dtype, 0, 8));
        t.put("h.0.ln_2.bias", counting("", dtype, 0, 8));
        t.put("h.0.mlp.c_fc.weight", counting("", dtype, 0, 8, 32));
        t.put("h.0.mlp.c_fc.bias", counting("", dtype, 0, 32));
        t.put("h.0.mlp.c_proj.weight", counting("", dtype, 0, 32, 8));
        t.put("h.0.mlp.c_proj.bias", counting("", dtype, 0, 8));
        t.put("ln_f.weight", counting("", dtype, 0, 8));
        t.put("ln_f.bias", counting("", dtype, 0, 8));
        t.put("h.0.attn.bias", counting("", dtype, 0, 1, 1)); // an old causal-mask buffer: ignored
        return t;
    }

    @Test
    void arrangesGpt2TransposingConv1D() {
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            CausalLM m = Architectures.create(gpt2(1));
            Checkpoint c = new Checkpoint(Path.of("gpt2-tiny"), m.config(), gpt2Checkpoint(dtype));
            List<HostTensor> arranged = Architectures.arrange(m, c);
            assertEquals(m.params().size(), arranged.size());
            for (int i = 0; i < arranged.size(); i++) {
                assertEquals(m.params().get(i).name(), arranged.get(i).name());
                assertArrayEquals(m.params().get(i).shape(), arranged.get(i).shape());
                assertEquals(dtype, arranged.get(i).dtype());
            }
            // c_attn.weight: HF [in=8, out=24], element (i, o) = 1000 + i·24 + o; zotune [out, in]
            float[] w = arranged.get(4).toFloats();
            for (int o = 0; o < 24; o++) {
                for (int i = 0; i < 8; i++) {
                    assertEquals(dtype.round(1000 + i * 24 + o), w[o * 8 + i], "c_attn (" + o + ", " + i + ")");
                }
            }
            // c_attn.bias: the same 24 values viewed as [3, 8] (q, k, v rows)
            float[] b = arranged.get(5).toFloats();
            for (int i = 0; i < 24; i++) {
                assertEquals(dtype.round(2000 + i), b[i]);
            }
            // mlp.c_proj: HF [32, 8] → [8, 32]
            float[] p = arranged.get(12).toFloats();
            assertEquals(dtype.round(5 * 8 + 3), p[3 * 32 + 5]);
        }
    }

    @Test
    void arrangeNamesMissingAndMisshapenTensors() {
        CausalLM m = Architectures.create(gpt2(1));
        Map<String, HostTensor> t = gpt2Checkpoint(DType.F32);
        t.remove("h.0.mlp.c_fc.bias");
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> Architectures.arrange(m, new Checkpoint(Path.of("gpt2-tiny"), m.config(), t)));
        assertTrue(e.getMessage().contains("gpt2-tiny") && e.getMessage().contains("transformer.h.0.mlp.c_fc.bias"),
                e.getMessage());

        Map<String, HostTensor> t2 = gpt2Checkpoint(DType.F32);
        t2.put("h.0.attn.c_proj.weight", counting("", DType.F32, 0, 8, 9));
        e = assertThrows(ZotuneException.class,
                () -> Architectures.arrange(m, new Checkpoint(Path.of("gpt2-tiny"), m.config(), t2)));
        assertTrue(e.getMessage().contains("h.0.attn.c_proj.weight") && e.getMessage().contains("[8, 9]"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void loaderRejectsUnknownFiles() throws Exception {
        Path dir = java.nio.file.Files.createTempDirectory("zotune-loader");
        Path txt = java.nio.file.Files.writeString(dir.resolve("weights.txt"), "hello");
        ZotuneException e = assertThrows(ZotuneException.class, () -> ModelLoader.load(txt));
        assertTrue(e.getMessage().contains("weights.txt"), e.getMessage());
        e = assertThrows(ZotuneException.class, () -> ModelLoader.load(dir.resolve("absent")));
        assertTrue(e.getMessage().contains("absent"), e.getMessage());
    }
}
