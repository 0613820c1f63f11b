package org.zotune.cuda;

import org.bytedeco.javacpp.Pointer;

/**
 * A device address as a JavaCPP {@link Pointer} argument, mutable so that hot paths reuse one object
 * per argument instead of allocating. Never dereferenced on the host; owns nothing.
 */
public final class DevicePointer extends Pointer {
    public DevicePointer() {
        super((Pointer) null);
    }

    public DevicePointer(long address) {
        super((Pointer) null);
        this.address = address;
    }

    public DevicePointer set(long address) {
        this.address = address;
        return this;
    }
}
