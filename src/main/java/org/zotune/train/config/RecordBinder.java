package org.zotune.train.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.zotune.ZotuneException;

/**
 * Maps a YAML/JSON tree onto records: each component is the key of its name in snake_case ({@code batchSize} ←
 * {@code batch_size}). Component types: String, Integer, Long, Double, Boolean, enums (choices), List and Map (of
 * those) and nested records. The annotations below give a key its default, range, choices or the hint of a required
 * key; what relates several keys stays in the record's compact constructor, which runs after every key is checked.
 * <p>
 * Errors are one line, {@code "<source>: key 'a.b': ..."}: unknown keys first (before any value is read, so a
 * misspelt key is reported as such and not as the required key it was meant to be), naming the valid keys; then
 * wrong types, missing keys, ranges and unknown choices naming the valid ones.
 * <p>
 * A choice is an enum: its config spelling is the constant's name in lower case with '-' for '_'
 * ({@code IN_PLACE} ↔ {@code in-place}), read case-insensitively. A String component annotated {@link Choice} keeps
 * the spelling (what the record stores and writes back); an enum component holds the constant.
 * <p>
 * Scalars coerce as Jackson's did: numbers and booleans read as strings where a string is expected, numeric text
 * reads as a number (YAML reads {@code 1e-4} as text), a whole number written as a fraction ({@code 1e3}, {@code 4.0})
 * is an integer where one is expected but any other fraction is refused (never truncated), and a
 * single value where a list is expected is a list of one.
 */
public final class RecordBinder {
    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    /** The value of an absent (or null) key, in YAML syntax: {@code "16"}, {@code "auto"}, {@code "{}"}. */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface Default {
        String value();
    }

    /** The key must be present and not null, blank or empty; the hint ends the message (a choice lists its own). */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface Required {
        String value() default "";
    }

    /** An integer key's lower bound. */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface AtLeast {
        long value();
    }

    /** A number key that must be finite and > 0. */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface Positive {
    }

    /** A number key that must be finite and >= 0. */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface NonNegative {
    }

