package org.zotune;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Locates the shared real data (models, tokenizers, data sets) for tests. */
public final class TestData {
    private TestData() {
    }

    /** The shared data folder: -Dzotune.data=DIR, else ../shared/data; skips the test when absent. */
    public static Path dataDir() {
        String prop = System.getProperty("zotune.data");
        Path dir = prop != null ? Path.of(prop) : Path.of("..", "shared", "data");
        Assumptions.assumeTrue(Files.isDirectory(dir), "shared data not found at " + dir.toAbsolutePath());
        return dir;
    }

    public static Path file(String relative) {
        Path p = dataDir().resolve(relative);
        Assumptions.assumeTrue(Files.exists(p), "shared data file not found: " + p.toAbsolutePath());
        return p;
    }
}
