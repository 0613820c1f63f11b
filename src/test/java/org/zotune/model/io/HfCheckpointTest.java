package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.Checkpoint;
import org.zotune.model.ModelFamily;
import org.zotune.tensor.HostTensor;

class HfCheckpointTest {
    @TempDir
    Path dir;

    static final String TINY_GPT2 = "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\","
            + " \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 8, \"vocab_size\": 10}";
    static final String TINY_OPT = "{\"architectures\": [\"OPTForCausalLM\"], \"model_type\": \"opt\","
            + " \"hidden_size\": 4, \"ffn_dim\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2,"
            + " \"max_position_embeddings\": 8, \"vocab_size\": 10}";

    private static HostTensor t(String name, long... shape) {
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = name.length() + i; // distinct per tensor so mix-ups show
        }
        return HostTensor.ofFloats(name, v, shape);
    }

    private static ZotuneException bad(Path p) {
        ZotuneException e = assertThrows(ZotuneException.class, () -> HfCheckpoint.open(p));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e;
    }

    @Test
    void gpt2WithoutTransformerPrefixIsNormalised() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                t("wte.weight", 10, 4), t("wpe.weight", 8, 4), t("h.0.attn.c_attn.weight", 4, 12),
                t("ln_f.weight", 4)));
        Checkpoint c = HfCheckpoint.open(dir);
        assertEquals(ModelFamily.GPT2, c.config().family());
        assertEquals(dir, c.source());
        assertEquals(Set.of("transformer.wte.weight", "transformer.wpe.weight",
                "transformer.h.0.attn.c_attn.weight", "transformer.ln_f.weight"), c.tensors().keySet());
        HostTensor wte = c.tensors().get("transformer.wte.weight");
        assertEquals("transformer.wte.weight", wte.name());
        assertArrayEquals(t("wte.weight", 10, 4).toFloats(), wte.toFloats());
        assertNull(c.tensors().get("lm_head.weight")); // tied: the architecture uses wte
    }

    @Test
    void prefixedNamesAndLmHeadAreKept() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                t("transformer.wte.weight", 10, 4), t("lm_head.weight", 10, 4)));
        assertEquals(Set.of("transformer.wte.weight", "lm_head.weight"), HfCheckpoint.open(dir).tensors().keySet());
    }

    @Test
    void optDecoderPrefixIsNormalised() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_OPT);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                t("decoder.embed_tokens.weight", 10, 4), t("decoder.layers.0.fc1.weight", 8, 4),
                t("model.decoder.final_layer_norm.weight", 4), t("lm_head.weight", 10, 4)));
        assertEquals(Set.of("model.decoder.embed_tokens.weight", "model.decoder.layers.0.fc1.weight",
                        "model.decoder.final_layer_norm.weight", "lm_head.weight"),
                HfCheckpoint.open(dir).tensors().keySet());
    }

    @Test
    void bothSpellingsOfOneTensorAreAnError() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                t("wte.weight", 10, 4), t("transformer.wte.weight", 10, 4)));
        ZotuneException e = bad(dir);
        assertEquals(dir + ": tensors wte.weight and transformer.wte.weight are both transformer.wte.weight",
                e.getMessage());
    }

    private void writeIndex(String weightMap) throws IOException {
        Files.writeString(dir.resolve(HfCheckpoint.INDEX),
                "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {" + weightMap + "}}");
    }

    @Test
    void shardedCheckpoint() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), List.of(
                t("transformer.wte.weight", 10, 4), t("transformer.wpe.weight", 8, 4)));
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), List.of(
                t("transformer.ln_f.weight", 4)));
        writeIndex("\"transformer.wte.weight\": \"model-00001-of-00002.safetensors\","
                + " \"transformer.wpe.weight\": \"model-00001-of-00002.safetensors\","
                + " \"transformer.ln_f.weight\": \"model-00002-of-00002.safetensors\"");
        Checkpoint c = HfCheckpoint.open(dir);
        assertEquals(Set.of("transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"),
                c.tensors().keySet());
        assertArrayEquals(t("transformer.ln_f.weight", 4).toFloats(),
                c.tensors().get("transformer.ln_f.weight").toFloats());
    }

    @Test
    void missingShardIsNamed() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), List.of(
                t("transformer.wte.weight", 10, 4)));
        writeIndex("\"transformer.wte.weight\": \"model-00001-of-00002.safetensors\","
                + " \"transformer.ln_f.weight\": \"model-00002-of-00002.safetensors\"");
        ZotuneException e = bad(dir);
        assertTrue(e.getMessage().startsWith(dir.toAbsolutePath().resolve(HfCheckpoint.INDEX)
                + ": shard file model-00002-of-00002.safetensors (holding tensor transformer.ln_f.weight) is "
                + "missing from "), e.getMessage());
    }

    @Test
    void shardLackingAListedTensor() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        Path shard = dir.resolve("model-00001-of-00001.safetensors");
        SafetensorsWriter.write(shard, List.of(t("transformer.wte.weight", 10, 4)));
        writeIndex("\"transformer.wte.weight\": \"model-00001-of-00001.safetensors\","
                + " \"transformer.wpe.weight\": \"model-00001-of-00001.safetensors\"");
        ZotuneException e = bad(dir);
        assertEquals(shard.toAbsolutePath() + ": no tensor transformer.wpe.weight, which "
                + HfCheckpoint.INDEX + " places in this shard", e.getMessage());
    }

    @Test
    void tensorInTwoShards() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("a.safetensors"), List.of(t("transformer.wte.weight", 10, 4)));
        SafetensorsWriter.write(dir.resolve("b.safetensors"), List.of(t("transformer.wte.weight", 10, 4),
                t("transformer.wpe.weight", 8, 4)));
        writeIndex("\"transformer.wte.weight\": \"a.safetensors\", \"transformer.wpe.weight\": \"b.safetensors\"");
        ZotuneException e = bad(dir);
        assertTrue(e.getMessage().contains("b.safetensors: tensor transformer.wte.weight is also in "), e.getMessage());
    }

    @Test
    void malformedIndex() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        Files.writeString(dir.resolve(HfCheckpoint.INDEX), "{\"weight_map\": {");
        assertTrue(bad(dir).getMessage().startsWith(dir.resolve(HfCheckpoint.INDEX) + ": malformed JSON"));
        Files.writeString(dir.resolve(HfCheckpoint.INDEX), "{\"metadata\": {}}");
        assertEquals(dir.resolve(HfCheckpoint.INDEX) + ": missing or empty weight_map", bad(dir).getMessage());
        writeIndex("\"transformer.wte.weight\": \"../elsewhere.safetensors\"");
        assertTrue(bad(dir).getMessage().contains("must be a plain file name in the same folder"));
    }

    @Test
    void folderWithoutWeightsOrConfig() throws IOException {
        assertTrue(bad(dir).getMessage().startsWith(dir.resolve("config.json") + ": file not found"));
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        assertEquals(dir + ": no model.safetensors or model.safetensors.index.json found", bad(dir).getMessage());
        Files.write(dir.resolve("pytorch_model.bin"), new byte[4]);
        assertTrue(bad(dir).getMessage().startsWith(dir + ": only PyTorch pytorch_model.bin weights found"));
        assertTrue(bad(dir.resolve("absent")).getMessage().endsWith("absent: no such file or folder"));
    }

    @Test
    void aSafetensorsFileCanBeNamedDirectly() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        Path f = dir.resolve("finetuned.safetensors");
        SafetensorsWriter.write(f, List.of(t("wte.weight", 10, 4)));
        Checkpoint c = HfCheckpoint.open(f);
        assertEquals(f, c.source());
        assertEquals(Set.of("transformer.wte.weight"), c.tensors().keySet());
    }

    @Test
    void tensorChecks() throws IOException {
        Files.writeString(dir.resolve("config.json"), TINY_GPT2);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(t("wte.weight", 10, 4)));
        Checkpoint c = HfCheckpoint.open(dir);
        HostTensor wte = TensorChecks.require(c, "transformer.wte.weight", "vocab_size, n_embd", 10, 4);
        assertSame(c.tensors().get("transformer.wte.weight"), wte);
        assertSame(wte, TensorChecks.require(c, "transformer.wte.weight", 10, 4));

        ZotuneException shape = assertThrows(ZotuneException.class,
                () -> TensorChecks.require(c, "transformer.wte.weight", "vocab_size, n_embd", 12, 4));
        assertEquals(dir + ": tensor transformer.wte.weight has shape [10, 4], expected [12, 4] from config.json "
                + "(vocab_size, n_embd)", shape.getMessage());
        ZotuneException missing = assertThrows(ZotuneException.class,
                () -> TensorChecks.require(c, "transformer.wpe.weight", "n_positions, n_embd", 8, 4));
        assertEquals(dir + ": missing tensor transformer.wpe.weight", missing.getMessage());
        assertNull(TensorChecks.optional(c, "lm_head.weight", "vocab_size, n_embd", 10, 4));
    }
}
