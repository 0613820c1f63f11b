package org.zotune.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesLinkTest {
    @TempDir
    Path dir;

    @Test
    void linkGivesTheFileASecondNameThatLaterWritesOfEitherLeaveAlone() throws IOException {
        Path best = dir.resolve("best/model.safetensors");
        Path model = dir.resolve("model/model.safetensors");
        AtomicFiles.writeString(best, "theta at step 1000");
        AtomicFiles.writeString(model, "theta at step 500"); // an older file is replaced
        AtomicFiles.link(best, model);
        assertEquals("theta at step 1000", Files.readString(model));
        assertTrue(Files.isSameFile(best, model), "a hard link, not a copy");

        // a write renames a new file over one name: the other keeps the old bytes
        AtomicFiles.writeString(best, "theta at step 1500");
        assertEquals("theta at step 1000", Files.readString(model));
        assertFalse(Files.isSameFile(best, model));
        try (Stream<Path> s = Files.list(best.getParent()); Stream<Path> m = Files.list(model.getParent())) {
            assertEquals(List.of(best), s.toList(), "no temporary names left");
            assertEquals(List.of(model), m.toList(), "no temporary names left");
        }
    }

    @Test
    void linkToANewFolderCreatesIt() throws IOException {
        Path from = dir.resolve("a.bin");
        AtomicFiles.write(from, "bytes".getBytes(StandardCharsets.UTF_8));
        Path to = dir.resolve("x/y/b.bin");
        AtomicFiles.link(from, to);
        assertArrayEquals(Files.readAllBytes(from), Files.readAllBytes(to));
    }
}
