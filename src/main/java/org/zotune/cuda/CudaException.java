package org.zotune.cuda;

/** A CUDA, driver or cuBLAS call failed: names the call and the error code's text. */
public class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String call, int code, String text) {
        super(call + " failed: error " + code + (text == null || text.isEmpty() ? "" : " (" + text + ")"));
        this.code = code;
    }

    public int code() {
        return code;
    }
}
