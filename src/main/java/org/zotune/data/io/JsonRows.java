package org.zotune.data.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** JSON Lines helpers: one object per line, typed field access that fails as a {@link BadRow}. */
final class JsonRows {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    private JsonRows() {
    }

    static ObjectNode object(String line) {
        JsonNode n;
        try {
            n = MAPPER.readTree(line);
        } catch (JsonProcessingException e) {
            throw new BadRow("not valid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " ").trim());
        }
        if (n == null || !n.isObject()) {
            throw new BadRow("expected a JSON object");
        }
        return (ObjectNode) n;
    }

    static String text(ObjectNode o, String field) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            throw new BadRow("missing field '" + field + "'");
        }
        if (!n.isTextual()) {
            throw new BadRow("field '" + field + "' must be a string, not " + n.getNodeType().name().toLowerCase());
        }
        return Rows.nonEmpty(n.asText(), "field '" + field + "'");
    }

    /** A string field kept verbatim (leading spaces matter in a completion); it must not be empty. */
    static String verbatim(ObjectNode o, String field) {
        JsonNode n = o.get(field);
        if (n == null || n.isNull()) {
            throw new BadRow("missing field '" + field + "'");
        }
        if (!n.isTextual()) {
            throw new BadRow("field '" + field + "' must be a string, not " + n.getNodeType().name().toLowerCase());
        }
        if (n.asText().isEmpty()) {
            throw new BadRow("empty field '" + field + "'");
        }
        return n.asText();
    }
}
