package org.zotune.model.io;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import java.nio.file.Path;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig.Activation;

/**
 * One {@code config.json} being mapped by an {@link org.zotune.model.Architecture}: binding to a record of the
 * family's fields, and the checks every family shares. Every error names the file and the field.
 */
public final class ConfigJson {
    private final Path source;
    private final JsonNode root;
    private final SpecialIds ids;

    /** Token ids shared by all configs; eos_token_id may be a list (Llama 3), of which the first is used. */
    record SpecialIds(
            @JsonProperty("bos_token_id") JsonNode bos,
            @JsonProperty("eos_token_id") JsonNode eos,
            @JsonProperty("pad_token_id") JsonNode pad) {
    }

    ConfigJson(Path source, JsonNode root) {
        this.source = source;
        this.root = root;
        this.ids = bind(SpecialIds.class);
    }

    /** The file, for error messages. */
    public Path source() {
        return source;
    }

    /** An error "FILE: message". */
    public ZotuneException error(String message) {
        return new ZotuneException(source + ": " + message);
    }

    /** The config bound to a record of {@link JsonProperty} fields; a wrongly typed field is named. */
    public <T> T bind(Class<T> type) {
        try {
            return Json.MAPPER.treeToValue(root, type);
        } catch (JsonMappingException e) {
            throw wrongType(e.getPath(), e instanceof MismatchedInputException m ? m.getTargetType() : null, e);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": " + Json.oneLine(e), e);
        }
    }

    /** "field n_layer must be an integer, got "12"" rather than Jackson's coercion vocabulary. */
    private ZotuneException wrongType(List<JsonMappingException.Reference> path, Class<?> target, Exception cause) {
        StringBuilder field = new StringBuilder();
        JsonNode value = root;
        for (JsonMappingException.Reference r : path) {
            if (r.getFieldName() != null) {
                field.append(field.length() == 0 ? "" : ".").append(r.getFieldName());
                value = value.path(r.getFieldName());
            } else {
                field.append('[').append(r.getIndex()).append(']');
                value = value.path(r.getIndex());
            }
        }
        String expected = target == Integer.class || target == int.class ? "an integer"
                : target == Double.class || target == double.class ? "a number"
                : target == Boolean.class || target == boolean.class ? "true or false"
                : target == String.class ? "a string"
                : "of another type";
        if (value.isIntegralNumber() && !value.canConvertToInt()) {
            expected = "an integer that fits in 32 bits";
        }
        return new ZotuneException(source + ": field " + field + " must be " + expected + ", got " + value, cause);
    }

    /** A required positive integer. */
    public int positive(String field, Integer v) {
        if (v == null) {
            throw error("missing required field " + field);
        }
        if (v <= 0) {
            throw error("field " + field + " must be positive, got " + v);
        }
        return v;
    }

    public void divisible(int a, String aName, int b, String bName) {
        if (a % b != 0) {
            throw error(aName + " " + a + " is not a multiple of " + bName + " " + b);
        }
    }

    /** A norm epsilon in (0, 1), {@code dflt} when absent. */
    public double eps(String field, Double v, double dflt) {
        double e = v == null ? dflt : v;
        if (!(e > 0) || !(e < 1)) {
            throw error("field " + field + " must be in (0, 1), got " + e);
        }
        return e;
    }

    /** A required number inside a nested object. */
    public double number(String field, JsonNode n) {
        if (n == null || n.isNull()) {
            throw error("missing required field " + field);
        }
        if (!n.isNumber()) {
            throw error("field " + field + " must be a number, got " + n);
        }
        return n.asDouble();
    }

    public Activation activation(String field, String v, String dflt) {
        try {
            return Activation.fromHf(v == null ? dflt : v);
        } catch (IllegalArgumentException e) {
            throw new ZotuneException(source + ": field " + field + ": " + e.getMessage(), e);
        }
    }

    public static boolean orDefault(Boolean b, boolean dflt) {
        return b == null ? dflt : b;
    }

    public int bosTokenId(int dflt) {
        return tokenId("bos_token_id", ids.bos(), dflt);
    }

    public int eosTokenId(int dflt) {
        return tokenId("eos_token_id", ids.eos(), dflt);
    }

    public int padTokenId(int dflt) {
        return tokenId("pad_token_id", ids.pad(), dflt);
    }

    /** An id, null (→ -1), or a list of ids (→ the first). */
    private int tokenId(String field, JsonNode n, int dflt) {
        if (n == null || n.isMissingNode()) {
            return dflt;
        }
        if (n.isNull()) {
            return -1;
        }
        JsonNode v = n.isArray() ? (n.size() == 0 ? null : n.get(0)) : n;
        if (v == null) {
            return -1;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw error("field " + field + " must be an integer token id, got " + n);
        }
        return v.asInt();
    }
}
