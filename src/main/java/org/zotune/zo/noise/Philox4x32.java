package org.zotune.zo.noise;

/**
 * Philox4x32-10, the counter-based generator of Random123 (Salmon, Moraes, Dror, Shaw, SC'11).
 * A pure function of a 128-bit counter and a 64-bit key: ten rounds of two 32x32->64 multiplies,
 * with the key bumped by the Weyl constants between rounds. cuRAND's {@code curand_Philox4x32_10}
 * and zotune's CUDA kernels produce the same words.
 *
 * <p>Words are Java {@code int}s holding the unsigned 32-bit values (compare with {@code Integer.toUnsignedString}).
 */
public final class Philox4x32 {
    static final int M0 = 0xD2511F53;
    static final int M1 = 0xCD9E8D57;
    static final int W0 = 0x9E3779B9;
    static final int W1 = 0xBB67AE85;
    public static final int ROUNDS = 10;

    private Philox4x32() {
    }

    /**
     * Generates the four output words for counter (c0, c1, c2, c3) and key (k0, k1) into {@code out[0..3]}.
     */
    public static void generate(int c0, int c1, int c2, int c3, int k0, int k1, int[] out) {
        for (int r = 0; r < ROUNDS; r++) {
            if (r > 0) { // the key is bumped before every round but the first
                k0 += W0;
                k1 += W1;
            }
            long p0 = (M0 & 0xffffffffL) * (c0 & 0xffffffffL);
            long p1 = (M1 & 0xffffffffL) * (c2 & 0xffffffffL);
            int hi0 = (int) (p0 >>> 32);
            int lo0 = (int) p0;
            int hi1 = (int) (p1 >>> 32);
            int lo1 = (int) p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        out[0] = c0;
        out[1] = c1;
        out[2] = c2;
        out[3] = c3;
    }

    /** Convenience form returning a new array of four words. */
    public static int[] generate(int c0, int c1, int c2, int c3, int k0, int k1) {
        int[] out = new int[4];
        generate(c0, c1, c2, c3, k0, k1, out);
        return out;
    }
}
