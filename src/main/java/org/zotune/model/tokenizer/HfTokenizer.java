package org.zotune.model.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * A Hugging Face {@code tokenizer.json} run by the Rust tokenizers library (through DJL), so ids match
 * transformers' fast tokenizers exactly. Truncation and padding are off: a long text is never cut silently.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    private static final String[] BOS_NAMES = {"<s>", "<|begin_of_text|>", "<|endoftext|>", "<bos>"};
    private static final String[] EOS_NAMES = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"};

    private final HuggingFaceTokenizer djl;
    private final Path source;
    private final int vocabSize;
    private final int bosId;
    private final int eosId;
    private final Map<String, Integer> added;

    private HfTokenizer(HuggingFaceTokenizer djl, Path source, int vocabSize, int bosId, int eosId,
                        Map<String, Integer> added) {
        this.added = Map.copyOf(added);
        this.djl = djl;
        this.source = source;
        this.vocabSize = vocabSize;
        this.bosId = bosId;
        this.eosId = eosId;
    }

    /**
     * Loads a {@code tokenizer.json}; BOS/EOS come from a {@code tokenizer_config.json} beside it when present,
     * else from the usual special tokens ({@code <s>}/{@code </s>}, {@code <|endoftext|>}, ...).
     */
    public static HfTokenizer load(Path tokenizerJson) {
        String json;
        try {
            json = Files.readString(tokenizerJson);
        } catch (NoSuchFileException e) {
            throw new ZotuneException(tokenizerJson + ": file not found", e);
        } catch (IOException e) {
            throw new ZotuneException(tokenizerJson + ": cannot read: " + e.getMessage(), e);
        }
        Path dir = tokenizerJson.toAbsolutePath().getParent();
        Path config = dir == null ? null : dir.resolve("tokenizer_config.json");
        return fromJson(tokenizerJson, json, config != null && Files.isRegularFile(config) ? config : null);
    }

    /** Builds from tokenizer.json text; {@code source} names it in errors, {@code tokenizerConfig} may be null. */
    static HfTokenizer fromJson(Path source, String json, Path tokenizerConfig) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": malformed JSON: "
                    + e.getOriginalMessage().replaceAll("\\s+", " "), e);
        }
        return fromJson(source, json, root, tokenizerConfig);
    }

    /** As above with the JSON already parsed ({@code root} is {@code json} as a tree). */
    static HfTokenizer fromJson(Path source, String json, JsonNode root, Path tokenizerConfig) {
        if (root == null || !root.isObject() || !root.has("model")) {
            throw new ZotuneException(source + ": not a Hugging Face tokenizer.json (no \"model\" object)");
        }
        Map<String, Integer> special = new HashMap<>();
        int maxId = vocabMaxId(source, root.get("model"));
        JsonNode added = root.get("added_tokens");
        if (added != null && added.isArray()) {
            for (JsonNode t : added) {
                int id = t.path("id").asInt(-1);
                String content = t.path("content").asText(null);
                if (id < 0 || content == null) {
                    throw new ZotuneException(source + ": added_tokens entry without id/content: " + t);
                }
                special.put(content, id);
                maxId = Math.max(maxId, id);
            }
        }
        int bos = -1;
        int eos = -1;
        if (tokenizerConfig != null) {
            JsonNode cfg;
            try {
                cfg = MAPPER.readTree(Files.readString(tokenizerConfig));
            } catch (JsonProcessingException e) {
                throw new ZotuneException(tokenizerConfig + ": malformed JSON: "
                        + e.getOriginalMessage().replaceAll("\\s+", " "), e);
            } catch (IOException e) {
                throw new ZotuneException(tokenizerConfig + ": cannot read: " + e.getMessage(), e);
            }
            bos = configuredId(tokenizerConfig, cfg, "bos_token", special, root.get("model"));
            eos = configuredId(tokenizerConfig, cfg, "eos_token", special, root.get("model"));
        }
        if (bos < 0) {
            bos = firstPresent(special, BOS_NAMES);
        }
        if (eos < 0) {
            eos = firstPresent(special, EOS_NAMES);
        }
        HuggingFaceTokenizer djl = DjlNative.create(source, json);
        return new HfTokenizer(djl, source, maxId + 1, bos, eos, special);
    }

    /** The largest id in the model's vocabulary (object token → id, or Unigram's [token, score] list). */
    private static int vocabMaxId(Path source, JsonNode model) {
        JsonNode vocab = model.get("vocab");
        if (vocab == null) {
            throw new ZotuneException(source + ": model has no vocab");
        }
        int max = -1;
        if (vocab.isObject()) {
            Iterator<JsonNode> it = vocab.elements();
            while (it.hasNext()) {
                max = Math.max(max, it.next().asInt(-1));
            }
        } else if (vocab.isArray()) {
            max = vocab.size() - 1;
        } else {
            throw new ZotuneException(source + ": model.vocab is neither an object nor a list");
        }
        if (vocab.isEmpty()) { // else every text fails to encode, and the text gets the blame
            throw new ZotuneException(source + ": model.vocab is empty");
        }
        return max;
    }

    /** tokenizer_config.json names a token as a string or as {"content": ...}; null means none. */
    private static int configuredId(Path cfgFile, JsonNode cfg, String field, Map<String, Integer> special,
                                    JsonNode model) {
        JsonNode v = cfg.get(field);
        if (v == null || v.isNull()) {
            return -1;
        }
        String content = v.isObject() ? v.path("content").asText(null) : v.asText(null);
        if (content == null) {
            throw new ZotuneException(cfgFile + ": field " + field + " is neither a string nor {\"content\": ...}");
        }
        Integer id = special.get(content);
        if (id == null && model.path("vocab").isObject() && model.get("vocab").has(content)) {
            id = model.get("vocab").get(content).asInt();
        }
        if (id == null) {
            throw new ZotuneException(cfgFile + ": field " + field + " names token " + content
                    + ", which the tokenizer does not have");
        }
        return id;
    }

    private static int firstPresent(Map<String, Integer> special, String[] names) {
        for (String n : names) {
            Integer id = special.get(n);
            if (id != null) {
                return id;
            }
        }
        return -1;
    }

    @Override
    public int[] encode(String text) {
        return toInts(djl.encode(text, true, false).getIds());
    }

    /**
     * The tokenizer's own pair template (its post-processor: BERT's {@code [CLS] a [SEP] b [SEP]}, RoBERTa's
     * {@code <s> a </s></s> b </s>}). An empty second text is no second text, as transformers' {@code tok(a, "")}
     * encodes it.
     */
    @Override
    public int[] encodePair(String first, String second) {
        if (second.isEmpty()) {
            return encode(first);
        }
        return toInts(djl.encode(first, second, true, false).getIds());
    }

    @Override
    public int[] encodeNoSpecial(String text) {
        return toInts(djl.encode(text, false, false).getIds());
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            // ids the vocabulary lacks (a model's padded embedding rows) decode to nothing, as in transformers
            if (ids[i] < 0) {
                throw new ZotuneException(source + ": cannot decode negative token id " + ids[i]);
            }
            l[i] = ids[i];
        }
        return djl.decode(l, true);
    }

    /**
     * Decodes with the special tokens kept ({@code [CLS]}, {@code <mask>}, ...), as transformers'
     * {@code tokenizer.decode(ids)} does by default and its fill-mask pipeline prints each candidate.
     */
    public String decodeKeepingSpecial(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0) {
                throw new ZotuneException(source + ": cannot decode negative token id " + ids[i]);
            }
            l[i] = ids[i];
        }
        return djl.decode(l, false);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    /** The id of an added (special) token such as [MASK] or &lt;mask&gt;, or -1 when the tokenizer has none. */
    public int addedTokenId(String content) {
        return added.getOrDefault(content, -1);
    }

    public Path source() {
        return source;
    }

    @Override
    public void close() {
        djl.close();
    }

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** DJL's entry point, with the options that keep it exact and offline. */
    static final class DjlNative {
        private DjlNative() {
        }

        static HuggingFaceTokenizer create(Path source, String json) {
            // DJL probes the EC2 metadata endpoint for telemetry unless "offline" is set; the native library
            // itself comes from the jar (extracted to ~/.djl.ai or $ENGINE_CACHE_DIR), so nothing is downloaded
            if (System.getProperty("offline") == null) {
                System.setProperty("offline", "true");
            }
            Map<String, String> options = new HashMap<>();
            options.put("addSpecialTokens", "true");
            options.put("truncation", "false");
            options.put("padding", "false");
            try {
                return HuggingFaceTokenizer.newInstance(
                        new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), options);
            } catch (IOException | RuntimeException e) {
                throw new ZotuneException(source + ": the tokenizers library rejected it: "
                        + String.valueOf(e.getMessage()).replaceAll("\\s+", " "), e);
            } catch (UnsatisfiedLinkError | ExceptionInInitializerError | NoClassDefFoundError e) {
                throw new ZotuneException(source + ": cannot load the Hugging Face tokenizers native library "
                        + "(DJL; it extracts to ~/.djl.ai unless ENGINE_CACHE_DIR is set): " + e, e);
            }
        }
    }
}
