package org.zotune.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Reusable argument storage for {@code cuLaunchKernel}: one 8-byte slot per argument in one native
 * block, and a {@code void*[]} whose entries point at the slots (what the driver's kernelParams
 * wants). Built once per kernel; callers {@code put} new values before each launch, which allocates
 * nothing. The signature has one letter per argument: {@code p} device pointer (u64), {@code i} int32,
 * {@code l} int64, {@code f} float32, {@code d} float64.
 */
public final class KernelArgs implements AutoCloseable {
    private final String signature;
    private final BytePointer slots;
    private final PointerPointer<Pointer> argv;

    public KernelArgs(String signature) {
        for (char c : signature.toCharArray()) {
            if ("pilfd".indexOf(c) < 0) {
                throw new IllegalArgumentException("kernel signature '" + signature + "': unknown argument type '"
                        + c + "' (expected p, i, l, f or d)");
            }
        }
        this.signature = signature;
        int n = Math.max(1, signature.length());
        this.slots = new BytePointer(8L * n);
        this.slots.fill(0);
        // sized constructor, then put: PointerPointer's single-pointer constructor would alias instead.
        // It must be a PointerPointer: cuLaunchKernel's plain-Pointer overload passes &pointer (void**
        // output convention), not the array.
        this.argv = new PointerPointer<>((long) n);
        for (int i = 0; i < n; i++) {
            argv.put(i, new BytePointer(slots).position(8L * i));
        }
    }

    public String signature() {
        return signature;
    }

    public int count() {
        return signature.length();
    }

    private void expect(int i, char type) {
        if (i < 0 || i >= signature.length() || signature.charAt(i) != type) {
            throw new IllegalArgumentException("argument " + i + " of kernel signature '" + signature + "' is not '"
                    + type + "'");
        }
    }

    public KernelArgs ptr(int i, long deviceAddress) {
        expect(i, 'p');
        slots.putLong(8L * i, deviceAddress);
        return this;
    }

    public KernelArgs i32(int i, int value) {
        expect(i, 'i');
        slots.putInt(8L * i, value);
        return this;
    }

    public KernelArgs i64(int i, long value) {
        expect(i, 'l');
        slots.putLong(8L * i, value);
        return this;
    }

    public KernelArgs f32(int i, float value) {
        expect(i, 'f');
        slots.putFloat(8L * i, value);
        return this;
    }

    public KernelArgs f64(int i, double value) {
        expect(i, 'd');
        slots.putDouble(8L * i, value);
        return this;
    }

    /** The raw value bits of argument i (tests and diagnostics). */
    public long rawSlot(int i) {
        return slots.getLong(8L * i);
    }

    /** Address of argument i's slot. */
    public long slotAddress(int i) {
        return slots.address() + 8L * i;
    }

    /** The {@code void** kernelParams} array. */
    public PointerPointer<Pointer> kernelParams() {
        return argv;
    }

    @Override
    public void close() {
        slots.close();
        argv.close();
    }
}
