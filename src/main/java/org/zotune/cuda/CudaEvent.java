package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cudart.CUevent_st;

/** A CUDA event: ordering between streams, host waits, and timing. Owns the handle. */
public final class CudaEvent implements AutoCloseable {
    private CUevent_st handle;

    private CudaEvent(CUevent_st handle) {
        this.handle = handle;
    }

    /** @param timing whether {@link #elapsedMillis} may be used (timing events cost a little more) */
    public static CudaEvent create(boolean timing) {
        Cuda.require();
        CUevent_st e = new CUevent_st();
        Cuda.check(cudaEventCreateWithFlags(e, timing ? cudaEventDefault : cudaEventDisableTiming),
                "cudaEventCreateWithFlags");
        return new CudaEvent(e);
    }

    public CUevent_st handle() {
        if (handle == null) {
            throw new IllegalStateException("event is closed");
        }
        return handle;
    }

    public void record(CudaStream stream) {
        Cuda.check(cudaEventRecord(handle(), stream.handle()), "cudaEventRecord");
    }

    /** Blocks the host until the work recorded before this event is done. */
    public void synchronize() {
        Cuda.check(cudaEventSynchronize(handle()), "cudaEventSynchronize");
    }

    /** Milliseconds from {@code start} to this event (both recorded and complete). */
    public float elapsedMillis(CudaEvent start) {
        float[] ms = {0};
        Cuda.check(cudaEventElapsedTime(ms, start.handle(), handle()), "cudaEventElapsedTime");
        return ms[0];
    }

    @Override
    public void close() {
        if (handle != null) {
            Cuda.check(cudaEventDestroy(handle), "cudaEventDestroy");
            handle = null;
        }
    }
}
