package org.zotune.parallel;

import static org.bytedeco.cuda.global.cudart.cudaErrorNotReady;
import static org.bytedeco.cuda.global.cudart.cudaStreamQuery;
import static org.bytedeco.cuda.global.cudart.cudaSuccess;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.zotune.ZotuneException;
import org.zotune.cuda.Cuda;
import org.zotune.cuda.CudaStream;
import org.zotune.cuda.DeviceBuffer;
import org.zotune.cuda.DevicePointer;
import org.zotune.cuda.PinnedBuffer;
import org.zotune.zo.cuda.DeviceCollective;

/**
 * The workers of a data-parallel run as one GPU each, joined by NCCL: all in this process ({@link #create}, through
 * {@code ncclCommInitAll}; rank k works on device {@code devices[k]}, from one thread at a time), or one rank of a run
 * over several processes or hosts ({@link #join}: NCCL's unique id handed from rank 0 to the others by a
 * {@link Rendezvous}, then {@code ncclCommInitRank}). The collectives carry the few scalars of a step. Determinism: {@link Collective#allReduceSum} is an NCCL all-gather of every rank's doubles followed by a sum
 * on the host in rank order (0 + v_0 + v_1 + …, as {@link InProcessGroup}), never NCCL's own reduction, whose order
 * depends on its algorithm and topology; so every rank gets the same bits, and the same bits as the in-process group.
 * The captured ZO step takes a rank's member as a {@link DeviceCollective} ({@link #deviceCollective}): an
 * all-gather of the step's float loss pairs enqueued on the step's stream (captured into its graph), the rank-order
 * sum then done on the device with the same arithmetic.
 * A rank waits for its collective by polling its stream: when another rank failed ({@link Collective#abort}), NCCL
 * reported an error, or a rank did not arrive within the timeout, the rank aborts its communicator and throws a
 * {@link WorkerFailure} naming the rank at fault, so no worker hangs.
 */
public final class NcclGroup implements CollectiveGroup {
    private final int[] devices; // of the ranks in this process
    private final int worldSize;
    private final long timeoutNanos;
    private final Rank[] ranks; // the ranks in this process
    private final Object lock = new Object();
    private final long[] entered; // per rank of this process, collectives entered
    private volatile WorkerFailure failure;
    private boolean closed;

    private NcclGroup(int[] devices, int worldSize, double timeoutSeconds, Rank[] ranks) {
        this.devices = devices;
        this.worldSize = worldSize;
        this.timeoutNanos = (long) Math.min(timeoutSeconds * 1e9, Long.MAX_VALUE / 2.0);
        this.ranks = ranks;
        this.entered = new long[devices.length];
    }

    /**
     * Rank k on device {@code devices[k]} (distinct, present). Loads NCCL first ({@link NcclLibrary#load}: one line
     * when it is missing).
     *
     * @param timeoutSeconds how long a rank waits at a collective before naming the rank that did not arrive
     */
    public static NcclGroup create(int[] devices, double timeoutSeconds) {
        if (devices.length < 1) {
            throw new ZotuneException("NCCL group: no GPU given");
        }
        if (!(timeoutSeconds > 0)) {
            throw new ZotuneException("worker timeout must be > 0 seconds, got " + timeoutSeconds);
        }
        int present = Cuda.deviceCount();
        for (int i = 0; i < devices.length; i++) {
            if (devices[i] < 0 || devices[i] >= present) {
                throw new ZotuneException("GPU " + devices[i] + " is not present (" + present
                        + " usable CUDA devices)");
            }
            for (int j = 0; j < i; j++) {
                if (devices[j] == devices[i]) {
                    throw new ZotuneException("GPU " + devices[i] + " given twice (one NCCL rank per GPU)");
                }
            }
        }
        int n = devices.length;
        String nvls = System.getenv("NCCL_NVLS_ENABLE");
        if (n > 1 && (nvls == null || nvls.isBlank())) {
            // NVLink multicast can take a host's shared GPUs out of service: it is on only when asked for
            throw new ZotuneException("NCCL_NVLS_ENABLE is not set: set NCCL_NVLS_ENABLE=0 (NVLink multicast off, as "
                    + "the zotune launchers do) or 1 to allow it");
        }
        NcclLibrary.load();
        int caller = Cuda.currentDevice();
        Rank[] ranks = new Rank[n];
        ncclComm[] comms = new ncclComm[n];
        try (PointerPointer<ncclComm> pp = new PointerPointer<>((long) n)) {
            check(nccl.ncclCommInitAll(pp, n, devices.clone()), -1, "ncclCommInitAll over GPUs "
                    + Arrays.toString(devices));
            for (int k = 0; k < n; k++) {
                comms[k] = new ncclComm(pp.get(k));
            }
        }
        try {
            for (int k = 0; k < n; k++) {
                Cuda.useDevice(devices[k]);
                ranks[k] = new Rank(k, k, devices[k], comms[k], CudaStream.create());
                comms[k] = null;
                ranks[k].reserve(8, n);
            }
            warmUp(ranks);
        } catch (RuntimeException e) {
            for (int k = 0; k < n; k++) {
                if (ranks[k] != null) {
                    ranks[k].free();
                } else if (comms[k] != null) {
                    nccl.ncclCommAbort(comms[k]);
                }
            }
            throw e;
        } finally {
            Cuda.useDevice(caller);
        }
        return new NcclGroup(devices.clone(), n, timeoutSeconds, ranks);
    }

