package org.zotune.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.zotune.tensor.DType;

/** The reference erf GELU against published values: erf from tables, GELU(x) = x·Φ(x) with Φ from normal tables. */
class GeluErfTest {

    @Test
    void erfMatchesTabulatedValuesOnBothSidesOfTheSeriesBoundary() {
        double[][] table = {
            {0.0, 0.0},
            {0.5, 0.5204998778130465},
            {1.0, 0.8427007929497149},
            {2.0, 0.9953222650189527},
            {3.0, 0.9999779095030014},
            {3.9, 0.9999999652077514},
            {4.5, 0.9999999998033839},
            {5.0, 0.9999999999984626},
        };
        for (double[] row : table) {
            assertEquals(row[1], Erf.erf(row[0]), 1e-15, "erf(" + row[0] + ")");
            assertEquals(-row[1], Erf.erf(-row[0]), 1e-15, "erf(-" + row[0] + ")");
        }
        // erfc in the tail, relative: erfc(4.5) = 1.966160441542887e-10
        assertEquals(1.966160441542887e-10, 1 - Erf.erf(4.5), 1e-15);
    }

    @Test
    void geluIsXTimesTheNormalCdf() {
        // x, Φ(x)
        double[][] phi = {
            {1.0, 0.8413447460685429},
            {-1.0, 0.15865525393145707},
            {2.0, 0.9772498680518208},
            {-3.0, 0.0013498980316300946},
            {-6.0, 9.865876450376946e-10},
            {0.25, 0.5987063256829237},
        };
        CpuOps ops = new CpuOps(DType.F32);
        float[] x = new float[phi.length];
        for (int i = 0; i < phi.length; i++) {
            x[i] = (float) phi[i][0];
        }
        var t = ops.tensor(x, 1, x.length);
        ops.geluErfInPlace(t);
        float[] got = ops.toHost(t);
        for (int i = 0; i < phi.length; i++) {
            double want = phi[i][0] * phi[i][1];
            assertEquals(want, got[i], Math.abs(want) * 1e-7, "gelu(" + phi[i][0] + ")");
        }
    }
}
