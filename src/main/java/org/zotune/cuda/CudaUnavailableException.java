package org.zotune.cuda;

import org.zotune.ZotuneException;

/** No usable CUDA device (no driver, no GPU, kernels not built): the message says why and names the CPU fallback. */
public class CudaUnavailableException extends ZotuneException {
    public CudaUnavailableException(String reason) {
        super("CUDA is not usable: " + reason + " (use --device cpu for the CPU backend)");
    }
}