    /** A new NCCL unique id (128 bytes) for {@link #joinRank}: rank 0 makes it, a {@link Rendezvous} hands it on. */
    public static byte[] uniqueId() {
        NcclLibrary.load();
        try (ncclUniqueId id = new ncclUniqueId()) {
            check(nccl.ncclGetUniqueId(id), -1, "ncclGetUniqueId");
            byte[] b = new byte[nccl.NCCL_UNIQUE_ID_BYTES];
            id.internal().get(b);
            return b;
        }
    }

    /**
     * Rank {@code rank} of {@code worldSize} on this process's GPU {@code device}, joining the communicator that
     * {@code uniqueId} names ({@code ncclCommInitRank}; every rank of the run calls it with the same id, from its own
     * process or thread, and it returns once all have joined). The group of a run over several processes or hosts:
     * its one member has the run's rank and world size.
     */
    public static NcclGroup joinRank(int rank, int worldSize, int device, byte[] uniqueId, double timeoutSeconds) {
        if (!(timeoutSeconds > 0)) {
            throw new ZotuneException("worker timeout must be > 0 seconds, got " + timeoutSeconds);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new ZotuneException("rank " + rank + " is outside 0 … " + (worldSize - 1));
        }
        int present = Cuda.deviceCount();
        if (device < 0 || device >= present) {
            throw new ZotuneException("GPU " + device + " is not present (" + present + " usable CUDA devices)");
        }
        String nvls = System.getenv("NCCL_NVLS_ENABLE");
        if (worldSize > 1 && (nvls == null || nvls.isBlank())) {
            throw new ZotuneException("NCCL_NVLS_ENABLE is not set: set NCCL_NVLS_ENABLE=0 (NVLink multicast off, as "
                    + "the zotune launchers do) or 1 to allow it");
        }
        NcclLibrary.load();
        if (uniqueId.length != nccl.NCCL_UNIQUE_ID_BYTES) {
            throw new ZotuneException("NCCL unique id of " + uniqueId.length + " bytes, expected "
                    + nccl.NCCL_UNIQUE_ID_BYTES);
        }
        int caller = Cuda.currentDevice();
        Rank r = null;
        try {
            Cuda.useDevice(device);
            ncclComm comm = new ncclComm();
            try (ncclUniqueId id = new ncclUniqueId()) {
                id.internal().put(uniqueId);
                check(nccl.ncclCommInitRank(comm, worldSize, id, rank), rank, "ncclCommInitRank (rank " + rank
                        + " of " + worldSize + ", GPU " + device + ")");
            }
            r = new Rank(rank, 0, device, comm, CudaStream.create());
            r.reserve(8, worldSize);
            warmUp(new Rank[] {r});
        } catch (RuntimeException e) {
            if (r != null) {
                r.free();
            }
            throw e;
        } finally {
            Cuda.useDevice(caller);
        }
        return new NcclGroup(new int[] {device}, worldSize, timeoutSeconds, new Rank[] {r});
    }

