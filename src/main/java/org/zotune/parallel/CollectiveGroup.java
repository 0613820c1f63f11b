package org.zotune.parallel;

import java.util.List;

/**
 * The workers of one data-parallel run and their collectives: {@link InProcessGroup} (threads of one JVM, CPU
 * replicas), {@link NcclGroup} (one GPU per worker, NCCL). A group that holds resources (NCCL communicators, device
 * buffers) frees them on {@link #close()}.
 */
public interface CollectiveGroup extends AutoCloseable {
    /** One {@link Collective} per rank, in rank order. */
    List<Collective> members();

    int size();

    /** The failure that broke the group, or null. */
    WorkerFailure failure();

    @Override
    default void close() {
    }
}
