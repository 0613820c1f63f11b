package org.zotune.parallel;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;

/**
 * The workers of a data-parallel run as threads of one JVM, joined by in-memory collectives: each collective is a
 * rendezvous where every worker deposits its vector, the last to arrive publishes them all, and every worker reduces
 * the published vectors itself in rank order (the same bits everywhere). A worker that has not arrived within the
 * timeout, or that {@link Collective#abort aborts}, fails every waiting and later call with a {@link WorkerFailure}
 * naming it.
 */
public final class InProcessGroup implements CollectiveGroup {
    private final int size;
    private final long timeoutNanos;
    private final Object lock = new Object();
    private Object[] slots;
    private int arrived;
    private long generation; // collectives completed
    private Object[] published; // the vectors of collective number `generation` - 1
    private final long[] entered; // per rank, collectives entered
    private WorkerFailure failure;

    /**
     * @param size           number of workers (>= 1)
     * @param timeoutSeconds how long a worker waits for the others at a collective before naming the missing ones
     */
    public InProcessGroup(int size, double timeoutSeconds) {
        if (size < 1) {
            throw new ZotuneException("workers must be >= 1, got " + size);
        }
        if (!(timeoutSeconds > 0)) {
            throw new ZotuneException("worker timeout must be > 0 seconds, got " + timeoutSeconds);
        }
        this.size = size;
        this.timeoutNanos = (long) Math.min(timeoutSeconds * 1e9, Long.MAX_VALUE / 2.0);
        this.slots = new Object[size];
        this.entered = new long[size];
    }

    @Override
    public List<Collective> members() {
        List<Collective> out = new ArrayList<>(size);
        for (int r = 0; r < size; r++) {
            out.add(new Member(r));
        }
        return out;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public WorkerFailure failure() {
        synchronized (lock) {
            return failure;
        }
    }

    private Object[] exchange(int rank, Object payload) {
        synchronized (lock) {
            if (failure != null) {
                throw failure;
            }
            long mine = generation; // the collective this call takes part in
            entered[rank]++;
            slots[rank] = payload;
            if (++arrived == size) {
                published = slots;
                slots = new Object[size];
                arrived = 0;
                generation++;
                lock.notifyAll();
                return published;
            }
            long deadline = System.nanoTime() + timeoutNanos;
            while (generation == mine && failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    int missing = -1;
                    for (int r = 0; r < size && missing < 0; r++) {
                        if (entered[r] <= mine) {
                            missing = r;
                        }
                    }
                    failure = new WorkerFailure(missing, "worker rank " + missing + " of " + size
                            + " did not reach collective " + (mine + 1) + " within "
                            + (timeoutNanos / 1_000_000_000.0) + " s (hung or too slow; see zotune's worker_timeout)");
                    lock.notifyAll();
                    break;
                }
                try {
                    lock.wait(Math.max(1, left / 1_000_000), 0);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    failure = new WorkerFailure(rank, "worker rank " + rank + " was interrupted");
                    lock.notifyAll();
                }
            }
            if (generation == mine) {
                throw failure;
            }
            return published;
        }
    }

    private void abort(int rank, Throwable cause) {
        synchronized (lock) {
            if (failure == null && cause instanceof WorkerFailure w) {
                failure = w; // the worker found another one at fault (e.g. a checksum that differs)
                lock.notifyAll();
            } else if (failure == null) {
                String why = cause == null ? "stopped" : (cause.getMessage() == null ? cause.toString()
                        : cause.getMessage());
                failure = new WorkerFailure(rank, "worker rank " + rank + " of " + size + " failed: " + why);
                lock.notifyAll();
            }
        }
    }

    private final class Member implements Collective {
        private final int rank;

        Member(int rank) {
            this.rank = rank;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int worldSize() {
            return size;
        }

        @Override
        public void allReduceSum(double[] values) {
            Object[] all = exchange(rank, values.clone());
            for (int i = 0; i < values.length; i++) {
                double s = 0;
                for (int r = 0; r < size; r++) {
                    double[] v = (double[]) all[r];
                    if (v.length != values.length) {
                        throw new ZotuneException("all-reduce: rank " + r + " sent " + v.length + " values, rank "
                                + rank + " " + values.length);
                    }
                    s += v[i];
                }
                values[i] = s;
            }
        }

        @Override
        public long[][] allGather(long[] values) {
            Object[] all = exchange(rank, values.clone());
            long[][] out = new long[size][];
            for (int r = 0; r < size; r++) {
                out[r] = ((long[]) all[r]).clone();
            }
            return out;
        }

        @Override
        public void abort(Throwable cause) {
            InProcessGroup.this.abort(rank, cause);
        }
    }
}