    /**
     * {@link #joinRank} after a {@link Rendezvous} at {@code at}: rank 0 makes the id and listens there, the others
     * fetch it. The start of a run over several processes or hosts.
     */
    public static NcclGroup join(Rendezvous.Address at, int rank, int worldSize, int device, double timeoutSeconds) {
        byte[] id = Rendezvous.exchange(at, rank, worldSize, NcclGroup::uniqueId, timeoutSeconds);
        return joinRank(rank, worldSize, device, id, timeoutSeconds);
    }

    /**
     * One all-gather on every rank, issued from this thread (grouped, as NCCL requires for several communicators of
     * one thread; every process of a run does the same for its ranks): NCCL connects the ranks at their first
     * collective, a step that waits for every rank inside the
     * call, before this group's polling could name a missing one; afterwards a collective only enqueues work.
     */
    private static void warmUp(Rank[] ranks) {
        check(nccl.ncclGroupStart(), -1, "ncclGroupStart");
        for (Rank r : ranks) {
            Cuda.useDevice(r.device);
            check(nccl.ncclAllGather(new DevicePointer(r.send.address()), new DevicePointer(r.recv.address()), 1,
                    nccl.ncclInt64, r.comm, r.stream.handle()), r.rank, "ncclAllGather (connecting the ranks)");
        }
        check(nccl.ncclGroupEnd(), -1, "ncclGroupEnd (connecting the ranks)");
        for (Rank r : ranks) {
            Cuda.useDevice(r.device);
            r.stream.synchronize();
        }
    }

    /** The NCCL version, e.g. 22703 for 2.27.3 (loads NCCL). */
    public static int version() {
        NcclLibrary.load();
        int[] v = {0};
        check(nccl.ncclGetVersion(v), -1, "ncclGetVersion");
        return v[0];
    }

    @Override
    public List<Collective> members() {
        List<Collective> out = new ArrayList<>(ranks.length);
        for (Rank r : ranks) {
            out.add(new Member(r));
        }
        return out;
    }

    /** The world size: every rank of the run, in this process or not. */
    @Override
    public int size() {
        return worldSize;
    }

    @Override
    public WorkerFailure failure() {
        return failure;
    }

    /** The GPU of each rank. */
    public int[] devices() {
        return devices.clone();
    }

    private void fail(WorkerFailure f) {
        synchronized (lock) {
            if (failure == null) {
                failure = f;
            }
        }
    }

    /**
     * Frees the communicators and buffers. The communicators are aborted rather than finalised and destroyed:
     * every collective has completed (each rank waited for its own), abort is local to the rank and never waits for
     * the others, so closing cannot hang, also after a failure.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        int caller = Cuda.currentDevice();
        try {
            for (Rank r : ranks) {
                Cuda.useDevice(r.device);
                r.free();
            }
        } finally {
            Cuda.useDevice(caller);
        }
    }

    private static void check(int rc, int rank, String call) {
        if (rc != nccl.ncclSuccess) {
            String text = errorText(rc);
            String msg = call + " failed" + (rank >= 0 ? " on rank " + rank : "") + ": " + text + " (NCCL error " + rc
                    + ")";
            throw rank >= 0 ? new WorkerFailure(rank, "worker rank " + rank + ": " + msg) : new ZotuneException(msg);
        }
    }

    private static String errorText(int rc) {
        BytePointer p = nccl.ncclGetErrorString(rc);
        return p == null || p.isNull() ? "" : p.getString();
    }

    /** One rank's communicator, stream and exchange buffers (grown on demand; the vectors are a few values). */
    private static final class Rank {
        final int rank;
        final int local; // index among this process's ranks
        final int device;
        final ncclComm comm;
        final CudaStream stream;
        DeviceBuffer send;
        DeviceBuffer recv;
        PinnedBuffer host;
        boolean aborted;

        Rank(int rank, int local, int device, ncclComm comm, CudaStream stream) {
            this.rank = rank;
            this.local = local;
            this.device = device;
            this.comm = comm;
            this.stream = stream;
        }

