package org.zotune.model.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.zotune.ZotuneException;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;

/**
 * Maps a Hugging Face {@code config.json} to {@link ModelConfig}: finds the registered architecture (see
 * {@link ModelFamily}) and lets it read its fields ({@link org.zotune.model.Architecture#parseConfig}). Defaults are
 * those of transformers' config classes for fields that a saved config may omit; the fields that fix tensor shapes
 * are required, since a config without them describes no particular checkpoint.
 */
public final class HfConfig {
    private HfConfig() {
    }

    /** Reads {@code config.json}; the file is named in every error. */
    public static ModelConfig read(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (NoSuchFileException e) {
            throw new ZotuneException(configJson + ": file not found (a Hugging Face model folder needs "
                    + "config.json)", e);
        } catch (IOException e) {
            throw new ZotuneException(configJson + ": cannot read: " + e.getMessage(), e);
        }
        return parse(configJson, text);
    }

    /** Parses config.json text; {@code source} names the file in errors. */
    public static ModelConfig parse(Path source, String json) {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(source + ": malformed JSON: " + Json.oneLine(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new ZotuneException(source + ": not a JSON object");
        }
        ModelFamily family = detect(source, root);
        return family.architecture().parseConfig(new ConfigJson(source, root));
    }

    /** Architecture from "architectures" (first supported class), else from "model_type". */
    static ModelFamily detect(Path source, JsonNode root) {
        JsonNode archs = root.get("architectures");
        List<String> named = new ArrayList<>();
        if (archs != null && archs.isArray()) {
            for (JsonNode a : archs) {
                named.add(a.asText());
                for (ModelFamily f : ModelFamily.values()) {
                    if (f.hfArchitecture().equals(a.asText())) {
                        return f;
                    }
                }
            }
        } else if (archs != null && archs.isTextual()) {
            named.add(archs.asText());
        }
        JsonNode type = root.get("model_type");
        if (type != null && type.isTextual()) {
            for (ModelFamily f : ModelFamily.values()) {
                if (f.hfModelType().equals(type.asText())) {
                    return f;
                }
            }
        }
        String supported = java.util.Arrays.stream(ModelFamily.values())
                .map(f -> f.hfArchitecture() + " (model_type " + f.hfModelType() + ")")
                .collect(Collectors.joining(", "));
        String what = named.isEmpty() && type == null
                ? "neither \"architectures\" nor \"model_type\" is set"
                : "unsupported architecture " + (named.isEmpty() ? "" : String.join(", ", named) + " ")
                  + "(model_type " + (type == null ? "absent" : type.asText()) + ")";
        throw new ZotuneException(source + ": " + what + "; supported: " + supported);
    }
}
