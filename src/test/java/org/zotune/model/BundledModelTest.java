package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bundled model is extracted once into a stable, content-named folder that every process reuses. */
class BundledModelTest {
    @TempDir
    Path dir;

    /** A child JVM: prints where {@link BundledModel#get} put the model. */
    public static final class Where {
        public static void main(String[] args) {
            System.out.println(BundledModel.get().model());
        }
    }

    @Test
    void everyProcessReusesOneContentNamedFolder() throws Exception {
        Path cache = dir.resolve("cache");
        String first = where(cache);
        String second = where(cache);
        assertEquals(first, second);
        BundledModel here = BundledModel.extractTo(cache);
        assertEquals(first, here.model().toString());
        assertEquals(here.model().getParent(), here.tokenizer().getParent());
        assertTrue(here.model().getParent().getFileName().toString().matches("stories260K-[0-9a-f]{16}"));
        assertArrayEquals(resource(BundledModel.MODEL_FILE), Files.readAllBytes(here.model()));
        assertArrayEquals(resource(BundledModel.TOKENIZER_FILE), Files.readAllBytes(here.tokenizer()));
        // nothing else was left there: one folder, two files, no temporary copies
        try (Stream<Path> s = Files.walk(cache)) {
            assertEquals(List.of(cache, cache.resolve("bundled"), here.model().getParent(), here.model(),
                    here.tokenizer()), s.sorted().toList());
        }
    }

    @Test
    void aDamagedCopyIsRewritten() throws IOException {
        BundledModel b = BundledModel.extractTo(dir);
        byte[] model = Files.readAllBytes(b.model());
        Files.write(b.model(), new byte[] {1, 2, 3}); // truncated
        byte[] flipped = Files.readAllBytes(b.tokenizer());
        flipped[flipped.length / 2] ^= 1; // same length, other bytes
        Files.write(b.tokenizer(), flipped);
        BundledModel again = BundledModel.extractTo(dir);
        assertEquals(b, again);
        assertArrayEquals(model, Files.readAllBytes(again.model()));
        assertArrayEquals(resource(BundledModel.TOKENIZER_FILE), Files.readAllBytes(again.tokenizer()));
    }

    @Test
    void theCacheFolderFollowsThePropertyElseTheUserCacheThenTheTemporaryFolder() {
        String old = System.getProperty(BundledModel.CACHE_PROPERTY);
        try {
            System.setProperty(BundledModel.CACHE_PROPERTY, dir.toString());
            assertEquals(List.of(dir), BundledModel.cacheFolders());
            System.clearProperty(BundledModel.CACHE_PROPERTY);
            List<Path> places = BundledModel.cacheFolders();
            assertEquals(Path.of(System.getProperty("java.io.tmpdir"), "zotune-" + System.getProperty("user.name")),
                    places.get(places.size() - 1));
            assertTrue(places.get(0).endsWith("zotune"), places.toString());
        } finally {
            if (old != null) {
                System.setProperty(BundledModel.CACHE_PROPERTY, old);
            }
        }
    }

    private static String where(Path cache) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-D" + BundledModel.CACHE_PROPERTY + "=" + cache,
                Where.class.getName()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        return out;
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = BundledModel.class.getResourceAsStream(BundledModel.RESOURCE_DIR + name)) {
            return in.readAllBytes();
        }
    }
}
