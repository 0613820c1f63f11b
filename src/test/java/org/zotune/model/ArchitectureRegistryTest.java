package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.model.io.HfConfig;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/** The architecture registry, and each architecture's Hugging Face mapping read in both directions. */
class ArchitectureRegistryTest {

    private static List<ModelConfig> tinyConfigs() {
        return List.of(ArchitecturesTest.gpt2(2), ArchitecturesTest.opt(true, 8), ArchitecturesTest.opt(false, 6),
                ArchitecturesTest.llama(false, true), ArchitecturesTest.llama(true, false));
    }

    @Test
    void everyFamilyIsRegisteredOnceAndDetectedByItsNames() {
        Set<String> classes = new HashSet<>();
        Set<String> types = new HashSet<>();
        for (ModelFamily f : ModelFamily.values()) {
            Architecture a = f.architecture();
            assertTrue(classes.add(a.hfArchitecture()), a.hfArchitecture());
            assertTrue(types.add(a.hfModelType()), a.hfModelType());
            // detection by either name reaches the same registered architecture (the fields are then required)
            for (String json : new String[] {"{\"architectures\": [\"" + a.hfArchitecture() + "\"]}",
                    "{\"model_type\": \"" + a.hfModelType() + "\"}"}) {
                String msg = assertThrows(ZotuneException.class,
                        () -> HfConfig.parse(Path.of("config.json"), json)).getMessage();
                assertTrue(msg.startsWith("config.json: missing required field "), msg);
            }
        }
    }

    @Test
    void decodersAreCausalAndBuiltByTheirFamily() {
        for (ModelConfig c : tinyConfigs()) {
            LanguageModel m = Architectures.createModel(c);
            assertEquals(LanguageModel.Kind.CAUSAL, m.kind(), c.family().toString());
            assertTrue(m.kind().causalAttention());
            assertSame(c, m.config());
            assertEquals(m.getClass(), Architectures.create(c).getClass());
        }
        assertFalse(LanguageModel.Kind.MASKED.causalAttention());
    }

    /** Every parameter, written out as Hugging Face stores it and arranged back, is the same bytes and shape. */
    @Test
    void hfLayoutRoundTripsForEveryArchitecture() {
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            for (ModelConfig c : tinyConfigs()) {
                LanguageModel m = Architectures.createModel(c);
                Architecture arch = Architectures.of(c);
                Map<String, HostTensor> stored = new LinkedHashMap<>();
                List<HostTensor> ours = new ArrayList<>();
                float base = 0;
                for (ParamSpec s : m.params()) {
                    HostTensor t = ArchitecturesTest.counting(s.name(), dtype, base, s.shape());
                    base += 1000;
                    ours.add(t);
                    HostTensor hf = arch.toHf(t);
                    assertArrayEquals(arch.hfShape(s.name(), s.shape()), hf.shape(), s.name());
                    stored.put(hf.name(), hf);
                }
                List<HostTensor> back = Architectures.arrange(m, new Checkpoint(Path.of("tiny"), c, stored));
                for (int i = 0; i < ours.size(); i++) {
                    assertEquals(ours.get(i).name(), back.get(i).name());
                    assertArrayEquals(ours.get(i).shape(), back.get(i).shape());
                    assertArrayEquals(ours.get(i).toFloats(), back.get(i).toFloats(), 0f, ours.get(i).name());
                }
            }
        }
    }

    @Test
    void gpt2ConvertsConv1dAndTheQkvBiasOnly() {
        Architecture gpt2 = ModelFamily.GPT2.architecture();
        assertArrayEquals(new long[] {8, 24}, gpt2.hfShape("transformer.h.0.attn.c_attn.weight", new long[] {24, 8}));
        assertArrayEquals(new long[] {24}, gpt2.hfShape("transformer.h.0.attn.c_attn.bias", new long[] {3, 8}));
        assertArrayEquals(new long[] {8}, gpt2.hfShape("transformer.h.0.attn.c_proj.bias", new long[] {8}));
        assertArrayEquals(new long[] {11, 8}, gpt2.hfShape("transformer.wte.weight", new long[] {11, 8}));
        assertEquals("transformer.h.0.ln_1.weight", gpt2.canonicalName("h.0.ln_1.weight"));
        assertEquals("lm_head.weight", gpt2.canonicalName("lm_head.weight"));
        assertEquals("model.decoder.layers.0.fc1.weight",
                ModelFamily.OPT.architecture().canonicalName("decoder.layers.0.fc1.weight"));
        assertEquals("model.norm.weight", ModelFamily.LLAMA.architecture().canonicalName("norm.weight"));
        assertNotEquals(gpt2, ModelFamily.OPT.architecture());
    }

    /**
     * RobertaForSequenceClassification's head reads as the pooler and the classifier, and is written back under its
     * names only when both are there (a bare RoBERTa's pooler, a head without a pooler keep zotune's names); BERT's
     * names are the same in both directions.
     */
    @Test
    void robertasClassificationHeadIsThePoolerAndTheClassifier() {
        Architecture roberta = ModelFamily.ROBERTA.architecture();
        assertEquals("roberta.pooler.dense.weight", roberta.canonicalName("classifier.dense.weight"));
        assertEquals("roberta.pooler.dense.bias", roberta.canonicalName("classifier.dense.bias"));
        assertEquals("classifier.weight", roberta.canonicalName("classifier.out_proj.weight"));
        assertEquals("classifier.bias", roberta.canonicalName("classifier.out_proj.bias"));
        assertEquals("roberta.pooler.dense.weight", roberta.canonicalName("pooler.dense.weight"));
        Set<String> both = Set.of("roberta.pooler.dense.weight", "roberta.pooler.dense.bias", "classifier.weight",
                "classifier.bias", "roberta.embeddings.word_embeddings.weight");
        for (String n : both) {
            assertEquals(n, roberta.canonicalName(roberta.hfName(n, both)), "round trip of " + n);
        }
        assertEquals("classifier.dense.weight", roberta.hfName("roberta.pooler.dense.weight", both));
        assertEquals("classifier.out_proj.bias", roberta.hfName("classifier.bias", both));
        Set<String> poolerAlone = Set.of("roberta.pooler.dense.weight", "roberta.pooler.dense.bias");
        assertEquals("roberta.pooler.dense.weight", roberta.hfName("roberta.pooler.dense.weight", poolerAlone));
        Set<String> headAlone = Set.of("classifier.weight", "classifier.bias");
        assertEquals("classifier.weight", roberta.hfName("classifier.weight", headAlone));
        Architecture bert = ModelFamily.BERT.architecture();
        Set<String> bertBoth = Set.of("bert.pooler.dense.weight", "classifier.weight");
        assertEquals("bert.pooler.dense.weight", bert.hfName("bert.pooler.dense.weight", bertBoth));
        assertEquals("classifier.weight", bert.hfName("classifier.weight", bertBoth));
    }
}