    /** A String key whose value is one of the enum's spellings (stored as the spelling). */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.RECORD_COMPONENT)
    public @interface Choice {
        Class<? extends Enum<?>> value();
    }

    private RecordBinder() {
    }

    /**
     * Binds {@code tree} to {@code type}.
     *
     * @param source names the input at the start of every message (null or empty: no prefix)
     * @param prefix the dotted key of {@code tree} in messages ("" at the root)
     */
    public static <R extends Record> R bind(String source, JsonNode tree, Class<R> type, String prefix) {
        try {
            checkKeys(tree, type, prefix);
            return type.cast(record(tree, type, prefix));
        } catch (ZotuneException e) {
            throw source == null || source.isEmpty() ? e : new ZotuneException(source + ": " + e.getMessage());
        }
    }

    public static <R extends Record> R bind(String source, JsonNode tree, Class<R> type) {
        return bind(source, tree, type, "");
    }

    /** The config spelling of a choice. */
    public static String spelling(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The valid spellings of a choice, in declaration order. */
    public static List<String> spellings(Class<? extends Enum<?>> type) {
        return Arrays.stream(type.getEnumConstants()).map(RecordBinder::spelling).toList();
    }

    /** The constant spelt {@code value} (any case, surrounding blanks ignored), or null. */
    public static <E extends Enum<E>> E choice(Class<E> type, String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        for (E e : type.getEnumConstants()) {
            if (spelling(e).equals(v)) {
                return e;
            }
        }
        return null;
    }

    /** The snake_case key of a component name. */
    public static String key(String component) {
        StringBuilder b = new StringBuilder();
        for (char c : component.toCharArray()) {
            if (Character.isUpperCase(c)) {
                b.append('_').append(Character.toLowerCase(c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    // ---- unknown keys ----

    private static void checkKeys(JsonNode node, Class<?> type, String prefix) {
        if (node == null || !node.isObject() || !type.isRecord()) {
            return;
        }
        Map<String, RecordComponent> known = new TreeMap<>();
        for (RecordComponent rc : type.getRecordComponents()) {
            known.put(key(rc.getName()), rc);
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            String dotted = dotted(prefix, k);
            RecordComponent rc = known.get(k);
            if (rc == null) {
                throw new ZotuneException("unknown key '" + dotted + "' (valid keys"
                        + (prefix.isEmpty() ? "" : " in '" + prefix + "'") + ": " + String.join(", ", known.keySet())
                        + ")");
            }
            checkKeys(node.get(k), rc.getType(), dotted);
        }
    }

    // ---- values ----

    private static Object record(JsonNode node, Class<?> type, String prefix) {
        RecordComponent[] rcs = type.getRecordComponents();
        Object[] args = new Object[rcs.length];
        Class<?>[] types = new Class<?>[rcs.length];
        for (int i = 0; i < rcs.length; i++) {
            RecordComponent rc = rcs[i];
            String key = dotted(prefix, key(rc.getName()));
            JsonNode v = node.get(key(rc.getName()));
            Default d = rc.getAnnotation(Default.class);
            if (absent(v) && d != null) {
                v = parseDefault(d.value(), key);
            }
            Object value = absent(v) ? null : value(v, rc.getGenericType(), key);
            args[i] = check(rc, key, value);
            types[i] = rc.getType();
        }
        try {
            Constructor<?> c = type.getDeclaredConstructor(types);
            c.setAccessible(true);
            return c.newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r; // the record's own rules (ZotuneException, one line)
            }
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(type + ": no canonical constructor", e);
        }
    }

    private static Object value(JsonNode v, Type type, String key) {
        Class<?> raw = type instanceof ParameterizedType p ? (Class<?>) p.getRawType() : (Class<?>) type;
        if (raw == String.class) {
            if (!v.isValueNode()) {
                throw mismatch(key, "a string", v);
            }
            return v.asText();
        }
        if (raw == Integer.class || raw == Long.class) {
            long x = integer(v, key);
            if (raw == Integer.class && (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE)) {
                throw new ZotuneException("key '" + key + "': expected an integer that fits in 32 bits, got " + x);
            }
            return raw == Integer.class ? (Object) (int) x : (Object) x;
        }
        if (raw == Double.class) {
            if (v.isNumber()) {
                return v.doubleValue();
            }
            if (v.isTextual()) {
                try {
                    return Double.parseDouble(v.asText().trim());
                } catch (NumberFormatException e) {
                    // the message below
                }
            }
            throw mismatch(key, "a number", v);
        }
        if (raw == Boolean.class) {
            if (v.isBoolean()) {
                return v.booleanValue();
            }
            if (v.isTextual() && (v.asText().equals("true") || v.asText().equals("false"))) {
                return Boolean.parseBoolean(v.asText());
            }
            throw mismatch(key, "true or false", v);
        }
        if (raw.isEnum()) {
            if (!v.isValueNode()) {
                throw mismatch(key, "a string", v);
            }
            return enumValue(raw, key, v.asText());
        }
        if (raw == List.class) {
            Type element = ((ParameterizedType) type).getActualTypeArguments()[0];
            if (v.isObject()) {
                throw mismatch(key, "a list", v);
            }
            List<Object> out = new ArrayList<>();
            if (v.isArray()) {
                for (int i = 0; i < v.size(); i++) {
                    out.add(absent(v.get(i)) ? null : value(v.get(i), element, key + "." + i));
                }
            } else {
                out.add(value(v, element, key + ".0")); // one value where a list is expected: a list of one
            }
            return out;
        }
        if (raw == Map.class) {
            Type element = ((ParameterizedType) type).getActualTypeArguments()[1];
            if (!v.isObject()) {
                throw mismatch(key, "a mapping", v);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.put(e.getKey(), absent(e.getValue()) ? null : value(e.getValue(), element, key + "." + e.getKey()));
            }
            return out;
        }
        if (raw.isRecord()) {
            if (!v.isObject()) {
                throw mismatch(key, "a mapping", v);
            }
            return record(v, raw, key);
        }
        throw new IllegalStateException("key '" + key + "': RecordBinder cannot bind " + type);
    }

    private static long integer(JsonNode v, String key) {
        if (v.isIntegralNumber()) {
            if (!v.canConvertToLong()) {
                throw new ZotuneException("key '" + key + "': expected an integer that fits in 64 bits, got " + v);
            }
            return v.longValue();
        }
        if (v.isFloatingPointNumber()) {
            return wholeNumber(v.doubleValue(), key, v);
        }
        if (v.isTextual()) {
            String text = v.asText().trim();
            try {
                return Long.parseLong(text);
            } catch (NumberFormatException e) {
                // a whole number in another spelling (1e3), or the message below
            }
            try {
                return wholeNumber(Double.parseDouble(text), key, v);
            } catch (NumberFormatException e) {
                // the message below
            }
        }
        throw mismatch(key, "an integer", v);
    }

    /** A fraction that is a whole number within ±2^53 (exact in a double) as that number; anything else refused. */
    private static long wholeNumber(double d, String key, JsonNode v) {
        if (d != Math.rint(d) || Math.abs(d) > 0x1p53) {
            throw mismatch(key, "an integer", v);
        }
        return (long) d;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object enumValue(Class<?> type, String key, String text) {
        Object e = choice((Class) type, text);
        if (e == null) {
            throw unknownChoice(key, text, (Class<? extends Enum<?>>) type);
        }
        return e;
    }

    private static Object check(RecordComponent rc, String key, Object value) {
        Choice choice = rc.getAnnotation(Choice.class);
        Required required = rc.getAnnotation(Required.class);
        if (required != null && missing(value)) {
            String hint = !required.value().isEmpty() ? required.value()
                    : choice != null ? "one of " + String.join(", ", spellings(choice.value()))
                    : rc.getType().isEnum() ? "one of " + String.join(", ", spellings(enumType(rc.getType()))) : "";
            throw new ZotuneException("key '" + key + "' is required" + (hint.isEmpty() ? "" : " (" + hint + ")"));
        }
        if (value == null) {
            return null;
        }
        if (choice != null) {
            Enum<?> e = (Enum<?>) enumValue(choice.value(), key, (String) value);
            return spelling(e);
        }
        AtLeast min = rc.getAnnotation(AtLeast.class);
        if (min != null && ((Number) value).longValue() < min.value()) {
            throw new ZotuneException("key '" + key + "' must be >= " + min.value() + ", got " + value);
        }
        if (rc.isAnnotationPresent(Positive.class)) {
            double d = (Double) value;
            if (!Double.isFinite(d) || d <= 0) {
                throw new ZotuneException("key '" + key + "' must be a finite number > 0, got " + d);
            }
        }
        if (rc.isAnnotationPresent(NonNegative.class)) {
            double d = (Double) value;
            if (!Double.isFinite(d) || d < 0) {
                throw new ZotuneException("key '" + key + "' must be a finite number >= 0, got " + d);
            }
        }
        return value;
    }

    @SuppressWarnings("unchecked")
    private static Class<? extends Enum<?>> enumType(Class<?> c) {
        return (Class<? extends Enum<?>>) c;
    }

    private static ZotuneException unknownChoice(String key, String value, Class<? extends Enum<?>> type) {
        return new ZotuneException("key '" + key + "': unknown value '" + value + "' (valid: "
                + String.join(", ", spellings(type)) + ")");
    }

    private static ZotuneException mismatch(String key, String expected, JsonNode v) {
        String got = v.isArray() ? "a list" : v.isObject() ? "a mapping" : v.isTextual() ? "'" + v.asText() + "'"
                : v.toString();
        return new ZotuneException("key '" + key + "': expected " + expected + ", got " + got);
    }

    private static boolean absent(JsonNode v) {
        return v == null || v.isNull() || v.isMissingNode();
    }

    private static boolean missing(Object value) {
        return value == null || (value instanceof String s && s.isBlank())
                || (value instanceof List<?> l && l.isEmpty());
    }

    private static JsonNode parseDefault(String yaml, String key) {
        try {
            return YAML.readTree(yaml);
        } catch (IOException e) {
            throw new IllegalStateException("key '" + key + "': default " + yaml + " is not YAML", e);
        }
    }

    private static String dotted(String prefix, String key) {
        return prefix.isEmpty() ? key : prefix + "." + key;
    }
}
