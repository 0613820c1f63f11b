package org.zotune.parallel;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.zotune.ZotuneException;
import org.zotune.cuda.CudaStream;
import org.zotune.zo.cuda.DeviceCollective;

/**
 * This process's place in a run over several processes or hosts (issue 15.3): one rank, one GPU, joined to the
 * others by NCCL. {@link #join} meets the other ranks at the rendezvous ({@link ProcessLaunch.Init}: rank 0 makes
 * NCCL's unique id, {@link Rendezvous} hands it on), then joins the communicator ({@link NcclGroup#joinRank}). The
 * group has one member, with the run's rank and world size; the engine over it is the data-parallel one.
 * <p>Failures: a rank that does not arrive at a collective within the timeout, or that NCCL reports, stops the
 * others with one line ({@link WorkerFailure}; with two ranks the other one is named, with more the line says which
 * rank waited: a rank in another process is not seen from here). A watchdog makes sure nothing waits forever: when
 * {@code ncclCommInitRank} has not returned within the timeout (a rank died or hangs after the rendezvous), or when
 * freeing the group after a failure hangs, it prints one line naming the rank and ends the process with exit code
 * {@value #EXIT_HUNG}.
 */
public final class ProcessGroup implements CollectiveGroup {
    /** The exit code of a process the watchdog stops. */
    public static final int EXIT_HUNG = 3;
    /** How long freeing the group after a failure may take before the watchdog stops the process. */
    static final long CLOSE_GRACE_SECONDS = 60;

    private final CollectiveGroup inner;
    private final Member member;
    private final PrintStream err;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final boolean guardClose; // NCCL only: an in-process stand-in cannot hang in close
    private volatile boolean watched;

    private ProcessGroup(CollectiveGroup inner, PrintStream err, boolean guardClose) {
        this.inner = inner;
        this.err = err;
        this.guardClose = guardClose;
        List<Collective> m = inner.members();
        if (m.size() != 1) {
            throw new IllegalArgumentException("a process group has one member in this process, got " + m.size());
        }
        this.member = new Member(m.get(0));
    }

    /**
     * Joins the run: the rendezvous at {@code init}, then NCCL on {@code device} (this process's GPU).
     *
     * @param timeoutSeconds the rendezvous's, the communicator's start's and each collective's timeout
     */
    public static ProcessGroup join(ProcessLaunch.Init init, int rank, int worldSize, int device,
            double timeoutSeconds) {
        byte[] id;
        if (init instanceof ProcessLaunch.FileInit f) {
            id = Rendezvous.exchange(f.path(), rank, worldSize, NcclGroup::uniqueId, timeoutSeconds);
        } else {
            id = Rendezvous.exchange(((ProcessLaunch.TcpInit) init).address(), rank, worldSize, NcclGroup::uniqueId,
                    timeoutSeconds);
        }
        CountDownLatch joined = new CountDownLatch(1);
        watchdog(joined, timeoutSeconds, "rank " + rank + " of " + worldSize + " (GPU " + device + "): the NCCL "
                + "communicator did not form within " + timeoutSeconds + " s after the rendezvous (" + init + "): "
                + (worldSize == 2 ? "rank " + (1 - rank) : "another rank") + " died or hangs; stopping", System.err);
        NcclGroup g;
        try {
            g = NcclGroup.joinRank(rank, worldSize, device, id, timeoutSeconds);
        } finally {
            joined.countDown();
        }
        return new ProcessGroup(g, System.err, true);
    }

    /**
     * Rank {@code rank} of {@code shared} as the group of one process: the in-process stand-in for {@link #join}
     * with which the CPU tests run several "processes" (threads, each with its own trainer) in one JVM.
     */
    public static ProcessGroup standIn(InProcessGroup shared, int rank) {
        return new ProcessGroup(new CollectiveGroup() {
            @Override
            public List<Collective> members() {
                return List.of(shared.members().get(rank));
            }

            @Override
            public int size() {
                return shared.size();
            }

            @Override
            public WorkerFailure failure() {
                return shared.failure();
            }
        }, System.err, false);
    }

