package org.zotune.dfo.search;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/**
 * dfo sections at the extremes the binder lets through (population 2^31 - 1, a subspace whose full covariance has
 * more entries than a Java array or the heap holds) are one line naming the sizes, not a NegativeArraySizeException
 * or an OutOfMemoryError (issue 16, deliverable 2).
 */
class SearchSizeStrictnessTest {
    private static void refused(Runnable make, String... fragments) {
        ZotuneException e = assertThrows(ZotuneException.class, make::run);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), e.getMessage());
        }
    }

    @Test
    void aFullCovarianceBeyondAnArrayOrTheHeapIsRefused() {
        // 100,000² = 10^10 entries: beyond a Java array (it overflowed int to an 11 GB allocation)
        refused(() -> CmaEs.create(100_000, 4, 0.3, false, 1), "CMA-ES", "100000", "separable");
        // 30,000² · 2 · 8 bytes = 14 GB: within an array, beyond any test heap
        refused(() -> CmaEs.create(30_000, 4, 0.3, false, 1), "CMA-ES", "heap");
    }

    @Test
    void aPopulationBeyondTheHeapIsRefused() {
        refused(() -> CmaEs.create(8, Integer.MAX_VALUE, 0.3, true, 1), "CMA-ES", "population 2147483647", "heap");
        refused(() -> Fireworks.create(8, Integer.MAX_VALUE, 0.3, 1), "fireworks", "population 2147483647", "heap");
    }

    @Test
    void ordinarySizesStillBuild() {
        CmaEs.create(500, 20, 0.3, true, 1);
        CmaEs.create(200, 20, 0.3, false, 1);
        Fireworks.create(500, 20, 0.3, 1);
    }
}
