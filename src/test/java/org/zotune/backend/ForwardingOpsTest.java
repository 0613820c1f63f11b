package org.zotune.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A wrapper of {@link Ops} that leaves a method to the interface default silently loses the backend's fused kernel
 * (the captured ZO step once ran the unfused residual + norm this way). So: {@link ForwardingOps} declares every
 * method of Ops, defaults included, and every class of the code base (main and test classes) that implements Ops by
 * holding another Ops extends ForwardingOps.
 */
class ForwardingOpsTest {

    @Test
    void forwardingOpsDeclaresEveryMethodOfOps() {
        assertEquals(List.of(), undeclared(ForwardingOps.class), "Ops methods ForwardingOps leaves to the interface");
        assertTrue(Arrays.stream(Ops.class.getMethods()).anyMatch(Method::isDefault), "Ops has default methods");
    }

    @Test
    void everyWrapperOfOpsIsAForwardingOps() {
        List<Class<?>> all = new ArrayList<>();
        for (Class<?> anchor : new Class<?>[] {Ops.class, ForwardingOpsTest.class}) {
            all.addAll(classesUnder(anchor));
        }
        List<Class<?>> wrappers = all.stream().filter(c -> c.getEnclosingClass() != ForwardingOpsTest.class)
                .filter(ForwardingOpsTest::wrapsOps).toList();
        assertTrue(wrappers.size() >= 3, "the scan found the known wrappers (BoundInputOps, InputRecorder, the"
                + " liveness test's ops), found " + wrappers);
        List<String> bad = wrappers.stream().filter(c -> !ForwardingOps.class.isAssignableFrom(c))
                .map(Class::getName).toList();
        assertEquals(List.of(), bad, "classes that wrap an Ops without extending ForwardingOps");
    }

    @Test
    void theChecksCatchAWrapperThatLeavesADefault() {
        assertFalse(undeclared(LeavesDefaults.class).isEmpty(), "a base that forwards only the abstract methods");
        assertTrue(wrapsOps(LeavesDefaults.class), "holding an Ops makes a class a wrapper");
        assertFalse(wrapsOps(ForwardingOps.class), "the base itself is where the delegate lives");
    }

    /** Ops methods (abstract and default) that {@code base} does not declare itself, as name(parameters). */
    static List<String> undeclared(Class<?> base) {
        List<String> missing = new ArrayList<>();
        for (Method m : Ops.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            try {
                Method d = base.getDeclaredMethod(m.getName(), m.getParameterTypes());
                if (Modifier.isAbstract(d.getModifiers())) {
                    missing.add(signature(m) + " (abstract)");
                }
            } catch (NoSuchMethodException e) {
                missing.add(signature(m));
            }
        }
        missing.sort(null);
        return missing;
    }

    private static String signature(Method m) {
        return m.getName() + Arrays.stream(m.getParameterTypes()).map(Class::getSimpleName).toList();
    }

    /** A concrete Ops implementation with an instance field (its own or inherited) holding an Ops. */
    static boolean wrapsOps(Class<?> c) {
        if (!Ops.class.isAssignableFrom(c) || c.isInterface() || c == ForwardingOps.class) {
            return false;
        }
        for (Class<?> k = c; k != null && k != ForwardingOps.class; k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers()) && Ops.class.isAssignableFrom(f.getType())) {
                    return true;
                }
            }
        }
        return ForwardingOps.class.isAssignableFrom(c) && c != ForwardingOps.class;
    }

    /** Every class compiled into the same directory tree as {@code anchor} (target/classes, target/test-classes). */
    private static List<Class<?>> classesUnder(Class<?> anchor) {
        Path root;
        try {
            root = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        assertTrue(Files.isDirectory(root), "compiled classes of " + anchor.getName() + " are a directory: " + root);
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                String rel = root.relativize(p).toString();
                if (rel.endsWith("module-info.class") || rel.endsWith("package-info.class")) {
                    continue;
                }
                String name = rel.substring(0, rel.length() - ".class".length()).replace(p.getFileSystem()
                        .getSeparator(), ".");
                try {
                    out.add(Class.forName(name, false, anchor.getClassLoader()));
                } catch (ClassNotFoundException | LinkageError e) {
                    throw new IllegalStateException("cannot load " + name + " from " + root, e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** What the checks must reject: forwards the abstract methods only, the fused defaults fall to Ops. */
    private abstract static class LeavesDefaults implements Ops {
        final Ops inner;

        LeavesDefaults(Ops inner) {
            this.inner = inner;
        }

        @Override
        public Tensor linear(Tensor x, Tensor w, Tensor bias) {
            return inner.linear(x, w, bias);
        }
    }
}
