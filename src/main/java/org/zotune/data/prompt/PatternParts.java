package org.zotune.data.prompt;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;

/**
 * The parts of a template pattern, shared by the decoder templates ({@link PatternTemplate}) and the masked-LM ones
 * ({@link MaskedTemplate}): literal text (a {@link String}, with {@code {{}} and {@code }}} for braces),
 * {@link Placeholder}s {@code {field}}, and, where masks are allowed, {@link #MASK} for {@code <mask>} or
 * {@code [MASK]}.
 */
final class PatternParts {
    /** The mask placeholder's part. */
    static final Object MASK = new Object();

    /** A {@code {field}} of the example. */
    record Placeholder(String field) {
    }

    private PatternParts() {
    }

    /**
     * @param what  how errors name the template, e.g. "template 'x'"
     * @param masks whether {@code <mask>} / {@code [MASK]} are parts of their own (else literal text)
     */
    static List<Object> parse(String what, String p, boolean masks) {
        List<Object> parts = new ArrayList<>();
        StringBuilder lit = new StringBuilder();
        int i = 0;
        while (i < p.length()) {
            char c = p.charAt(i);
            if (masks && (p.startsWith("<mask>", i) || p.startsWith("[MASK]", i))) {
                flush(parts, lit);
                parts.add(MASK);
                i += 6;
            } else if (c == '{' && i + 1 < p.length() && p.charAt(i + 1) == '{') {
                lit.append('{');
                i += 2;
            } else if (c == '}' && i + 1 < p.length() && p.charAt(i + 1) == '}') {
                lit.append('}');
                i += 2;
            } else if (c == '{') {
                int end = p.indexOf('}', i);
                int nextOpen = p.indexOf('{', i + 1);
                if (end < 0 || (nextOpen >= 0 && nextOpen < end)) {
                    throw new ZotuneException(what + ": unclosed '{' at character " + (i + 1) + ": " + quoted(p));
                }
                String field = p.substring(i + 1, end);
                if (!field.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                    throw new ZotuneException(what + ": bad placeholder {" + field + "} (a field name is letters, "
                            + "digits and _): " + quoted(p));
                }
                flush(parts, lit);
                parts.add(new Placeholder(field));
                i = end + 1;
            } else if (c == '}') {
                throw new ZotuneException(what + ": unmatched '}' at character " + (i + 1)
                        + " (write }} for a literal brace): " + quoted(p));
            } else {
                lit.append(c);
                i++;
            }
        }
        flush(parts, lit);
        return parts;
    }

    private static void flush(List<Object> parts, StringBuilder lit) {
        if (lit.length() > 0) {
            parts.add(lit.toString());
            lit.setLength(0);
        }
    }

    /** A pattern as error messages quote it (newlines visible). */
    static String quoted(String s) {
        return "\"" + s.replace("\n", "\\n") + "\"";
    }
}
