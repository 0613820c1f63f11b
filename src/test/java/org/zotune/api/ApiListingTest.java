package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The public API's surface, recorded in src/test/resources/api/zotune-api.txt: a change to a public type, method or
 * field of org.zotune.api fails here until the listing is regenerated on purpose.
 */
class ApiListingTest {
    static final Path LISTING = Path.of("src/test/resources/api/zotune-api.txt");

    @Test
    void publicSurfaceMatchesTheCheckedInListing() throws Exception {
        String actual = String.join("\n", listing()) + "\n";
        if (Boolean.getBoolean("zotune.api.write")) {
            Files.writeString(LISTING, actual, StandardCharsets.UTF_8);
        }
        String expected = Files.readString(LISTING, StandardCharsets.UTF_8);
        assertEquals(expected, actual, "the public API of org.zotune.api changed: if that is deliberate, regenerate "
                + LISTING + " with mvn test -Dtest=ApiListingTest -Dzotune.api.write=true and review its diff");
    }

    @Test
    void listingSeesTheApi() throws Exception {
        List<String> l = listing();
        assertFalse(l.isEmpty());
        assertEquals(1, l.stream().filter(s -> s.equals("public final class org.zotune.api.Model implements "
                + "java.lang.AutoCloseable")).count(), String.join("\n", l));
    }

    /** One line per public type, then its public members indented, every part sorted. */
    static List<String> listing() throws IOException, URISyntaxException, ClassNotFoundException {
        Path dir = Path.of(Model.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .resolve("org/zotune/api");
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".class") && !n.equals("package-info.class"))
                    .map(n -> n.substring(0, n.length() - ".class".length())).sorted().forEach(names::add);
        }
        List<String> out = new ArrayList<>();
        for (String n : names) {
            Class<?> c = Class.forName("org.zotune.api." + n);
            if (!isPublic(c)) {
                continue;
            }
            out.add(header(c));
            List<String> members = new ArrayList<>();
            for (Constructor<?> k : c.getDeclaredConstructors()) {
                if (Modifier.isPublic(k.getModifiers())) {
                    members.add("  " + executable(k));
                }
            }
            for (Method m : c.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && !m.isSynthetic() && !m.isBridge()) {
                    members.add("  " + executable(m));
                }
            }
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isPublic(f.getModifiers()) && !f.isSynthetic()) {
                    members.add("  " + f.toGenericString());
                }
            }
            members.sort(null);
            out.addAll(members);
        }
        return out;
    }

    private static boolean isPublic(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getEnclosingClass()) {
            if (!Modifier.isPublic(k.getModifiers())) {
                return false;
            }
        }
        return !c.isSynthetic() && !c.isAnonymousClass();
    }

    private static String header(Class<?> c) {
        StringBuilder b = new StringBuilder(Modifier.toString(c.getModifiers() & ~Modifier.STATIC
                & ~Modifier.INTERFACE & ~Modifier.ABSTRACT | (c.isInterface() ? 0 : c.getModifiers()
                & Modifier.ABSTRACT)));
        String kind = c.isRecord() ? "record" : c.isEnum() ? "enum" : c.isInterface() ? "interface" : "class";
        if (c.isEnum() || c.isRecord()) {
            b = new StringBuilder("public");
        }
        b.append(' ').append(kind).append(' ').append(c.getName());
        if (!c.isEnum() && !c.isRecord() && c.getSuperclass() != null && c.getSuperclass() != Object.class) {
            b.append(" extends ").append(c.getGenericSuperclass().getTypeName());
        }
        if (c.getGenericInterfaces().length > 0) {
            b.append(c.isInterface() ? " extends " : " implements ").append(String.join(", ",
                    Arrays.stream(c.getGenericInterfaces()).map(t -> t.getTypeName()).toList()));
        }
        return b.toString();
    }

    private static String executable(Executable e) {
        return e.toGenericString().replace(" native ", " ");
    }
}
