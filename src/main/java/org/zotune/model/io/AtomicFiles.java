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
import java.util.regex.Pattern;
import org.zotune.ZotuneException;

/** Whole-file writes that a crash cannot leave half done: temporary file in the same folder, fsync, rename. */
public final class AtomicFiles {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.[0-9a-z]+\\.tmp");

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
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // not Files.createTempFile: its files are 0600 whatever the umask, and the renamed file keeps the mode
            tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                content.writeTo(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot write: " + e.getMessage(), e);
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
