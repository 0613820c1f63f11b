package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.batch.EncodedExample;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.tensor.HostTensor;

/**
 * What a run depends on besides its config, as SHA-256 digests ("sha256:" + hex) of the values zotune uses, not of
 * file bytes, so that the same weights or data in another file or spelling match and anything that changes the
 * result does not: the base weights (every parameter's name, dtype, shape and bytes in zotune's layout), the
 * tokenizer (vocabulary size, BOS/EOS and each id's decoded text) and each data split as encoded (every example's
 * token rows, answer starts and gold index). Recorded in a run's marker file ({@link RunFolder#MARKER}) and in the
 * trajectory's header; {@code --resume} and replay refuse inputs whose digest differs. A null digest is one not
 * recorded (nothing to compare).
 */
public record Fingerprints(String baseWeights, String tokenizer, String train, String dev, String test) {
    /** Nothing recorded. */
    public static final Fingerprints NONE = new Fingerprints(null, null, null, null, null);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The digest of parameters as loaded (zotune's layout and order). */
    public static String weights(List<HostTensor> parameters) {
        MessageDigest md = sha256();
        for (HostTensor t : parameters) {
            text(md, t.name());
            text(md, t.dtype().name());
            longs(md, t.shape());
            md.update(t.bytes());
        }
        return hex(md);
    }

    public static String tokenizer(Tokenizer tok) {
        MessageDigest md = sha256();
        int n = tok.vocabSize();
        longs(md, new long[] {n, tok.bosId(), tok.eosId()});
        for (int id = 0; id < n; id++) {
            text(md, tok.decode(new int[] {id}));
        }
        return hex(md);
    }

    public static String examples(List<EncodedExample> examples) {
        MessageDigest md = sha256();
        longs(md, new long[] {examples.size()});
        for (EncodedExample e : examples) {
            longs(md, new long[] {e.rows().length, e.gold()});
            for (int r = 0; r < e.rows().length; r++) {
                longs(md, new long[] {e.rows()[r].length, e.answerStart()[r]});
                ByteBuffer b = ByteBuffer.allocate(4 * e.rows()[r].length).order(ByteOrder.LITTLE_ENDIAN);
                b.asIntBuffer().put(e.rows()[r]);
                md.update(b);
            }
        }
        return hex(md);
    }

    /** Fails in one line naming the first input whose digest differs from this (recorded) one. */
    public void requireSame(Path recordedIn, Fingerprints now) {
        Map<String, String[]> pairs = new LinkedHashMap<>();
        pairs.put("base weights", new String[] {baseWeights, now.baseWeights});
        pairs.put("tokenizer", new String[] {tokenizer, now.tokenizer});
        pairs.put("training data", new String[] {train, now.train});
        pairs.put("dev data", new String[] {dev, now.dev});
        pairs.put("test data", new String[] {test, now.test});
        for (Map.Entry<String, String[]> p : pairs.entrySet()) {
            String a = p.getValue()[0];
            String b = p.getValue()[1];
            if (a != null && b != null && !a.equals(b)) {
                throw new ZotuneException(p.getKey() + " changed since the run started (" + recordedIn + " records "
                        + a.substring(0, 19) + "…, the input now gives " + b.substring(0, 19) + "…); use the run's "
                        + "own inputs or start a new run");
            }
        }
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        put(o, "base_weights", baseWeights);
        put(o, "tokenizer", tokenizer);
        put(o, "train", train);
        put(o, "dev", dev);
        put(o, "test", test);
        return o;
    }

    /** Reads {@link #toJson}; a digest that is not "sha256:" and 64 hex digits is an error naming {@code file}. */
    public static Fingerprints fromJson(Path file, JsonNode o) {
        if (o.isMissingNode() || o.isNull()) {
            return NONE;
        }
        if (!o.isObject()) {
            throw new ZotuneException(file + ": fingerprints must be a mapping");
        }
        for (var it = o.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!List.of("base_weights", "tokenizer", "train", "dev", "test").contains(k)) {
                throw new ZotuneException(file + ": unknown fingerprint '" + k + "'");
            }
        }
        return new Fingerprints(digest(file, o, "base_weights"), digest(file, o, "tokenizer"),
                digest(file, o, "train"), digest(file, o, "dev"), digest(file, o, "test"));
    }

    private static String digest(Path file, JsonNode o, String key) {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual() || !v.asText().matches("sha256:[0-9a-f]{64}")) {
            throw new ZotuneException(file + ": fingerprint '" + key + "' is not sha256: and 64 hex digits");
        }
        return v.asText();
    }

    private static void put(ObjectNode o, String k, String v) {
        if (v != null) {
            o.put(k, v);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    private static void text(MessageDigest md, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        longs(md, new long[] {b.length});
        md.update(b);
    }

    private static void longs(MessageDigest md, long[] v) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(v);
        md.update(b);
    }

    private static String hex(MessageDigest md) {
        return "sha256:" + HexFormat.of().formatHex(md.digest());
    }
}