    /** Stops the process with {@code line} unless {@code done} is counted down within the timeout. */
    private static void watchdog(CountDownLatch done, double timeoutSeconds, String line, PrintStream err) {
        Thread t = new Thread(() -> {
            try {
                if (!done.await((long) Math.ceil(timeoutSeconds * 1000), TimeUnit.MILLISECONDS)) {
                    err.println("zotune: " + line);
                    err.flush();
                    Runtime.getRuntime().halt(EXIT_HUNG);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "zotune-watchdog");
        t.setDaemon(true);
        t.start();
    }

    /** After a failure: freeing the group must not hang the process (a collective stuck on the GPU). */
    private void watchClose(WorkerFailure f) {
        if (guardClose && !watched) {
            watched = true;
            watchdog(closed, CLOSE_GRACE_SECONDS, f.getMessage() + " (and freeing the NCCL group hung for "
                    + CLOSE_GRACE_SECONDS + " s; stopping)", err);
        }
    }

    @Override
    public List<Collective> members() {
        return List.of(member);
    }

    /**
     * This process's member as the captured step's collective (NCCL's all-gather enqueued on the step's stream, as
     * {@link NcclGroup#deviceCollective} gives a GPU of one process), its failures named as {@link #members}' are;
     * null for the in-process stand-in, which has no GPU.
     */
    public DeviceCollective deviceCollective() {
        return member.c instanceof DeviceCollective ? member : null;
    }

    @Override
    public int size() {
        return inner.size();
    }

    @Override
    public WorkerFailure failure() {
        return inner.failure();
    }

    @Override
    public void close() {
        try {
            inner.close();
        } finally {
            closed.countDown();
        }
    }

    /** The failure as this process can tell it: with two ranks, the rank that did not arrive is the other one. */
    private WorkerFailure named(WorkerFailure f) {
        int w = inner.size();
        int me = member.rank();
        WorkerFailure out = f;
        if (w == 2 && f.rank() == me && f.getMessage().contains("a rank in another process did not arrive")) {
            out = new WorkerFailure(1 - me, f.getMessage().replace("a rank in another process did not arrive",
                    "rank " + (1 - me) + " did not arrive (it died, hangs or is too slow)"));
        }
        watchClose(out);
        return out;
    }

    /** The NCCL member of this process (or the stand-in's), its failures named ({@link #named}). */
    private final class Member implements Collective, DeviceCollective {
        private final Collective c;

        Member(Collective c) {
            this.c = c;
        }

        @Override
        public int rank() {
            return c.rank();
        }

        @Override
        public int worldSize() {
            return c.worldSize();
        }

        @Override
        public void allReduceSum(double[] values) {
            try {
                c.allReduceSum(values);
            } catch (WorkerFailure f) {
                throw named(f);
            }
        }

        @Override
        public long[][] allGather(long[] values) {
            try {
                return c.allGather(values);
            } catch (WorkerFailure f) {
                throw named(f);
            }
        }

        @Override
        public void abort(Throwable cause) {
            c.abort(cause);
        }

        // the captured step's side: only where c is NCCL's member (deviceCollective hands this out only then)
        @Override
        public void allGatherFloats(long send, long recv, long count, CudaStream stream) {
            ((DeviceCollective) c).allGatherFloats(send, recv, count, stream);
        }

        @Override
        public long launched() {
            try {
                return ((DeviceCollective) c).launched();
            } catch (WorkerFailure f) {
                throw named(f);
            }
        }

        @Override
        public void await(long launch, BooleanSupplier done) {
            try {
                ((DeviceCollective) c).await(launch, done);
            } catch (WorkerFailure f) {
                throw named(f);
            }
        }
    }

    /** One line when a run over processes cannot run on {@code device}: the processes join through NCCL, so GPUs. */
    public static void requireDevice(int worldSize, String device) {
        if (device.equals("cpu")) {
            throw new ZotuneException("parallel.world_size (--world-size) " + worldSize + " on device cpu: several "
                    + "processes need NCCL, so one GPU each; on the CPU use parallel.workers (--workers) for "
                    + "data-parallel workers in one process");
        }
    }
}