        /** Buffers for {@code bytes} per rank of {@code n} ranks. */
        void reserve(long bytes, int n) {
            if (send == null || send.bytes() < bytes) {
                long size = Math.max(256, Long.highestOneBit(bytes) << 1);
                if (send != null) {
                    send.close();
                    recv.close();
                    host.close();
                    send = recv = null;
                    host = null;
                }
                send = DeviceBuffer.allocate(size);
                recv = DeviceBuffer.allocate(size * n);
                host = PinnedBuffer.allocate(size * (n + 1L));
            }
        }

        void free() {
            if (!aborted) {
                aborted = true;
                nccl.ncclCommAbort(comm);
            }
            for (AutoCloseable c : new AutoCloseable[] {send, recv, host, stream}) {
                if (c != null) {
                    try {
                        c.close();
                    } catch (Exception e) {
                        // freeing after a failure: the first error has been reported already
                    }
                }
            }
        }
    }

    /**
     * The member of rank {@code rank} (a rank of this process: k for {@link #create}, the run's rank for
     * {@link #joinRank}) as the captured step uses it: an all-gather enqueued on the step's stream.
     */
    public DeviceCollective deviceCollective(int rank) {
        return new Member(local(rank));
    }

    /** The GPU of rank {@code rank} (a rank of this process). */
    public int deviceOf(int rank) {
        return local(rank).device;
    }

    private Rank local(int rank) {
        for (Rank r : ranks) {
            if (r.rank == rank) {
                return r;
            }
        }
        throw new IllegalArgumentException("rank " + rank + " is not one of this process's " + ranks.length);
    }

    private final class Member implements Collective, DeviceCollective {
        private final Rank r;

        Member(Rank r) {
            this.r = r;
        }

        @Override
        public int rank() {
            return r.rank;
        }

        @Override
        public int worldSize() {
            return worldSize;
        }

        @Override
        public void allReduceSum(double[] values) {
            ByteBuffer all = gather(values.length, nccl.ncclFloat64, b -> b.asDoubleBuffer().put(values));
            int n = worldSize;
            double[][] v = new double[n][values.length];
            for (int k = 0; k < n; k++) {
                all.position(k * 8 * values.length);
                all.slice().order(all.order()).asDoubleBuffer().get(v[k]);
            }
            for (int i = 0; i < values.length; i++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += v[k][i];
                }
                values[i] = s;
            }
        }

        @Override
        public long[][] allGather(long[] values) {
            ByteBuffer all = gather(values.length, nccl.ncclInt64, b -> b.asLongBuffer().put(values));
            int n = worldSize;
            long[][] out = new long[n][values.length];
            for (int k = 0; k < n; k++) {
                all.position(k * 8 * values.length);
                all.slice().order(all.order()).asLongBuffer().get(out[k]);
            }
            return out;
        }

        /** All-gathers {@code count} 8-byte values of every rank; returns them in rank order (host memory). */
        private ByteBuffer gather(int count, int type, java.util.function.Consumer<ByteBuffer> fill) {
            WorkerFailure f = failure;
            if (f != null) {
                abortComm();
                throw f;
            }
            int n = worldSize;
            long collective;
            synchronized (lock) {
                collective = ++entered[r.local];
            }
            Cuda.useDevice(r.device);
            long bytes = 8L * count;
            try {
                r.reserve(Math.max(bytes, 8), n);
                if (count > 0) {
                    fill.accept(r.host.slice(0, (int) bytes));
                    r.send.copyFromHost(r.host.pointer(), 0, bytes, r.stream);
                    check(nccl.ncclAllGather(new DevicePointer(r.send.address()), new DevicePointer(r.recv.address()),
                            count, type, r.comm, r.stream.handle()), r.rank, "ncclAllGather");
                    BytePointer back = new BytePointer(r.host.pointer()).position(bytes);
                    r.recv.copyToHost(0, back, bytes * n, r.stream);
                }
                poll(collective, this::streamDone);
            } catch (WorkerFailure e) {
                fail(e);
                abortComm();
                throw e;
            } catch (RuntimeException e) {
                WorkerFailure w = new WorkerFailure(r.rank, "worker rank " + r.rank + " of " + n + " (GPU " + r.device
                        + ") failed in an NCCL collective: " + e.getMessage());
                fail(w);
                abortComm();
                throw w;
            }
            return count == 0 ? ByteBuffer.allocate(0) : r.host.slice(bytes, (int) (bytes * n));
        }

