package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelConfig.Activation;
import org.zotune.model.ModelFamily;

/** config.json files as published on the Hugging Face hub (gpt2, facebook/opt-125m/350m, Llama 3.2 1B). */
class HfConfigTest {
    @TempDir
    Path dir;

    static final String GPT2 = "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"],"
            + " \"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256,"
            + " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\","
            + " \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12, \"n_positions\": 1024,"
            + " \"resid_pdrop\": 0.1, \"summary_activation\": null, \"summary_type\": \"cls_index\","
            + " \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}},"
            + " \"vocab_size\": 50257}";

    static final String OPT_125M = "{\"_remove_final_layer_norm\": false, \"activation_dropout\": 0.0,"
            + " \"activation_function\": \"relu\", \"architectures\": [\"OPTForCausalLM\"], \"attention_dropout\": 0.0,"
            + " \"bos_token_id\": 2, \"do_layer_norm_before\": true, \"dropout\": 0.1, \"eos_token_id\": 2,"
            + " \"ffn_dim\": 3072, \"hidden_size\": 768, \"init_std\": 0.02, \"layerdrop\": 0.0,"
            + " \"max_position_embeddings\": 2048, \"model_type\": \"opt\", \"num_attention_heads\": 12,"
            + " \"num_hidden_layers\": 12, \"pad_token_id\": 1, \"prefix\": \"</s>\", \"torch_dtype\": \"float16\","
            + " \"transformers_version\": \"4.21.0.dev0\", \"use_cache\": true, \"vocab_size\": 50272,"
            + " \"word_embed_proj_dim\": 768}";

    static final String LLAMA32_1B = "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false,"
            + " \"attention_dropout\": 0.0, \"bos_token_id\": 128000, \"eos_token_id\": 128001, \"head_dim\": 64,"
            + " \"hidden_act\": \"silu\", \"hidden_size\": 2048, \"initializer_range\": 0.02,"
            + " \"intermediate_size\": 8192, \"max_position_embeddings\": 131072, \"mlp_bias\": false,"
            + " \"model_type\": \"llama\", \"num_attention_heads\": 32, \"num_hidden_layers\": 16,"
            + " \"num_key_value_heads\": 8, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05,"
            + " \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,"
            + " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0,"
            + " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"use_cache\": true,"
            + " \"vocab_size\": 128256}";

    private Path config(String json) throws IOException {
        Path p = dir.resolve("config.json");
        Files.writeString(p, json);
        return p;
    }

    private void assertBad(String json, String... fragments) throws IOException {
        Path p = config(json);
        ZotuneException e = assertThrows(ZotuneException.class, () -> HfConfig.read(p));
        String msg = e.getMessage();
        assertFalse(msg.contains("\n"), "one line: " + msg);
        assertTrue(msg.startsWith(p + ": "), "names config.json: " + msg);
        for (String f : fragments) {
            assertTrue(msg.contains(f), "message should contain '" + f + "': " + msg);
        }
    }

    @Test
    void gpt2() throws IOException {
        ModelConfig c = HfConfig.read(config(GPT2));
        assertEquals(new ModelConfig(ModelFamily.GPT2, 50257, 768, 12, 12, 12, 64, 3072, 1024, 1e-5,
                Activation.GELU_TANH, true, true, true, 768, 0.0, null, true, true, 50256, 50256, -1), c);
    }

    @Test
    void gpt2ExplicitInnerAndUntied() throws IOException {
        ModelConfig c = HfConfig.read(config(GPT2.replace("\"n_ctx\"", "\"n_inner\": 1000, \"tie_word_embeddings\":"
                + " false, \"n_ctx\"")));
        assertEquals(1000, c.intermediateSize());
        assertFalse(c.tieWordEmbeddings());
    }

    @Test
    void opt125m() throws IOException {
        ModelConfig c = HfConfig.read(config(OPT_125M));
        assertEquals(new ModelConfig(ModelFamily.OPT, 50272, 768, 12, 12, 12, 64, 3072, 2048, 1e-5,
                Activation.RELU, true, true, true, 768, 0.0, null, true, true, 2, 2, 1), c);
    }

    @Test
    void opt350mPostNormWithProjection() throws IOException {
        String json = OPT_125M.replace("\"do_layer_norm_before\": true", "\"do_layer_norm_before\": false")
                .replace("\"word_embed_proj_dim\": 768", "\"word_embed_proj_dim\": 512")
                .replace("\"hidden_size\": 768", "\"hidden_size\": 1024")
                .replace("\"ffn_dim\": 3072", "\"ffn_dim\": 4096")
                .replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 16")
                .replace("\"num_hidden_layers\": 12", "\"num_hidden_layers\": 24");
        ModelConfig c = HfConfig.read(config(json));
        assertFalse(c.normBefore());
        assertFalse(c.finalNorm());
        assertEquals(512, c.wordEmbedProjDim());
        assertEquals(1024, c.hiddenSize());
        assertEquals(64, c.headDim());
    }

    @Test
    void optRemovedFinalNormAndNoBias() throws IOException {
        ModelConfig c = HfConfig.read(config(OPT_125M.replace("\"_remove_final_layer_norm\": false",
                "\"_remove_final_layer_norm\": true, \"enable_bias\": false")));
        assertTrue(c.normBefore());
        assertFalse(c.finalNorm());
        assertFalse(c.attentionBias());
        assertFalse(c.mlpBias());
    }

    @Test
    void llama32WithLlama3RopeScaling() throws IOException {
        ModelConfig c = HfConfig.read(config(LLAMA32_1B));
        assertEquals(new ModelConfig(ModelFamily.LLAMA, 128256, 2048, 16, 32, 8, 64, 8192, 131072, 1e-5,
                Activation.SILU, true, true, true, 2048, 500000.0,
                new ModelConfig.RopeScaling(32.0, 1.0, 4.0, 8192), false, false, 128000, 128001, -1), c);
    }

    @Test
    void transformers5RopeParameters() throws IOException {
        String json = LLAMA32_1B
                .replace("\"rope_scaling\": {", "\"rope_parameters\": {\"rope_theta\": 500000.0, ")
                .replace("\"rope_theta\": 500000.0, \"tie", "\"tie")
                .replace("\"eos_token_id\": 128001", "\"eos_token_id\": [128001, 128008, 128009]");
        assertFalse(json.contains("rope_scaling"));
        ModelConfig c = HfConfig.read(config(json));
        assertEquals(500000.0, c.ropeTheta());
        assertEquals(new ModelConfig.RopeScaling(32.0, 1.0, 4.0, 8192), c.ropeScaling());
        assertEquals(128001, c.eosTokenId());

        ModelConfig plain = HfConfig.read(config("{\"model_type\": \"llama\", \"hidden_size\": 64,"
                + " \"intermediate_size\": 172, \"num_hidden_layers\": 5, \"num_attention_heads\": 8,"
                + " \"vocab_size\": 512, \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 20000}}"));
        assertEquals(20000.0, plain.ropeTheta());
        assertNull(plain.ropeScaling());
    }

    @Test
    void llamaDefaults() throws IOException {
        ModelConfig c = HfConfig.read(config("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64,"
                + " \"intermediate_size\": 172, \"num_hidden_layers\": 5, \"num_attention_heads\": 8,"
                + " \"vocab_size\": 512}"));
        // LlamaConfig: kv heads = heads, head_dim = hidden/heads, rms_norm_eps 1e-6, theta 1e4, untied, bos 1, eos 2
        assertEquals(new ModelConfig(ModelFamily.LLAMA, 512, 64, 5, 8, 8, 8, 172, 2048, 1e-6,
                Activation.SILU, false, true, true, 64, 10000.0, null, false, false, 1, 2, -1), c);
    }

    @Test
    void modelTypeAloneIdentifiesTheFamily() throws IOException {
        ModelConfig c = HfConfig.read(config(GPT2.replace("\"architectures\": [\"GPT2LMHeadModel\"],", "")));
        assertEquals(ModelFamily.GPT2, c.family());
    }

    @Test
    void unknownArchitecture() throws IOException {
        assertBad("{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", \"hidden_size\": 8}",
                "unsupported architecture MistralForCausalLM (model_type mistral)",
                "supported: GPT2LMHeadModel (model_type gpt2), OPTForCausalLM (model_type opt), "
                        + "LlamaForCausalLM (model_type llama)");
        assertBad("{\"hidden_size\": 8}", "neither \"architectures\" nor \"model_type\" is set", "supported:");
    }

    @Test
    void missingRequiredFieldsAreNamed() throws IOException {
        assertBad(GPT2.replace("\"n_embd\": 768, ", ""), "missing required field n_embd");
        assertBad(OPT_125M.replace("\"ffn_dim\": 3072, ", ""), "missing required field ffn_dim");
        assertBad(LLAMA32_1B.replace("\"intermediate_size\": 8192, ", ""), "missing required field intermediate_size");
        assertBad(LLAMA32_1B.replace("\"factor\": 32.0, ", ""), "missing required field rope_scaling.factor");
    }

    @Test
    void wrongTypesAndValuesAreNamed() throws IOException {
        assertBad(GPT2.replace("\"n_layer\": 12", "\"n_layer\": \"12\""), "field n_layer must be an integer, got \"12\"");
        assertBad(GPT2.replace("\"n_layer\": 12", "\"n_layer\": 12.5"), "field n_layer must be an integer, got 12.5");
        assertBad(GPT2.replace("\"n_layer\": 12", "\"n_layer\": 10000000000"),
                "field n_layer must be an integer that fits in 32 bits, got 10000000000");
        assertBad(GPT2.replace("\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": \"tiny\""),
                "field layer_norm_epsilon must be a number, got \"tiny\"");
        assertBad(OPT_125M.replace("\"do_layer_norm_before\": true", "\"do_layer_norm_before\": 1"),
                "field do_layer_norm_before must be true or false, got 1");
        assertBad(GPT2.replace("\"n_layer\": 12", "\"n_layer\": 0"), "field n_layer must be positive, got 0");
        assertBad(GPT2.replace("\"n_head\": 12", "\"n_head\": 7"), "n_embd 768 is not a multiple of n_head 7");
        assertBad(GPT2.replace("gelu_new", "gelu"), "field activation_function: unsupported activation 'gelu'");
        assertBad(LLAMA32_1B.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"),
                "num_attention_heads 32 is not a multiple of num_key_value_heads 5");
        assertBad(LLAMA32_1B.replace("llama3", "yarn"),
                "rope_scaling.rope_type 'yarn' is not supported (supported: default, llama3)");
        assertBad(OPT_125M.replace("\"bos_token_id\": 2", "\"bos_token_id\": \"two\""),
                "field bos_token_id must be an integer token id");
    }

    @Test
    void malformedJsonAndMissingFile() throws IOException {
        assertBad("{\"model_type\": \"gpt2\", ", "malformed JSON");
        assertBad("{\"model_type\": \"gpt2\", \"model_type\": \"opt\"}", "malformed JSON", "Duplicate field");
        assertBad("[]", "not a JSON object");
        Path absent = dir.resolve("nowhere/config.json");
        ZotuneException e = assertThrows(ZotuneException.class, () -> HfConfig.read(absent));
        assertTrue(e.getMessage().startsWith(absent + ": file not found"), e.getMessage());
    }
}
