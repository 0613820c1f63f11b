package org.zotune.backend.cuda;

import java.util.Map;
import org.zotune.cuda.Kernel;

/**
 * Launchers of native/kernels/tf32_split.cu: float32 rows split into TF32 parts for the 3xTF32 products of
 * {@link MatrixProducts}, with the plain-Java reference of the split ({@link #hi}; public for the tests of the other
 * kernels that write this split: zo_shadow_split).
 */
public final class Tf32SplitKernels {
    /** Where lo goes in a split row [p0 | p1 | p2]: part 0 for X ([lo | hi | hi]), part 1 for W ([hi | lo | hi]). */
    public static final int LO_FIRST = 0;
    public static final int LO_SECOND = 1;

    private final KernelSet k;

    Tf32SplitKernels(KernelSet kernels) {
        this.k = kernels;
        k.register(signatures());
    }

    /** Kernel name → launch signature. */
    static Map<String, String> signatures() {
        Map<String, String> s = KernelSet.table();
        s.put("tf32_split_rows_f32", "piiiip");
        return s;
    }

    /**
     * out [rows, 3·cols] (dense) = each row of the float32 matrix at {@code x} (rows {@code ld} floats apart) as
     * three parts, lo = x − hi in part {@code loPart} and hi = {@link #hi}(x) in the other two.
     */
    void splitRows(long x, int ld, int rows, int cols, int loPart, long out) {
        Kernel split = k.get("tf32_split_rows_f32");
        split.args().ptr(0, x).i32(1, ld).i32(2, rows).i32(3, cols).i32(4, loPart).ptr(5, out);
        boolean vec = cols % 4 == 0 && ld % 4 == 0 && KernelSet.aligned(x, out);
        long work = (long) rows * (vec ? cols / 4 : cols);
        split.launch(k.grid(work), KernelSet.THREADS, k.stream);
    }

    /**
     * The reference of the kernel's hi part: x rounded to TF32 (the top 10 of float32's 23 mantissa bits), to
     * nearest with ties away from zero, by adding half of TF32's last place to the magnitude bits and clearing the
     * 13 low bits. For a non-finite x (or one within half a TF32 place of float32's largest) hi + lo is NaN, not x:
     * a product it enters is NaN where SGEMM's might be infinite; both are non-finite losses to the trainer's guard.
     */
    public static float hi(float x) {
        return Float.intBitsToFloat((Float.floatToRawIntBits(x) + 0x1000) & 0xffffe000);
    }
}
