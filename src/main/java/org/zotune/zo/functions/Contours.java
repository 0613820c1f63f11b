package org.zotune.zo.functions;

import java.util.ArrayList;
import java.util.List;
import java.util.function.DoubleBinaryOperator;

/**
 * Contour lines by marching squares on a regular grid: each level's segments as one polyline list with NaN
 * separators (XChart breaks a line at a NaN y), so a level is one chart series.
 */
final class Contours {
    private Contours() {
    }

    /** The grid values f(x_i, y_j) on n × n points over [-h, h]². */
    static double[][] grid(DoubleBinaryOperator f, double h, int n) {
        double[][] z = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                z[i][j] = f.applyAsDouble(coord(h, n, i), coord(h, n, j));
            }
        }
        return z;
    }

    static double coord(double h, int n, int i) {
        return -h + 2 * h * i / (n - 1);
    }

    /** Segments of level c: {xs, ys} with NaN between segments. */
    static double[][] level(double[][] z, double h, int n, double c) {
        List<double[]> pts = new ArrayList<>();
        double[] ex = new double[4];
        double[] ey = new double[4];
        for (int i = 0; i + 1 < n; i++) {
            for (int j = 0; j + 1 < n; j++) {
                // corners in order (i,j) (i+1,j) (i+1,j+1) (i,j+1); edges between consecutive corners
                int[][] c4 = {{i, j}, {i + 1, j}, {i + 1, j + 1}, {i, j + 1}};
                int k = 0;
                for (int e = 0; e < 4; e++) {
                    int[] p = c4[e];
                    int[] q = c4[(e + 1) % 4];
                    double a = z[p[0]][p[1]] - c;
                    double b = z[q[0]][q[1]] - c;
                    if ((a < 0) != (b < 0)) {
                        double s = a / (a - b);
                        ex[k] = coord(h, n, p[0]) + s * (coord(h, n, q[0]) - coord(h, n, p[0]));
                        ey[k] = coord(h, n, p[1]) + s * (coord(h, n, q[1]) - coord(h, n, p[1]));
                        k++;
                    }
                }
                for (int s = 0; s + 1 < k; s += 2) { // 2 crossings: one segment; 4 (saddle): two
                    pts.add(new double[] {ex[s], ey[s]});
                    pts.add(new double[] {ex[s + 1], ey[s + 1]});
                    pts.add(new double[] {Double.NaN, Double.NaN});
                }
            }
        }
        double[] xs = new double[pts.size()];
        double[] ys = new double[pts.size()];
        for (int k = 0; k < xs.length; k++) {
            xs[k] = pts.get(k)[0];
            ys[k] = pts.get(k)[1];
        }
        return new double[][] {xs, ys};
    }

    /** Levels spaced evenly in log between max(1e-2, max·1e-6) and the grid's maximum. */
    static double[] levels(double[][] z, int count) {
        double max = 0;
        for (double[] row : z) {
            for (double v : row) {
                max = Math.max(max, v);
            }
        }
        double lo = Math.max(1e-2, max * 1e-6);
        double[] out = new double[count];
        for (int k = 0; k < count; k++) {
            out[k] = lo * Math.pow(max / lo, (double) k / count);
        }
        return out;
    }
}
