package org.zotune.examples;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.zotune.ZotuneException;
import org.zotune.api.Device;
import org.zotune.api.Model;
import org.zotune.api.ModelSource;
import org.zotune.api.Precision;
import org.zotune.api.Score;

/**
 * Scores texts the way a service would: requests arrive on a queue from any thread, one worker thread owns the
 * {@link Model} (a model is used by one thread at a time) and answers them in batches of up to 16; a bad request
 * gets its one-line error, the others their scores.
 * <p>
 * Usage: {@code ScoreService [MODEL]} (default: the bundled model), texts on stdin, one per line; prints
 * {@code loss perplexity tokens text} per line.
 */
public final class ScoreService implements AutoCloseable {
    private record Request(String text, CompletableFuture<Score> reply) {
    }

    private static final Request STOP = new Request(null, null);
    private final BlockingQueue<Request> queue = new ArrayBlockingQueue<>(1024);
    private final Thread worker;

    ScoreService(ModelSource source) {
        CompletableFuture<Void> ready = new CompletableFuture<>();
        worker = new Thread(() -> serve(source, ready), "zotune-scorer");
        worker.start();
        try {
            ready.join(); // the model's errors (a missing folder, ...) surface here, in the caller's thread
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** Thread-safe: queues a text; the future completes with its score or a ZotuneException. */
    CompletableFuture<Score> score(String text) {
        CompletableFuture<Score> f = new CompletableFuture<>();
        if (!queue.offer(new Request(text, f))) {
            f.completeExceptionally(new IllegalStateException("the scoring queue is full"));
        }
        return f;
    }

    private void serve(ModelSource source, CompletableFuture<Void> ready) {
        try (Model model = Model.open(source, Device.AUTO, Precision.F32)) {
            ready.complete(null);
            List<Request> batch = new ArrayList<>();
            while (true) {
                batch.clear();
                batch.add(queue.take());
                queue.drainTo(batch, 15);
                for (Request r : batch) {
                    if (r == STOP) {
                        return;
                    }
                    try {
                        r.reply().complete(model.score(r.text()));
                    } catch (ZotuneException e) {
                        r.reply().completeExceptionally(e);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            ready.completeExceptionally(e);
        }
    }

    @Override
    public void close() throws InterruptedException {
        queue.put(STOP);
        worker.join(TimeUnit.SECONDS.toMillis(30));
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        ModelSource source = args.length > 0 ? ModelSource.of(args[0]) : ModelSource.bundled();
        List<String> texts = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                texts.add(line);
            }
        }
        try (ScoreService service = new ScoreService(source)) {
            scoreAll(service, texts);
        } catch (ZotuneException e) {
            System.err.println("error: " + e.getMessage()); // one line naming the file at fault
            System.exit(2);
        }
    }

    private static void scoreAll(ScoreService service, List<String> texts) {
        List<CompletableFuture<Score>> replies = new ArrayList<>();
        for (String t : texts) {
            replies.add(service.score(t));
        }
        for (int i = 0; i < texts.size(); i++) {
            try {
                Score s = replies.get(i).join();
                System.out.printf("%.4f %9.2f %4d %s%n", s.loss(), s.perplexity(), s.tokens(), texts.get(i));
            } catch (java.util.concurrent.CompletionException e) {
                System.out.println("error: " + e.getCause().getMessage() + " | " + texts.get(i));
            }
        }
    }
}
