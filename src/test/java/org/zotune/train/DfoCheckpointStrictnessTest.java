package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.ZotuneException;
import org.zotune.dfo.DfoSearch;
import org.zotune.dfo.SearchFixtures;

/**
 * A DFO-LoRA checkpoint's JSON files with a key given twice (which projection seed, which step?) are refused in one
 * line naming the file, as zotune's other JSON readers refuse them, instead of the last value silently winning.
 */
class DfoCheckpointStrictnessTest {
    @TempDir
    Path run;

    private static DfoSearch search() {
        return new DfoSearch(new SearchFixtures.Quadratic(2, 4), new SearchFixtures.Factory(4),
                new DfoSearch.Settings(DfoSearch.Method.CMA, DfoSearch.Schedule.ROUNDS, 4, 80, 5));
    }

    @Test
    void aKeyGivenTwiceInStateJsonOrLatestJsonIsRefused() throws IOException {
        DfoSearch s = search();
        s.step();
        s.step();
        DfoCheckpoints.save(run, s, 7);
        DfoCheckpoints.load(run, search(), 7); // as saved, it loads

        Path state = run.resolve("checkpoint/step-2/" + DfoCheckpoints.STATE);
        String saved = Files.readString(state);
        Files.writeString(state, saved.replaceFirst("\\{", "{\"projection_seed\": 8,"));
        ZotuneException e = assertThrows(ZotuneException.class, () -> DfoCheckpoints.load(run, search(), 7));
        assertTrue(e.getMessage().startsWith(state.toString()) && e.getMessage().contains("Duplicate field"),
                e.getMessage());

        Files.writeString(state, saved);
        Path latest = run.resolve("checkpoint/" + Checkpoints.LATEST);
        Files.writeString(latest, Files.readString(latest).replaceFirst("\\{", "{\"step\": 1,"));
        e = assertThrows(ZotuneException.class, () -> DfoCheckpoints.load(run, search(), 7));
        assertTrue(e.getMessage().startsWith(latest.toString()) && e.getMessage().contains("Duplicate field"),
                e.getMessage());
    }
}
