package org.zotune.model;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The default model shipped inside the jar: llama2.c's stories260K with its 512-token vocabulary (MIT; see
 * the NOTICE beside it). The loaders read files, so the two resources are copied once per process into a
 * temporary folder that is removed at exit.
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

    private static BundledModel extracted;

    /** Extracts the bundled files (first call only) and returns where they are. */
    public static synchronized BundledModel get() {
        if (extracted == null) {
            try {
                Path dir = Files.createTempDirectory("zotune-stories260K-");
                dir.toFile().deleteOnExit(); // registered first, so deleted after the files inside it
                Path model = copy(MODEL_FILE, dir);
                Path tokenizer = copy(TOKENIZER_FILE, dir);
                extracted = new BundledModel(model, tokenizer, attributionLine());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot extract the bundled stories260K model to a temporary folder", e);
            }
        }
        return extracted;
    }

    private static Path copy(String name, Path dir) throws IOException {
        Path target = dir.resolve(name);
        target.toFile().deleteOnExit();
        try (InputStream in = open(name)) {
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
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
