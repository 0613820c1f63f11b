package org.zotune.model;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.io.AtomicFiles;

/**
 * The default model shipped inside the jar: llama2.c's stories260K with its 512-token vocabulary (MIT; see
 * the NOTICE beside it). The loaders read files, so the two resources are extracted into one stable folder named
 * by their content, {@code <cache>/bundled/stories260K-<sha256 prefix>/}, and reused by every later process: no run
 * leaves a copy behind, and a changed bundle gets a new folder. {@code <cache>} is the system property
 * {@code zotune.cache}, else {@code $XDG_CACHE_HOME/zotune}, else {@code ~/.cache/zotune}, and when that cannot
 * be written, {@code <tmpdir>/zotune-<user>}. A file there is reused only when its bytes are the resource's, and
 * (re)written atomically otherwise, so concurrent processes and a tampered or truncated copy are safe.
 *
 * @param model       the extracted stories260K.bin
 * @param tokenizer   the extracted tok512.bin
 * @param attribution the NOTICE's first line, printed whenever the default model is used
 */
public record BundledModel(Path model, Path tokenizer, String attribution) {
    static final String RESOURCE_DIR = "/org/zotune/models/stories260K/";
    static final String MODEL_FILE = "stories260K.bin";
    static final String TOKENIZER_FILE = "tok512.bin";
    static final String NOTICE_FILE = "NOTICE";
    /** Overrides the cache folder the bundle is extracted under. */
    public static final String CACHE_PROPERTY = "zotune.cache";

    private static BundledModel extracted;

    /** Extracts the bundled files (first call only; reused when already there) and returns where they are. */
    public static synchronized BundledModel get() {
        if (extracted == null) {
            List<Path> bases = cacheFolders();
            List<String> failures = new ArrayList<>();
            for (Path base : bases) {
                try {
                    extracted = extractTo(base);
                    break;
                } catch (IOException | ZotuneException e) { // e.g. a read-only home: try the next place
                    failures.add(e.getMessage());
                }
            }
            if (extracted == null) {
                throw new ZotuneException("cannot extract the bundled stories260K model: " + String.join("; ",
                        failures) + " (set -D" + CACHE_PROPERTY + "=DIR to a writable folder)");
            }
        }
        return extracted;
    }

    /** Extracts (or reuses) the bundle in its content-named folder under {@code base}. */
    static BundledModel extractTo(Path base) throws IOException {
        byte[] model = resource(MODEL_FILE);
        byte[] tokenizer = resource(TOKENIZER_FILE);
        Path dir = base.resolve("bundled").resolve("stories260K-" + contentId(model, tokenizer));
        return new BundledModel(place(dir.resolve(MODEL_FILE), model), place(dir.resolve(TOKENIZER_FILE), tokenizer),
                attributionLine());
    }

    /** Where the bundle may go, in order of preference (see the class comment). */
    static List<Path> cacheFolders() {
        List<Path> out = new ArrayList<>();
        String property = System.getProperty(CACHE_PROPERTY);
        if (property != null && !property.isBlank()) {
            out.add(Path.of(property));
            return out; // asked for explicitly: nowhere else
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
            out.add(Path.of(xdg, "zotune"));
        } else if (System.getProperty("user.home") != null) {
            out.add(Path.of(System.getProperty("user.home"), ".cache", "zotune"));
        }
        out.add(Path.of(System.getProperty("java.io.tmpdir"), "zotune-" + System.getProperty("user.name", "user")));
        return out;
    }

    /** The first 16 hex digits of the SHA-256 of both files (lengths included, so no two bundles share a name). */
    private static String contentId(byte[] model, byte[] tokenizer) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (byte[] b : new byte[][] {model, tokenizer}) {
                d.update(ByteBuffer.allocate(Long.BYTES).putLong(b.length).array());
                d.update(b);
            }
            return HexFormat.of().formatHex(d.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this Java runtime", e);
        }
    }

    /** {@code file} holding {@code bytes}: kept when it already does, written atomically otherwise. */
    private static Path place(Path file, byte[] bytes) throws IOException {
        if (Files.isRegularFile(file) && Files.size(file) == bytes.length
                && Arrays.equals(Files.readAllBytes(file), bytes)) {
            return file;
        }
        AtomicFiles.write(file, bytes);
        return file;
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = open(name)) {
            return in.readAllBytes();
        }
    }

    private static String attributionLine() throws IOException {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(open(NOTICE_FILE), StandardCharsets.UTF_8))) {
            String line = r.readLine();
            return line != null ? line : "";
        }
    }

    private static InputStream open(String name) throws IOException {
        InputStream in = BundledModel.class.getResourceAsStream(RESOURCE_DIR + name);
        if (in == null) {
            // a jar built without src/main/resources: a packaging bug, not bad input
            throw new IOException("resource " + RESOURCE_DIR + name + " is missing from the classpath");
        }
        return in;
    }
}
