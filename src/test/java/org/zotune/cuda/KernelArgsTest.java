package org.zotune.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.LongPointer;
import org.junit.jupiter.api.Test;

/** Kernel argument packing (no GPU needed: only JavaCPP's own native memory). */
class KernelArgsTest {

    @Test
    void valuesLandInTheirSlotsAndTheParamsArrayPointsAtTheSlots() {
        try (KernelArgs a = new KernelArgs("pifld")) {
            a.ptr(0, 0x7f00_1234_5678L).i32(1, -42).f32(2, 1.5f).i64(3, 1L << 40).f64(4, 0.25);
            assertEquals(0x7f00_1234_5678L, a.rawSlot(0));
            assertEquals(-42, (int) a.rawSlot(1));
            assertEquals(1.5f, Float.intBitsToFloat((int) a.rawSlot(2)));
            assertEquals(1L << 40, a.rawSlot(3));
            assertEquals(0.25, Double.longBitsToDouble(a.rawSlot(4)));
            // kernelParams[i] must be the ADDRESS of argument i's value (the PointerPointer pitfall)
            LongPointer argv = new LongPointer(a.kernelParams());
            for (int i = 0; i < 5; i++) {
                assertEquals(a.slotAddress(i), argv.get(i), "kernelParams[" + i + "]");
            }
            assertEquals(a.slotAddress(0) + 8, a.slotAddress(1));
        }
    }

    @Test
    void reusedArgumentsOverwriteInPlace() {
        try (KernelArgs a = new KernelArgs("pi")) {
            long before = a.slotAddress(1);
            a.i32(1, 7);
            a.i32(1, 9);
            assertEquals(9, (int) a.rawSlot(1));
            assertEquals(before, a.slotAddress(1));
        }
    }

    @Test
    void wrongTypesAreRefused() {
        try (KernelArgs a = new KernelArgs("pi")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.i32(0, 1));
            assertEquals("argument 0 of kernel signature 'pi' is not 'i'", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> a.ptr(2, 0));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new KernelArgs("px"));
        assertEquals("kernel signature 'px': unknown argument type 'x' (expected p, i, l, f or d)", e.getMessage());
    }
}
