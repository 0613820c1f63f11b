package org.zotune.model.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.zotune.ZotuneException;

/** Whole-file writes that a crash cannot leave half done: temporary file in the same folder, fsync, rename. */
public final class AtomicFiles {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.[0-9a-z]+\\.tmp");
    /**
     * Test-only crash point (the crash matrix, CrashMatrixTest): {@code -Dzotune.test.haltAtWrite=N} halts the JVM
     * like {@code kill -9} inside this process's N-th write, {@code PATH#K} inside the K-th write of a file whose
     * path ends with PATH (e.g. {@code model/model.safetensors#1}): the temporary file is written but neither synced
     * nor renamed.
     */
    static final String HALT_AT_WRITE = System.getProperty("zotune.test.haltAtWrite");
    /** The exit status of such a halt (137, as a process killed by SIGKILL). */
    public static final int HALT_STATUS = 137;
    private static final AtomicInteger WRITES = new AtomicInteger();
    private static final AtomicInteger NAMED_WRITES = new AtomicInteger();

    private AtomicFiles() {
    }

    /** Whether {@code p} is named like the temporary file of a write (a crash may leave one behind). */
    public static boolean isTemporary(Path p) {
        Path name = p.getFileName();
        return name != null && TEMPORARY.matcher(name.toString()).matches() && Files.isRegularFile(p);
    }

    public static void writeString(Path file, String text) {
        write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    public static void write(Path file, byte[] bytes) {
        write(file, ch -> writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /** What fills the temporary file. */
    @FunctionalInterface
    public interface Content {
        void writeTo(FileChannel channel) throws IOException;
    }

    /** Writes {@code file} through {@code content} into a temporary file, fsyncs it and renames it into place. */
    public static void write(Path file, Content content) {
        place(file, "write", (tmp, abs) -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                content.writeTo(ch);
                if (HALT_AT_WRITE != null) {
                    haltIfAsked(abs);
                }
                ch.force(true);
            }
        });
    }

    /**
     * Makes {@code to} a second name of {@code from}'s file, atomically (a hard link made under a temporary name,
     * then renamed over {@code to}); where the file system has no hard links, a copy. For a large file that would
     * otherwise be written twice with the same bytes (a run's best/ and model/ weights at the same step). Replacing
     * either name later (every write here renames a new file into place) leaves the other as it was.
     */
    public static void link(Path from, Path to) {
        Path src = from.toAbsolutePath();
        place(to, "link to " + from, (tmp, abs) -> {
            try {
                Files.createLink(tmp, src);
            } catch (UnsupportedOperationException | IOException e) {
                try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ);
                        FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE,
                                StandardOpenOption.CREATE_NEW)) {
                    for (long at = 0, n = in.size(); at < n; ) {
                        at += in.transferTo(at, n - at, out);
                    }
                    out.force(true);
                }
            }
            if (HALT_AT_WRITE != null) {
                haltIfAsked(abs);
            }
        });
    }

    /** Makes the temporary file of a write (its path; the target's absolute path for the crash point). */
    @FunctionalInterface
    private interface Fill {
        void make(Path tmp, Path target) throws IOException;
    }

    /**
     * The skeleton of every write here: a temporary name in the target's folder, filled by {@code fill}, renamed
     * over the target, the folder synced; on failure the temporary file is removed and the error names the file.
     */
    private static void place(Path file, String verb, Fill fill) {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // not Files.createTempFile: its files are 0600 whatever the umask, and the renamed file keeps the mode
            tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
            fill.make(tmp, abs);
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot " + verb + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write error matters more than a leftover temporary file
                }
            }
        }
    }

    private static void haltIfAsked(Path file) {
        int n = WRITES.incrementAndGet();
        int at = HALT_AT_WRITE.lastIndexOf('#');
        boolean halt = at < 0 ? Integer.toString(n).equals(HALT_AT_WRITE)
                : file.endsWith(HALT_AT_WRITE.substring(0, at)) && Integer.toString(NAMED_WRITES.incrementAndGet())
                        .equals(HALT_AT_WRITE.substring(at + 1));
        if (halt) {
            Runtime.getRuntime().halt(HALT_STATUS);
        }
    }

    /** Writes all of {@code b} (a channel may write less than asked). */
    public static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    public static void copy(Path from, Path to) {
        try {
            write(to, Files.readAllBytes(from));
        } catch (IOException e) {
            throw new ZotuneException(from + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Makes a rename inside {@code dir} durable (best effort: not every file system lets a folder be opened). */
    static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // e.g. Windows
        }
    }
}
