package org.zotune.zo.noise;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/** The Random123 known-answer vectors (kat_vectors, philox4x32_10), as listed in ALGORITHMS.md §1. */
class Philox4x32Test {

    private static int h(String hex) {
        return Integer.parseUnsignedInt(hex, 16);
    }

    private static void check(String ctr, String key, String expected) {
        String[] c = ctr.split(" ");
        String[] k = key.split(" ");
        String[] e = expected.split(" ");
        int[] out = Philox4x32.generate(h(c[0]), h(c[1]), h(c[2]), h(c[3]), h(k[0]), h(k[1]));
        int[] want = {h(e[0]), h(e[1]), h(e[2]), h(e[3])};
        assertArrayEquals(want, out, () -> "Philox4x32-10 ctr " + ctr + " key " + key);
    }

    @Test
    void zeroCounterZeroKey() {
        check("00000000 00000000 00000000 00000000", "00000000 00000000", "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
    }

    @Test
    void allOnes() {
        check("ffffffff ffffffff ffffffff ffffffff", "ffffffff ffffffff", "408f276d 41c83b0e a20bc7c6 6d5451fd");
    }

    @Test
    void piDigits() {
        check("243f6a88 85a308d3 13198a2e 03707344", "a4093822 299f31d0", "d16cfe09 94fdcceb 5001e420 24126ea1");
    }
}
