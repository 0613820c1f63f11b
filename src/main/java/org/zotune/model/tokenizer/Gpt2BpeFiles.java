package org.zotune.model.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * GPT-2 style byte-level BPE files ({@code vocab.json} + {@code merges.txt}, or OpenAI's {@code encoder.json}
 * + {@code vocab.bpe}) turned into the {@code tokenizer.json} that transformers' converter builds for
 * GPT2TokenizerFast: ByteLevel pre-tokenizer and decoder, a BPE model without unknown token, and the
 * special tokens as added tokens. A {@code tokenizer_config.json} beside them may set add_prefix_space,
 * add_bos_token (OPT prepends its BOS this way) and the special tokens.
 */
public final class Gpt2BpeFiles {
    static final String ENDOFTEXT = "<|endoftext|>";

    private Gpt2BpeFiles() {
    }

    /** Loads the files as an exact Hugging Face tokenizer. */
    public static HfTokenizer load(Path vocab, Path merges) {
        Path dir = vocab.toAbsolutePath().getParent();
        Path cfg = dir == null ? null : dir.resolve("tokenizer_config.json");
        JsonNode config = cfg != null && Files.isRegularFile(cfg) ? readJson(cfg) : null;
        ObjectNode root = tokenizerJson(vocab, merges, config, cfg);
        String json;
        try {
            json = HfTokenizer.MAPPER.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // BOS/EOS are taken from the built JSON's special tokens (tokenizer_config.json's names go in there)
        return HfTokenizer.fromJson(vocab, json, root, config != null ? cfg : null);
    }

    /** The tokenizer.json tree; {@code config} (tokenizer_config.json, named {@code cfgPath}) may be null. */
    static ObjectNode tokenizerJson(Path vocabPath, Path mergesPath, JsonNode config, Path cfgPath) {
        JsonNode vocab = readJson(vocabPath);
        if (!vocab.isObject() || vocab.size() == 0) {
            throw new ZotuneException(vocabPath + ": expected a JSON object mapping tokens to ids");
        }
        Iterator<Map.Entry<String, JsonNode>> it = vocab.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || !e.getValue().isIntegralNumber() || e.getValue().asInt() < 0) {
                throw new ZotuneException(vocabPath + ": token " + e.getKey() + " has id " + e.getValue()
                        + ", expected a non-negative integer");
            }
        }
        ArrayNode merges = readMerges(mergesPath, vocab);

        ObjectNode root = HfTokenizer.MAPPER.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");

