package org.zotune.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The tuner's rule ({@link Tf32Tuner#pick}), without a GPU: among candidates that already reproduce the default's
 * bits, the fastest, and only if it is at least 3 % faster than the default; otherwise the default stays.
 */
class Tf32TunerPickTest {
    @Test
    void theFastestCandidateWinsOnlyByTheMargin() {
        assertEquals(-1, Tf32Tuner.pick(100, List.of()), "no candidate: the default");
        assertEquals(-1, Tf32Tuner.pick(100, List.of(99.0, 97.5)), "within 3 %: the default");
        assertEquals(-1, Tf32Tuner.pick(100, List.of(97.0, 104.0)), "exactly 3 % faster is not enough");
        assertEquals(0, Tf32Tuner.pick(100, List.of(96.9, 98.0)), "just past the margin");
        assertEquals(1, Tf32Tuner.pick(45.9, List.of(45.9, 41.8, 44.0)), "the fastest of several (an H100's q/k/v)");
        assertEquals(2, Tf32Tuner.pick(100, List.of(120.0, 95.0, 80.0, 90.0)), "slower ones ignored");
    }
}
