package org.zotune.train;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.zotune.ZotuneException;

/**
 * Writes on a thread of its own while the caller goes on (a checkpoint of a 1.5B-parameter θ is 3 GB of file writes
 * and fsyncs; the next steps run meanwhile): one write at a time, and a failed write's exception is thrown by the next
 * {@link #await} or {@link #submit}, so a full disk still stops the run with its one-line error.
 */
final class BackgroundWriter implements AutoCloseable {
    private ExecutorService pool;
    private Future<?> pending;
    private final java.util.concurrent.atomic.AtomicLong busyNanos = new java.util.concurrent.atomic.AtomicLong();

    /** Starts {@code write} once the previous write has ended. */
    void submit(Runnable write) {
        await();
        if (pool == null) {
            pool = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "zotune-checkpoint-writer");
                t.setDaemon(true);
                return t;
            });
        }
        pending = pool.submit(() -> {
            long s0 = System.nanoTime();
            try {
                write.run();
            } finally {
                busyNanos.addAndGet(System.nanoTime() - s0);
            }
        });
    }

    /** The time the writes submitted so far took on the writer's thread (those ended or failed). */
    long busyNanos() {
        return busyNanos.get();
    }

    /** Waits for the write in flight (if any); its failure is thrown here. */
    void await() {
        Future<?> f = pending;
        if (f == null) {
            return;
        }
        pending = null;
        try {
            f.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) {
                throw r;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ZotuneException("interrupted while waiting for a checkpoint to be written");
        }
    }

    /**
     * Waits for the write in flight and stops the thread. A failure here is dropped: close runs when the run already
     * ends with an exception of its own (a run that ends normally has awaited its writes).
     */
    @Override
    public void close() {
        try {
            await();
        } catch (RuntimeException | Error ignored) {
            // the exception that is ending the run matters more
        } finally {
            if (pool != null) {
                pool.shutdown();
            }
        }
    }
}
