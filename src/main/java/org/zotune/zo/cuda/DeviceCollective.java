package org.zotune.zo.cuda;

import java.util.function.BooleanSupplier;
import org.zotune.cuda.CudaStream;

/**
 * One data-parallel rank's collective as the captured step uses it (ALGORITHMS.md §10): an all-gather of a few floats
 * enqueued on the step's stream, so that it is captured into the step's CUDA graph between the passes' loss pairs and
 * the formation of ℓ± and g (the NCCL group's member: {@code org.zotune.parallel.NcclGroup#deviceCollective}). Every
 * rank captures and launches the same sequence of collectives; a launched graph holding a collective completes only
 * when every rank has launched its own, so the wait for it is {@link #await}, which names a rank that failed or did
 * not arrive instead of hanging.
 */
public interface DeviceCollective {
    int rank();

    int worldSize();

    /** Every rank's {@code values} (the same length on every rank), in rank order, on the host (waits). */
    long[][] allGather(long[] values);

    /**
     * Enqueues on {@code stream} (capturable): {@code recv[r·count + i]} = rank r's {@code send[i]} for every rank r,
     * {@code count} float32 values each; device addresses on this rank's GPU.
     */
    void allGatherFloats(long send, long recv, long count, CudaStream stream);

    /** Counts one launch of work holding a collective (a step graph) on this rank; returns its number for await. */
    long launched();

    /**
     * Waits, polling, until {@code done} says the launched work has finished; when another rank failed, NCCL reported
     * an error or the group's timeout passed, aborts this rank's communicator (so that its waiting kernels return)
     * and throws a {@code WorkerFailure} naming the rank at fault.
     */
    void await(long launch, BooleanSupplier done);
}
