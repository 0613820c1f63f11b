package org.zotune.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.TestData;
import org.zotune.ZotuneException;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.WeightSource;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Architecture;
import org.zotune.model.Batch;
import org.zotune.model.EncoderModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.ParamSpec;
import org.zotune.model.bert.TinyBertFolder;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * LoRA on the encoders (a tiny random BertForMaskedLM, 2 layers, and all-MiniLM-L6-v2): which modules each target
 * name adapts (zotune's short names and PEFT's suffix rule, which differ on BERT's two output.dense), target_modules
 * that select exactly the adapted modules under PEFT's rule, PEFT's names per model class, the composed forward
 * against the model on W + (α/r)·B·A merged by the test in double, and a fresh adapter on MiniLM against ONNX Runtime.
 */
class LoraEncoderTest {
    @TempDir
    Path dir;

    private static final Architecture BERT = ModelFamily.BERT.architecture();

    private EncoderModel tiny(boolean pooler) throws IOException {
        return ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("bert" + pooler), 5, true, pooler)).model();
    }

    private static List<String> modules(Lora l) {
        return l.targets().stream().map(Lora.Target::module).toList();
    }

    private static List<String> layers(String... inLayer) {
        List<String> out = new ArrayList<>();
        for (int layer = 0; layer < TinyBertFolder.LAYERS; layer++) {
            for (String m : inLayer) {
                out.add("bert.encoder.layer." + layer + "." + m);
            }
        }
        return out;
    }

    @Test
    void shortNamesAdaptExactlyTheirModule() throws IOException {
        List<ParamSpec> p = tiny(false).params();
        assertEquals(layers("attention.self.query", "attention.self.value"),
                modules(Lora.of(BERT, "bert", p, 2, 4, List.of("q", "v"))), "q, v: PEFT's default for bert");
        assertEquals(layers("attention.output.dense"), modules(Lora.of(BERT, "bert", p, 2, 4, List.of("o"))),
                "o is the attention's output dense only");
        assertEquals(layers("output.dense"), modules(Lora.of(BERT, "bert", p, 2, 4, List.of("down"))),
                "down is the FFN's output.dense only, though attention.output.dense ends alike");
        assertEquals(layers("output.dense"), modules(Lora.of(BERT, "bert", p, 2, 4, List.of("output.dense"))),
                "a module's full name inside a layer is that module");
        assertEquals(layers("intermediate.dense"), modules(Lora.of(BERT, "bert", p, 2, 4, List.of("up"))));
        assertEquals(layers("attention.self.key"), modules(Lora.of(BERT, "bert", p, 2, 4, List.of("key"))));
        assertEquals(layers("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense"),
                modules(Lora.of(BERT, "bert", p, 2, 4, List.of("down", "up", "o", "v", "k", "q"))), "model order");
        assertEquals(layers("attention.output.dense", "intermediate.dense", "output.dense"),
                modules(Lora.of(BERT, "bert", p, 2, 4, List.of("dense"))), "a last name: every layer module so named");
        ZotuneException e = assertThrows(ZotuneException.class, () -> Lora.of(BERT, "bert", p, 2, 4,
                List.of("gate")));
        assertEquals("key 'peft.targets': unknown target 'gate' for bert; valid: down, k, o, q, up, v or the modules "
                + "attention.output.dense, attention.self.key, attention.self.query, attention.self.value, "
                + "intermediate.dense, output.dense", e.getMessage());
    }

    /** PEFT's rule (check_target_module_exists): the name equals the entry or ends with "." + entry. */
    @Test
    void peftEntriesFollowPeftsSuffixRule() throws IOException {
        EncoderModel m = tiny(true); // MLM head and pooler: cls.predictions.transform.dense, bert.pooler.dense
        List<ParamSpec> p = m.params();
        assertEquals(layers("attention.self.query", "attention.self.value"),
                modules(Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("query", "value"), false)));
        assertEquals(layers("attention.output.dense", "output.dense"),
                modules(Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("output.dense"), false)),
                "PEFT's output.dense is both: attention.output.dense ends with .output.dense");
        assertEquals(layers("attention.output.dense"),
                modules(Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("attention.output.dense"), false)));
        assertEquals(layers("output.dense"), modules(Lora.ofPeft(BERT, "bert", p, 2, 4,
                List.of("bert\\.encoder\\.layer\\.\\d+\\.output\\.dense"), true)), "a regular expression, fullmatch");
        assertEquals(List.of("bert.encoder.layer.1.attention.self.query"), modules(Lora.ofPeft(BERT, "bert", p, 2,
                4, List.of("layer.1.attention.self.query"), false)), "an entry naming one layer's module");
        List<ParamSpec> noPooler = tiny(false).params();
        ZotuneException e = assertThrows(ZotuneException.class, () -> Lora.ofPeft(BERT, "bert", noPooler, 2, 4,
                List.of("dense"), false));
        assertTrue(e.getMessage().startsWith("target_modules: 'dense' also selects cls.predictions.transform.dense, "
                + "which PEFT adapts and zotune does not"), e.getMessage());
        e = assertThrows(ZotuneException.class, () -> Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("query", "gate"),
                false));
        assertTrue(e.getMessage().startsWith("target_modules: 'gate' matches no module zotune adapts"),
                e.getMessage());

        // the bare BertModel's names: no bert. prefix, and no MLM head
        Function<String, String> bare = PeftClass.FEATURE_EXTRACTION.keys(BERT);
        assertEquals("encoder.layer.0.output.dense", bare.apply("bert.encoder.layer.0.output.dense"));
        assertNull(bare.apply("cls.predictions.transform.dense"), "the bare model has no MLM head");
        assertEquals(layers("output.dense"), modules(Lora.ofPeft(BERT, "bert", p, 2, 4,
                List.of("encoder\\.layer\\.\\d+\\.output\\.dense"), true, bare)));
        assertEquals(layers("attention.self.query"), modules(Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("query"),
                false, bare)));
        e = assertThrows(ZotuneException.class, () -> Lora.ofPeft(BERT, "bert", p, 2, 4, List.of("dense"), false,
                bare));
        assertTrue(e.getMessage().startsWith("target_modules: 'dense' also selects pooler.dense, which PEFT adapts"),
                e.getMessage() + " (the bare model has the pooler, not the MLM head)");
    }

    /** What zotune writes as target_modules selects, under PEFT's rule, exactly the modules it adapted. */
    @Test
    void exportedTargetModulesSelectExactlyTheAdaptedModules() throws IOException {
        List<ParamSpec> p = tiny(true).params();
        for (PeftClass cls : List.of(PeftClass.MASKED_LM, PeftClass.FEATURE_EXTRACTION)) {
            Function<String, String> keys = cls.keys(BERT);
            for (List<String> targets : List.of(List.of("q", "v"), List.of("down"), List.of("o"),
                    List.of("o", "down"), List.of("q", "k", "v", "o", "up", "down"))) {
                Lora l = Lora.of(BERT, "bert", p, 2, 4, targets);
                Lora.JsonValue t = l.peftTargetModules(keys);
                Lora back = t.regex() != null
                        ? Lora.ofPeft(BERT, "bert", p, 2, 4, List.of(t.regex()), true, keys)
                        : Lora.ofPeft(BERT, "bert", p, 2, 4, t.names(), false, keys);
                assertEquals(modules(l), modules(back), cls + " " + targets + " as " + t);
            }
        }
        assertEquals(new Lora.JsonValue(List.of("query", "value"), null),
                Lora.of(BERT, "bert", p, 2, 4, List.of("q", "v")).peftTargetModules(Function.identity()),
                "PEFT's default names when they are exact");
        assertEquals(new Lora.JsonValue(null, "bert\\.encoder\\.layer\\.\\d+\\.output\\.dense"),
                Lora.of(BERT, "bert", p, 2, 4, List.of("down")).peftTargetModules(Function.identity()),
                "down alone: output.dense would select the attention's output dense too");
        assertEquals(new Lora.JsonValue(null, "(?:encoder\\.layer\\.\\d+\\.attention\\.output\\.dense"
                + "|encoder\\.layer\\.\\d+\\.intermediate\\.dense|encoder\\.layer\\.\\d+\\.output\\.dense)"),
                Lora.of(BERT, "bert", p, 2, 4, List.of("o", "up", "down")).peftTargetModules(
                        PeftClass.FEATURE_EXTRACTION.keys(BERT)), "dense would select the pooler's too");
    }

    @Test
    void peftNamesFollowTheModelClassAndMismatchesAreOneLine() throws IOException {
        EncoderModel m = tiny(false);
        Lora l = Lora.of(BERT, "bert", m.params(), 2, 4, List.of("q", "v"));
        List<HostTensor> ours = random(l, 3);
        List<HostTensor> masked = l.toPeft(ours, PeftClass.MASKED_LM.keys(BERT));
        List<HostTensor> bare = l.toPeft(ours, PeftClass.FEATURE_EXTRACTION.keys(BERT));
        assertEquals("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight",
                masked.get(0).name());
        assertEquals("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight", bare.get(0).name());
        List<String> maskedNames = masked.stream().map(HostTensor::name).toList();
        List<String> bareNames = bare.stream().map(HostTensor::name).toList();
        assertEquals(PeftClass.MASKED_LM, PeftClass.detect(BERT, "bert", null, maskedNames));
        assertEquals(PeftClass.SEQ_CLS, PeftClass.detect(BERT, "bert", "SEQ_CLS", maskedNames));
        assertEquals(PeftClass.FEATURE_EXTRACTION, PeftClass.detect(BERT, "bert", null, bareNames));
        assertEquals(PeftClass.FEATURE_EXTRACTION, PeftClass.detect(BERT, "bert", "FEATURE_EXTRACTION", bareNames));
        java.util.Map<String, HostTensor> byName = new java.util.LinkedHashMap<>();
        bare.forEach(t -> byName.put(t.name(), t));
        List<HostTensor> back = l.fromPeft(byName, PeftClass.FEATURE_EXTRACTION.keys(BERT));
        for (int k = 0; k < ours.size(); k++) {
            assertArrayEquals(ours.get(k).toFloats(), back.get(k).toFloats(), ours.get(k).name());
        }

        List<String> mixed = List.of(maskedNames.get(0), bareNames.get(1));
        assertEquals("the tensors mix two model classes' names: " + maskedNames.get(0) + " (a bert task class) and "
                + bareNames.get(1) + " (the bare model)", assertThrows(ZotuneException.class,
                        () -> PeftClass.detect(BERT, "bert", null, mixed)).getMessage());
        assertTrue(assertThrows(ZotuneException.class, () -> PeftClass.detect(BERT, "bert", "FEATURE_EXTRACTION",
                maskedNames)).getMessage().startsWith("task_type FEATURE_EXTRACTION is the bare model's, but tensor "
                + maskedNames.get(0)));
        assertTrue(assertThrows(ZotuneException.class, () -> PeftClass.detect(BERT, "bert", "SEQ_CLS", bareNames))
                .getMessage().startsWith("task_type SEQ_CLS is the sequence classifier's"));
        assertEquals("task_type CAUSAL_LM is not one zotune loads onto a bert encoder (none, FEATURE_EXTRACTION or "
                + "SEQ_CLS)", assertThrows(ZotuneException.class, () -> PeftClass.detect(BERT, "bert", "CAUSAL_LM",
                        maskedNames)).getMessage());
        List<String> roberta = List.of("base_model.model.roberta.encoder.layer.0.attention.self.query.lora_A.weight");
        assertTrue(assertThrows(ZotuneException.class, () -> PeftClass.detect(BERT, "bert", null, roberta))
                .getMessage().contains("is not named as a bert encoder's modules are"));
    }

    private static List<HostTensor> random(Lora lora, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : lora.tensors()) {
            float[] v = new float[(int) s.numel()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.3 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }

    /** W + (α/r)·B·A in double from Aᵀ [in, r] and B [out, r], by the definition, rounded once. */
    private static List<HostTensor> merged(List<HostTensor> base, Lora lora, List<HostTensor> adapters) {
        List<HostTensor> out = new ArrayList<>(base);
        double s = lora.alpha() / lora.r();
        for (int k = 0; k < lora.targets().size(); k++) {
            Lora.Target g = lora.targets().get(k);
            float[] at = adapters.get(2 * k).toFloats();
            float[] b = adapters.get(2 * k + 1).toFloats();
            float[] v = base.get(g.parameter()).toFloats();
            for (int o = 0; o < g.out(); o++) {
                for (int i = 0; i < g.in(); i++) {
                    double d = 0;
                    for (int j = 0; j < lora.r(); j++) {
                        d += (double) b[o * lora.r() + j] * at[i * lora.r() + j];
                    }
                    v[o * g.in() + i] = (float) (v[o * g.in() + i] + s * d);
                }
            }
            out.set(g.parameter(), HostTensor.ofFloats(base.get(g.parameter()).name(), v,
                    base.get(g.parameter()).shape()));
        }
        return out;
    }

    /** Hidden states and MLM logits at the masks, with the adapter composed per pass and on merged weights. */
    @Test
    void composedForwardEqualsTheEncoderOnMergedWeights() throws IOException {
        LoadedEncoder loaded = ModelLoader.loadEncoder(TinyBertFolder.write(dir.resolve("mlm"), 7, true));
        EncoderModel model = loaded.model();
        Batch batch = Batch.rightPadded(new int[][] {{2, 16, 15, 22, 4, 5, 3}, {2, 21, 22, 4, 3}}, 0);
        int[] types = new int[batch.batch() * batch.seq()];
        int[] rows = {4, batch.seq() + 3};
        for (List<String> targets : List.of(List.of("q", "v"), List.of("k", "o", "up", "down"))) {
            Lora l = Lora.of(BERT, "bert", model.params(), 3, 5.0, targets);
            List<HostTensor> adapters = random(l, 11);
            try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(loaded.parameters(), DType.F32);
                 Lora.Applied a = l.apply(ops); Parameters theta = ops.createParameters(adapters, DType.F32);
                 Parameters merged = ops.createParameters(merged(loaded.parameters(), l, adapters), DType.F32)) {
                WeightSource w = TrainableStorage.own(a.set(), theta).weights(frozen);
                double worst = 0;
                double moved = 0;
                for (boolean logits : new boolean[] {false, true}) {
                    float[] got = forward(ops, model, w, batch, types, rows, logits);
                    float[] want = forward(ops, model, merged, batch, types, rows, logits);
                    float[] plain = forward(ops, model, frozen, batch, types, rows, logits);
                    for (int i = 0; i < want.length; i++) {
                        double err = Math.abs(want[i] - got[i]);
                        assertTrue(err <= 1e-5 + 1e-5 * Math.abs(want[i]), targets + (logits ? " logit " : " hidden ")
                                + i + ": " + got[i] + " vs merged " + want[i]);
                        worst = Math.max(worst, err);
                        moved = Math.max(moved, Math.abs(want[i] - plain[i]));
                    }
                }
                System.out.println("LoRA " + targets + " on tiny BERT vs merged weights: max |err| " + worst
                        + ", moved from the base by " + moved);
                assertTrue(moved > 1e-2, targets + ": the adapter changes the outputs (" + moved + ")");
            }
        }
    }

    private static float[] forward(Ops ops, EncoderModel model, WeightSource w, Batch batch, int[] types,
            int[] rows, boolean logits) {
        try (Ops.Scope s = ops.scope()) {
            var h = model.hiddenStates(ops, w, batch, types);
            return ops.toHost(logits ? model.mlmLogits(ops, w, h, rows) : h);
        }
    }

    /** B = 0: all-MiniLM-L6-v2 with a fresh adapter on every target is ONNX Runtime's reference, as without one. */
    @Test
    void miniLmWithAFreshAdapterIsTheOnnxReference() throws IOException {
        Path folder = TestData.file("models/all-MiniLM-L6-v2");
        JsonNode ref = new ObjectMapper().readTree(TestData.file("models/all-MiniLM-L6-v2/reference.json").toFile());
        LoadedEncoder loaded = ModelLoader.loadEncoder(folder);
        int batch = ref.get("input_ids").size();
        int seq = ref.get("input_ids").get(0).size();
        int hidden = loaded.config().hiddenSize();
        int[] ids = new int[batch * seq];
        int[] mask = new int[batch * seq];
        int[] types = new int[batch * seq];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ref.get("input_ids").get(i / seq).get(i % seq).asInt();
            mask[i] = ref.get("attention_mask").get(i / seq).get(i % seq).asInt();
            types[i] = ref.get("token_type_ids").get(i / seq).get(i % seq).asInt();
        }
        Batch b = new Batch(batch, seq, ids, mask);
        Lora l = Lora.of(BERT, "bert", loaded.model().params(), 8, 16, List.of("q", "k", "v", "o", "up", "down"));
        assertEquals(6 * 6, l.targets().size(), "6 layers × 6 modules");
        try (CpuOps ops = new CpuOps(); Parameters frozen = ops.createParameters(loaded.parameters(), DType.F32);
             Lora.Applied a = l.apply(ops); Parameters theta = ops.createParameters(l.initial(42), DType.F32)) {
            WeightSource w = TrainableStorage.own(a.set(), theta).weights(frozen);
            float[] h;
            float[] plain;
            try (Ops.Scope s = ops.scope()) {
                h = ops.toHost(loaded.model().hiddenStates(ops, w, b, types));
                plain = ops.toHost(loaded.model().hiddenStates(ops, frozen, b, types));
            }
            assertArrayEquals(plain, h, "B = 0 adds exact zeros to W");
            double worst = 0;
            for (int s = 0; s < batch; s++) {
                int last = ref.get("last_token_index").get(s).asInt();
                for (int[] row : new int[][] {{0, s * seq}, {1, s * seq + last}}) {
                    JsonNode want = ref.get(row[0] == 0 ? "last_hidden_state_first_token"
                            : "last_hidden_state_last_token").get(s);
                    assertEquals(hidden, want.size());
                    for (int c = 0; c < hidden; c++) {
                        double wv = want.get(c).asDouble();
                        double err = Math.abs(h[row[1] * hidden + c] - wv);
                        assertTrue(err <= 1e-4 + 1e-4 * Math.abs(wv), "sentence " + s + " row " + row[1] + " channel "
                                + c + ": " + h[row[1] * hidden + c] + " vs ONNX Runtime " + wv);
                        worst = Math.max(worst, err);
                    }
                }
            }
            System.out.println("all-MiniLM-L6-v2 with a fresh LoRA (36 modules, r 8) vs ONNX Runtime: max |err| "
                    + worst);
        }
        assertFalse(l.initial(42).get(0).toFloats()[0] == 0f, "A is not zero");
    }

    /** RoBERTa: the same targets under roberta.; its bare model's names drop roberta., its MLM head is lm_head. */
    @Test
    void robertaTargetsAndPeftNames() {
        Architecture arch = ModelFamily.ROBERTA.architecture();
        org.zotune.model.ModelConfig c = new org.zotune.model.ModelConfig(ModelFamily.ROBERTA, 40, 16, 2, 2, 2, 8, 32,
                64, 1e-5, org.zotune.model.ModelConfig.Activation.GELU, true, false, false, 16, 0.0, null, true, true,
                0, 2, 1, new org.zotune.model.ModelConfig.Encoder(1, 2, true));
        List<ParamSpec> p = arch.create(c).params();
        Lora l = Lora.of(arch, "roberta", p, 2, 4, List.of("q", "down"));
        List<String> want = new ArrayList<>();
        for (int layer = 0; layer < 2; layer++) {
            want.add("roberta.encoder.layer." + layer + ".attention.self.query");
            want.add("roberta.encoder.layer." + layer + ".output.dense");
        }
        assertEquals(want, modules(l));
        Function<String, String> bare = PeftClass.FEATURE_EXTRACTION.keys(arch);
        assertEquals("base_model.model.encoder.layer.0.attention.self.query.lora_A.weight",
                l.toPeft(random(l, 2), bare).get(0).name());
        assertEquals("base_model.model.roberta.encoder.layer.0.attention.self.query.lora_A.weight",
                l.toPeft(random(l, 2), PeftClass.MASKED_LM.keys(arch)).get(0).name());
        assertEquals(new Lora.JsonValue(null, "(?:encoder\\.layer\\.\\d+\\.attention\\.self\\.query"
                + "|encoder\\.layer\\.\\d+\\.output\\.dense)"), l.peftTargetModules(bare));
        assertEquals(layers("attention.self.query").size(), Lora.ofPeft(arch, "roberta", p, 2, 4,
                List.of("query"), false, bare).targets().size());
        List<String> bertNames = List.of("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight");
        assertTrue(assertThrows(ZotuneException.class, () -> PeftClass.detect(arch, "roberta", null, bertNames))
                .getMessage().contains("is not named as a roberta encoder's modules are"), "a BERT adapter");
    }
}