        // special tokens: GPT-2's <|endoftext|> and whatever tokenizer_config.json names, if in the vocab
        Map<String, Integer> special = new LinkedHashMap<>();
        if (vocab.has(ENDOFTEXT)) {
            special.put(ENDOFTEXT, vocab.get(ENDOFTEXT).asInt());
        }
        String bosToken = null;
        boolean addPrefixSpace = false;
        boolean addBos = false;
        if (config != null) {
            for (String field : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
                String content = tokenContent(config.get(field));
                if (content != null && vocab.has(content)) {
                    special.putIfAbsent(content, vocab.get(content).asInt());
                }
            }
            JsonNode decoderMap = config.get("added_tokens_decoder");
            if (decoderMap != null && decoderMap.isObject()) {
                decoderMap.fields().forEachRemaining(e -> {
                    String content = tokenContent(e.getValue());
                    if (content != null && e.getValue().path("special").asBoolean(false)) {
                        special.putIfAbsent(content, Integer.parseInt(e.getKey()));
                    }
                });
            }
            addPrefixSpace = config.path("add_prefix_space").asBoolean(false);
            addBos = config.path("add_bos_token").asBoolean(false);
            bosToken = tokenContent(config.get("bos_token"));
            if (addBos && (bosToken == null || !special.containsKey(bosToken))) {
                throw new ZotuneException(cfgPath + ": add_bos_token is true but bos_token " + bosToken
                        + " is not in " + vocabPath.getFileName());
            }
        }
        ArrayNode added = root.putArray("added_tokens");
        special.forEach((content, id) -> {
            ObjectNode t = added.addObject();
            t.put("id", id);
            t.put("content", content);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", true);
            t.put("special", true);
        });
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(addPrefixSpace, true));
        if (addBos) {
            root.set("post_processor", bosTemplate(bosToken, special.get(bosToken)));
        } else {
            ObjectNode post = byteLevel(true, false);
            root.set("post_processor", post);
        }
        root.set("decoder", byteLevel(true, true));

        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.set("vocab", vocab);
        model.set("merges", merges);
        return root;
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        ObjectNode n = HfTokenizer.MAPPER.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", addPrefixSpace);
        n.put("trim_offsets", trimOffsets);
        n.put("use_regex", true);
        return n;
    }

    /** "BOS $A" for single sequences, "BOS $A BOS $B" for pairs (transformers' converter for add_bos_token). */
    private static ObjectNode bosTemplate(String bos, int bosId) {
        ObjectNode n = HfTokenizer.MAPPER.createObjectNode();
        n.put("type", "TemplateProcessing");
        ArrayNode single = n.putArray("single");
        special(single, bos, 0);
        sequence(single, "A", 0);
        ArrayNode pair = n.putArray("pair");
        special(pair, bos, 0);
        sequence(pair, "A", 0);
        special(pair, bos, 1);
        sequence(pair, "B", 1);
        ObjectNode tokens = n.putObject("special_tokens").putObject(bos);
        tokens.put("id", bos);
        tokens.putArray("ids").add(bosId);
        tokens.putArray("tokens").add(bos);
        return n;
    }

    private static void special(ArrayNode seq, String id, int typeId) {
        ObjectNode t = seq.addObject().putObject("SpecialToken");
        t.put("id", id);
        t.put("type_id", typeId);
    }

    private static void sequence(ArrayNode seq, String id, int typeId) {
        ObjectNode t = seq.addObject().putObject("Sequence");
        t.put("id", id);
        t.put("type_id", typeId);
    }

    /** A merges file: an optional "#version" line, then "left right" per line; both parts must be in vocab. */
    private static ArrayNode readMerges(Path mergesPath, JsonNode vocab) {
        List<String> lines;
        try {
            lines = Files.readAllLines(mergesPath);
        } catch (NoSuchFileException e) {
            throw new ZotuneException(mergesPath + ": file not found", e);
        } catch (IOException e) {
            throw new ZotuneException(mergesPath + ": cannot read: " + e.getMessage(), e);
        }
        ArrayNode merges = HfTokenizer.MAPPER.createArrayNode();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) {
                continue;
            }
            int sp = line.indexOf(' ');
            if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
                throw new ZotuneException(mergesPath + ": line " + (i + 1) + " is not two tokens separated by "
                        + "one space: '" + line + "'");
            }
            String left = line.substring(0, sp);
            String right = line.substring(sp + 1);
            for (String part : new String[] {left, right, left + right}) {
                if (!vocab.has(part)) {
                    throw new ZotuneException(mergesPath + ": line " + (i + 1) + " uses token '" + part
                            + "', which the vocabulary lacks");
                }
            }
            merges.add(line);
        }
        if (merges.isEmpty()) {
            throw new ZotuneException(mergesPath + ": no merges");
        }
        return merges;
    }

    private static String tokenContent(JsonNode v) {
        if (v == null || v.isNull()) {
            return null;
        }
        return v.isObject() ? v.path("content").asText(null) : v.asText(null);
    }

    private static JsonNode readJson(Path p) {
        try {
            return HfTokenizer.MAPPER.readTree(Files.readString(p));
        } catch (NoSuchFileException e) {
            throw new ZotuneException(p + ": file not found", e);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(p + ": malformed JSON: " + e.getOriginalMessage().replaceAll("\\s+", " "), e);
        } catch (IOException e) {
            throw new ZotuneException(p + ": cannot read: " + e.getMessage(), e);
        }
    }
}
