package org.zotune.model.bert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.HostTensor;

/**
 * A tiny random BertForMaskedLM as a Hugging Face folder written by tests: config.json, model.safetensors and a
 * WordPiece tokenizer.json (BERT's normalizer, pre-tokenizer and [CLS] … [SEP] template) over {@link #VOCAB}.
 */
public final class TinyBertFolder {
    /** The vocabulary, id = index: specials, punctuation, a few words and a word that needs two pieces. */
    public static final List<String> VOCAB = List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?", ":",
            "it", "was", "great", "terrible", "good", "bad", "movie", "the", "a", "film", "fun", "dull", "plot", "is",
            "acting", "##s", "wonder", "##ful", "yes", "no", "boring", "loved", "hated");
    public static final int HIDDEN = 16;
    public static final int LAYERS = 2;

    private TinyBertFolder() {
    }

    public static int id(String token) {
        int i = VOCAB.indexOf(token);
        if (i < 0) {
            throw new IllegalArgumentException(token);
        }
        return i;
    }

    /** Writes the folder {@code dir} with weights drawn from {@code seed}; {@code mlmHead} false: a bare BertModel. */
    public static Path write(Path dir, long seed, boolean mlmHead) throws IOException {
        return write(dir, seed, mlmHead, false);
    }

    /** As {@link #write(Path, long, boolean)}, with BertModel's pooler (bert.pooler.dense) when {@code pooler}. */
    public static Path write(Path dir, long seed, boolean mlmHead, boolean pooler) throws IOException {
        Files.createDirectories(dir);
        int v = VOCAB.size();
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"" + (mlmHead ? "BertForMaskedLM"
                : "BertModel") + "\"], \"model_type\": \"bert\", \"vocab_size\": " + v + ", \"hidden_size\": "
                + HIDDEN + ", \"num_hidden_layers\": " + LAYERS + ", \"num_attention_heads\": 2, "
                + "\"intermediate_size\": 32, \"hidden_act\": \"gelu\", \"max_position_embeddings\": 64, "
                + "\"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}");
        Random r = new Random(seed);
        List<HostTensor> t = new ArrayList<>();
        String b = "bert.";
        t.add(tensor(r, b + "embeddings.word_embeddings.weight", v, HIDDEN));
        t.add(tensor(r, b + "embeddings.position_embeddings.weight", 64, HIDDEN));
        t.add(tensor(r, b + "embeddings.token_type_embeddings.weight", 2, HIDDEN));
        norm(r, t, b + "embeddings.LayerNorm");
        for (int l = 0; l < LAYERS; l++) {
            String p = b + "encoder.layer." + l + ".";
            for (String m : new String[] {"attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense"}) {
                t.add(tensor(r, p + m + ".weight", HIDDEN, HIDDEN));
                t.add(tensor(r, p + m + ".bias", HIDDEN));
            }
            norm(r, t, p + "attention.output.LayerNorm");
            t.add(tensor(r, p + "intermediate.dense.weight", 32, HIDDEN));
            t.add(tensor(r, p + "intermediate.dense.bias", 32));
            t.add(tensor(r, p + "output.dense.weight", HIDDEN, 32));
            t.add(tensor(r, p + "output.dense.bias", HIDDEN));
            norm(r, t, p + "output.LayerNorm");
        }
        if (pooler) {
            t.add(tensor(r, b + "pooler.dense.weight", HIDDEN, HIDDEN));
            t.add(tensor(r, b + "pooler.dense.bias", HIDDEN));
        }
        if (mlmHead) {
            t.add(tensor(r, "cls.predictions.transform.dense.weight", HIDDEN, HIDDEN));
            t.add(tensor(r, "cls.predictions.transform.dense.bias", HIDDEN));
            norm(r, t, "cls.predictions.transform.LayerNorm");
            t.add(tensor(r, "cls.predictions.bias", v));
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), t);
        Files.writeString(dir.resolve("tokenizer.json"), tokenizerJson());
        return dir;
    }

    private static void norm(Random r, List<HostTensor> t, String name) {
        float[] w = new float[HIDDEN];
        for (int i = 0; i < HIDDEN; i++) {
            w[i] = 1f + 0.1f * (float) r.nextGaussian();
        }
        t.add(HostTensor.ofFloats(name + ".weight", w, HIDDEN));
        t.add(tensor(r, name + ".bias", HIDDEN));
    }

    private static HostTensor tensor(Random r, String name, int... shape) {
        int n = 1;
        long[] ls = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            n *= shape[i];
            ls[i] = shape[i];
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (0.5 * r.nextGaussian());
        }
        return HostTensor.ofFloats(name, v, ls);
    }

    static String tokenizerJson() {
        StringBuilder added = new StringBuilder();
        for (int i = 0; i <= 4; i++) {
            added.append(i == 0 ? "" : ", ").append("{\"id\": ").append(i).append(", \"content\": \"")
                    .append(VOCAB.get(i)).append("\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                            + "\"normalized\": false, \"special\": true}");
        }
        StringBuilder vocab = new StringBuilder();
        for (int i = 0; i < VOCAB.size(); i++) {
            vocab.append(i == 0 ? "" : ", ").append('"').append(VOCAB.get(i)).append("\": ").append(i);
        }
        return "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": [" + added + "], "
                + "\"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, "
                + "\"strip_accents\": null, \"lowercase\": true}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, "
                + "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
                + "\"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
                + "{\"id\": \"[SEP]\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": "
                + "0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", "
                + "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}, {\"SpecialToken\": {\"id\": "
                + "\"[SEP]\", \"type_id\": 1}}], \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [2], "
                + "\"tokens\": [\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}}, "
                + "\"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true}, \"model\": {\"type\": "
                + "\"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", "
                + "\"max_input_chars_per_word\": 100, \"vocab\": {" + vocab + "}}}";
    }
}