        private boolean streamDone() {
            int rc = cudaStreamQuery(r.stream.handle());
            if (rc != cudaSuccess && rc != cudaErrorNotReady) {
                Cuda.check(rc, "cudaStreamQuery on GPU " + r.device);
            }
            return rc == cudaSuccess;
        }

        @Override
        public void allGatherFloats(long send, long recv, long count, CudaStream stream) {
            check(nccl.ncclAllGather(new DevicePointer(send), new DevicePointer(recv), count, nccl.ncclFloat32, r.comm,
                    stream.handle()), r.rank, "ncclAllGather (in the step)");
        }

        @Override
        public long launched() {
            WorkerFailure f = failure;
            if (f != null) {
                abortComm();
                throw f;
            }
            synchronized (lock) {
                return ++entered[r.local];
            }
        }

        @Override
        public void await(long launch, BooleanSupplier done) {
            try {
                poll(launch, done);
            } catch (WorkerFailure e) {
                fail(e);
                abortComm();
                throw e;
            } catch (RuntimeException e) {
                WorkerFailure w = new WorkerFailure(r.rank, "worker rank " + r.rank + " of " + worldSize + " (GPU "
                        + r.device + ") failed in a step with an NCCL collective: " + e.getMessage());
                fail(w);
                abortComm();
                throw w;
            }
        }

        /** Polls until {@code done}, another rank failed, NCCL reported an error, or timeout. */
        private void poll(long collective, BooleanSupplier done) {
            long started = System.nanoTime();
            long deadline = started + timeoutNanos;
            int[] async = {0};
            while (true) {
                if (done.getAsBoolean()) {
                    return;
                }
                if (nccl.ncclCommGetAsyncError(r.comm, async) == nccl.ncclSuccess && async[0] != nccl.ncclSuccess
                        && async[0] != nccl.ncclInProgress) {
                    throw new WorkerFailure(r.rank, "worker rank " + r.rank + " of " + worldSize + " (GPU "
                            + r.device + "): NCCL reported " + errorText(async[0]) + " (NCCL error " + async[0] + ")");
                }
                WorkerFailure f = failure;
                if (f != null) {
                    throw f;
                }
                if (System.nanoTime() - deadline > 0) {
                    int missing = -1;
                    synchronized (lock) {
                        for (int k = 0; k < entered.length && missing < 0; k++) {
                            if (entered[k] < collective) {
                                missing = k; // a rank of this process; another process's ranks are not seen here
                            }
                        }
                    }
                    String s = (timeoutNanos / 1_000_000_000.0) + " s (hung or too slow; see zotune's worker_timeout)";
                    throw missing >= 0
                            ? new WorkerFailure(ranks[missing].rank, "worker rank " + ranks[missing].rank + " of "
                                    + worldSize + " (GPU " + ranks[missing].device + ") did not reach collective "
                                    + collective + " within " + s)
                            : new WorkerFailure(r.rank, "NCCL collective " + collective + " did not complete on worker "
                                    + "rank " + r.rank + " of " + worldSize + " (GPU " + r.device + ") within " + s
                                    + (ranks.length < worldSize ? "; a rank in another process did not arrive" : ""));
                }
                // a few scalars arrive within microseconds; a whole captured step takes longer: poll it less often
                LockSupport.parkNanos(System.nanoTime() - started > 50_000_000L ? 200_000 : 20_000);
            }
        }

        private void abortComm() {
            synchronized (lock) {
                if (!r.aborted && !closed) {
                    r.aborted = true;
                    nccl.ncclCommAbort(r.comm);
                }
            }
        }

        @Override
        public void abort(Throwable cause) {
            if (cause instanceof WorkerFailure w) {
                fail(w); // the worker found another one at fault (e.g. a checksum that differs)
            } else {
                String why = cause == null ? "stopped" : (cause.getMessage() == null ? cause.toString()
                        : cause.getMessage());
                fail(new WorkerFailure(r.rank, "worker rank " + r.rank + " of " + worldSize + " failed: " + why));
            }
        }
    }
}
