package org.zotune.backend.cuda;

import org.zotune.backend.IntTensor;

/** int32 values at a device address (ids, positions, targets, masks). */
record CudaIntTensor(long address, int length) implements IntTensor {
}
