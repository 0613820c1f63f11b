package org.zotune.dfo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.dfo.search.AskTell;
import org.zotune.dfo.search.CmaEs;
import org.zotune.dfo.search.Fireworks;

/**
 * A DFO-LoRA search state (search.bin) that was corrupted, cut or hand-edited is refused in one line
 * ({@link ZotuneException}) before it replaces anything: no allocation from a length it claims, no non-finite point,
 * step size or loss taken in (they would make every later candidate, and the exported adapter, NaN).
 */
class SearchStateStrictnessTest {
    private static DfoSearch search() {
        return new DfoSearch(new SearchFixtures.Quadratic(2, 4), (layer, kind, dimension, seed) -> switch (kind) {
            case CMA_ES -> CmaEs.create(dimension, 4, 0.3, false, seed);
            case FIREWORKS -> Fireworks.create(dimension, 4, 0.3, seed);
        }, new DfoSearch.Settings(DfoSearch.Method.ALTERNATE, DfoSearch.Schedule.ROUNDS, 4, 200, 5));
    }

    private static byte[] state(int generations) throws IOException {
        DfoSearch s = search();
        for (int i = 0; i < generations; i++) {
            s.step();
        }
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream d = new DataOutputStream(b)) {
            s.writeState(d);
        }
        return b.toByteArray();
    }

    private static ZotuneException refused(byte[] bytes) {
        DfoSearch s = search();
        return assertThrows(ZotuneException.class, () -> s.readState(new DataInputStream(
                new ByteArrayInputStream(bytes))));
    }

    // header: magic, version, method, schedule, population (5 ints), budget, seed (2 longs), layers, dimension
    // (2 ints), position, evaluations (2 longs) = 60 bytes; then per layer its best loss and D best coordinates
    private static final int BESTS = 60;
    private static final int OPTIMIZERS = BESTS + 2 * 5 * 8;

    /** The offset of the first present optimiser's length field. */
    private static int firstOptimizerLength(byte[] s) {
        int p = OPTIMIZERS;
        while (s[p] == 0) {
            p++;
        }
        return p + 1;
    }

    @Test
    void theSavedStateLoads() throws IOException {
        byte[] s = state(3);
        DfoSearch r = search();
        r.readState(new DataInputStream(new ByteArrayInputStream(s)));
        assertEquals(3, r.position());
    }

    @Test
    void anOptimiserLengthThatIsNegativeOrBeyondTheFileIsRefused() throws IOException {
        byte[] s = state(3);
        int at = firstOptimizerLength(s);
        ByteBuffer.wrap(s).putInt(at, -5);
        assertTrue(refused(s).getMessage().contains("-5"));
        ByteBuffer.wrap(s).putInt(at, Integer.MAX_VALUE);
        // a claimed 2 GiB block is not allocated: the short file ends the read
        DfoSearch r = search();
        assertThrows(java.io.EOFException.class, () -> r.readState(new DataInputStream(new ByteArrayInputStream(s))));
    }

    @Test
    void bytesAfterAnOptimisersOwnStateAreRefused() throws IOException {
        byte[] s = state(3);
        int at = firstOptimizerLength(s);
        int len = ByteBuffer.wrap(s).getInt(at);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(s, 0, at);
        b.write(ByteBuffer.allocate(4).putInt(len + 3).array());
        b.write(s, at + 4, len);
        b.write(new byte[3]);
        b.write(s, at + 4 + len, s.length - at - 4 - len);
        assertTrue(refused(b.toByteArray()).getMessage().contains("bytes after"));
    }

    @Test
    void aNonFiniteBestPointOrNaNBestLossIsRefused() throws IOException {
        byte[] s = state(3);
        ByteBuffer.wrap(s).putDouble(BESTS + 8, Double.NaN); // layer 0's first coordinate
        assertTrue(refused(s).getMessage().contains("layer 0"));
        s = state(3);
        ByteBuffer.wrap(s).putDouble(BESTS + 5 * 8 + 16, Double.POSITIVE_INFINITY); // layer 1's second coordinate
        assertTrue(refused(s).getMessage().contains("layer 1"));
        s = state(3);
        ByteBuffer.wrap(s).putDouble(BESTS, Double.NaN); // layer 0's best loss
        assertTrue(refused(s).getMessage().contains("loss"));
    }

    private static byte[] cmaState() throws IOException {
        CmaEs c = CmaEs.create(4, 4, 0.3, false, 9);
        for (int g = 0; g < 3; g++) {
            double[][] x = c.ask();
            double[] v = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                v[i] = x[i][0] * x[i][0] + x[i][1];
            }
            c.tell(v);
        }
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream d = new DataOutputStream(b)) {
            c.writeState(d);
        }
        return b.toByteArray();
    }

    private static void cmaRefuses(byte[] s, String fragment) {
        AskTell c = CmaEs.create(4, 4, 0.3, false, 9);
        ZotuneException e = assertThrows(ZotuneException.class, () -> c.readState(new DataInputStream(
                new ByteArrayInputStream(s))));
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    // CMA-ES: magic, version, n, λ (4 ints), separable (1 byte), seed, generation (2 longs), σ, then the mean
    private static final int CMA_GENERATION = 25;
    private static final int CMA_SIGMA = 33;
    private static final int CMA_MEAN = 41;

    @Test
    void aCmaEsStateWithANonFiniteOrNonPositiveStepSizeOrMeanIsRefused() throws IOException {
        for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, 0, -1}) {
            byte[] s = cmaState();
            ByteBuffer.wrap(s).putDouble(CMA_SIGMA, bad);
            cmaRefuses(s, "sigma");
        }
        byte[] s = cmaState();
        ByteBuffer.wrap(s).putDouble(CMA_MEAN + 8, Double.NaN);
        cmaRefuses(s, "non-finite");
        s = cmaState();
        ByteBuffer.wrap(s).putLong(CMA_GENERATION, -1);
        cmaRefuses(s, "generation");
    }

    @Test
    void aFireworksStateWithANonFiniteCoreIsRefused() throws IOException {
        Fireworks f = Fireworks.create(4, 4, 0.3, 9);
        double[][] x = f.ask();
        f.tell(new double[x.length]);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DataOutputStream d = new DataOutputStream(b)) {
            f.writeState(d);
        }
        byte[] s = b.toByteArray();
        ByteBuffer.wrap(s).putDouble(s.length - 8, Double.NaN); // the core's last coordinate
        Fireworks r = Fireworks.create(4, 4, 0.3, 9);
        ZotuneException e = assertThrows(ZotuneException.class, () -> r.readState(new DataInputStream(
                new ByteArrayInputStream(s))));
        assertTrue(e.getMessage().contains("core"), e.getMessage());
    }
}
