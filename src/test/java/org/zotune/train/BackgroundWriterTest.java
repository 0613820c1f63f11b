package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

class BackgroundWriterTest {
    @Test
    void writesRunOneAtATimeInOrderOffTheCallersThread() throws InterruptedException {
        List<String> done = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch release = new CountDownLatch(1);
        Thread caller = Thread.currentThread();
        try (BackgroundWriter w = new BackgroundWriter()) {
            w.submit(() -> {
                assertTrue(Thread.currentThread() != caller);
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                done.add("first");
            });
            assertEquals(List.of(), done, "the caller goes on while the first write waits");
            release.countDown();
            w.submit(() -> done.add("second")); // starts once the first has ended
            assertTrue(done.contains("first"), "submit waited for the write in flight");
            w.await();
            assertEquals(List.of("first", "second"), done);
        }
    }

    @Test
    void aFailedWriteIsThrownByTheNextWaitOnce() {
        ZotuneException disk = new ZotuneException("run/checkpoint/step-4/params.safetensors: cannot write: no space");
        try (BackgroundWriter w = new BackgroundWriter()) {
            w.submit(() -> {
                throw disk;
            });
            ZotuneException e = assertThrows(ZotuneException.class, w::await);
            assertSame(disk, e);
            w.await(); // reported once
            w.submit(() -> {
                throw disk;
            });
            assertSame(disk, assertThrows(ZotuneException.class, () -> w.submit(() -> { })),
                    "the next submit reports the previous failure");
        }
    }

    @Test
    void closeWaitsForTheWriteInFlightAndDropsItsFailure() {
        List<String> done = Collections.synchronizedList(new ArrayList<>());
        BackgroundWriter w = new BackgroundWriter();
        w.submit(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            done.add("written");
            throw new ZotuneException("late failure");
        });
        w.close();
        assertEquals(List.of("written"), done, "close returned only after the write ended");
        assertTrue(w.busyNanos() >= 200_000_000L, "the write's time on the writer's thread is counted (it slept 200 "
                + "ms): " + w.busyNanos() + " ns");
    }
}
