package org.zotune.cuda;

import static org.bytedeco.cuda.global.cudart.*;

import org.bytedeco.cuda.cudart.CUstream_st;

/** A non-blocking stream (does not synchronise with the legacy default stream). Owns the handle. */
public final class CudaStream implements AutoCloseable {
    private CUstream_st handle;

    private CudaStream(CUstream_st handle) {
        this.handle = handle;
    }

    public static CudaStream create() {
        Cuda.require();
        CUstream_st s = new CUstream_st();
        Cuda.check(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        return new CudaStream(s);
    }

    public CUstream_st handle() {
        if (handle == null) {
            throw new IllegalStateException("stream is closed");
        }
        return handle;
    }

    /** Blocks the host until all work queued on the stream is done. */
    public void synchronize() {
        Cuda.check(cudaStreamSynchronize(handle()), "cudaStreamSynchronize");
    }

    /** Makes later work on this stream wait for {@code event}. */
    public void waitFor(CudaEvent event) {
        Cuda.check(cudaStreamWaitEvent(handle(), event.handle(), 0), "cudaStreamWaitEvent");
    }

    /** True while a graph capture is under way on this stream. */
    public boolean isCapturing() {
        int[] status = {0};
        Cuda.check(cudaStreamIsCapturing(handle(), status), "cudaStreamIsCapturing");
        return status[0] != cudaStreamCaptureStatusNone;
    }

    @Override
    public void close() {
        if (handle != null) {
            Cuda.check(cudaStreamDestroy(handle), "cudaStreamDestroy");
            handle = null;
        }
    }
}
