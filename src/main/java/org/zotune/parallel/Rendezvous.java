package org.zotune.parallel;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.zotune.ZotuneException;

/**
 * The start of a run over several processes (several hosts, issue 15.3): every rank must join one NCCL communicator,
 * whose identity (NCCL's unique id, 128 bytes) rank 0 creates and the others need. Rank 0 listens on the address
 * given to every rank ({@code --rendezvous host:port}), each other rank connects (retrying until rank 0 is up) and
 * says who it is (rank, world size); rank 0 checks that the ranks fit together (the same world size, each rank once)
 * and answers each with the id, or with the reason it refuses. Every failure is one line naming the rank at fault;
 * a rank that does not come within the timeout is named by rank 0, and the others stop when rank 0 is not there.
 * <p>Wire format (big-endian, one request and one answer per connection): request = magic "ZOTUNE-RDV1", int rank,
 * int world size; answer = byte 1 + int length + the id, or byte 0 + UTF-8 text (DataOutputStream.writeUTF).
 * <p>Or through a file that every process sees (a shared filesystem, {@code --init file:///shared/path}): see
 * {@link #exchange(Path, int, int, Supplier, double)}.
 */
public final class Rendezvous {
    private static final String MAGIC = "ZOTUNE-RDV1";

    private Rendezvous() {
    }

    /** A {@code host:port} address; one line naming the value when it is not one. */
    public record Address(String host, int port) {
        public static Address parse(String text) {
            int colon = text == null ? -1 : text.lastIndexOf(':');
            if (colon <= 0 || colon == text.length() - 1) {
                throw new ZotuneException("--rendezvous " + text + ": expected host:port (e.g. node0:29500)");
            }
            int port;
            try {
                port = Integer.parseInt(text.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new ZotuneException("--rendezvous " + text + ": the port is not a number");
            }
            if (port < 1 || port > 65535) {
                throw new ZotuneException("--rendezvous " + text + ": the port must be 1 … 65535");
            }
            return new Address(text.substring(0, colon), port);
        }

        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    /**
     * This rank's part of the rendezvous; returns rank 0's id on every rank.
     *
     * @param id             rank 0 only: makes the id (e.g. ncclGetUniqueId); not called on the other ranks
     * @param timeoutSeconds how long rank 0 waits for all the others, and the others for rank 0
     */
    public static byte[] exchange(Address at, int rank, int worldSize, Supplier<byte[]> id, double timeoutSeconds) {
        checkRank(rank, worldSize);
        long deadline = System.nanoTime() + (long) (timeoutSeconds * 1e9);
        return rank == 0 ? serve(at, worldSize, id.get(), deadline, timeoutSeconds)
                : join(at, rank, worldSize, deadline, timeoutSeconds);
    }

    private static byte[] serve(Address at, int worldSize, byte[] id, long deadline, double timeoutSeconds) {
        if (worldSize == 1) {
            return id.clone();
        }
        TreeSet<Integer> missing = new TreeSet<>();
        for (int k = 1; k < worldSize; k++) {
            missing.add(k);
        }
        List<Socket> answered = new ArrayList<>();
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(at.port()));
            while (!missing.isEmpty()) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    String names = missing.toString().replace("[", "").replace("]", "");
                    throw new WorkerFailure(missing.first(), "rendezvous " + at + ": rank" + (missing.size() == 1
                            ? " " : "s ") + names + " of " + worldSize + " did not connect within " + timeoutSeconds
                            + " s");
                }
                server.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    continue; // the deadline check above names the missing ranks
                }
                answered.add(s);
                s.setSoTimeout((int) Math.max(1, Math.min(left, 10_000)));
                DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                int rank;
                int size;
                try {
                    byte[] magic = new byte[MAGIC.length()];
                    in.readFully(magic);
                    if (!MAGIC.equals(new String(magic, StandardCharsets.US_ASCII))) {
                        refuse(out, "not a zotune rendezvous");
                        continue; // something else knocked: keep waiting for the ranks
                    }
                    rank = in.readInt();
                    size = in.readInt();
                } catch (IOException e) {
                    continue; // a connection that said nothing useful
                }
                String why = size != worldSize ? "rank " + rank + " was started with --world-size " + size
                        + ", rank 0 with " + worldSize
                        : rank < 1 || rank >= worldSize ? "rank " + rank + " is outside 1 … " + (worldSize - 1)
                        : !missing.contains(rank) ? "rank " + rank + " connected twice (two processes with --rank "
                        + rank + "?)" : null;
                if (why != null) {
                    refuse(out, why);
                    throw new WorkerFailure(rank, "rendezvous " + at + ": " + why);
                }
                out.writeByte(1);
                out.writeInt(id.length);
                out.write(id);
                out.flush();
                missing.remove(rank);
            }
        } catch (IOException e) {
            throw new ZotuneException("rendezvous " + at + ": rank 0 cannot listen on port " + at.port() + ": "
                    + e.getMessage());
        } finally {
            for (Socket s : answered) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // the answers were flushed
                }
            }
        }
        return id.clone();
    }

    private static void refuse(DataOutputStream out, String why) {
        try {
            out.writeByte(0);
            out.writeUTF(why);
            out.flush();
        } catch (IOException ignored) {
            // the refused rank also times out
        }
    }

    private static byte[] join(Address at, int rank, int worldSize, long deadline, double timeoutSeconds) {
        if (new InetSocketAddress(at.host(), at.port()).isUnresolved()) {
            throw new ZotuneException("rendezvous " + at + ": rank " + rank + " cannot resolve host " + at.host()
                    + " (rank 0's host name or address)");
        }
        IOException last = null;
        while (System.nanoTime() - deadline < 0) {
            try (Socket s = new Socket()) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                s.connect(new InetSocketAddress(at.host(), at.port()), (int) Math.min(left, 5_000));
                s.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.write(MAGIC.getBytes(StandardCharsets.US_ASCII));
                out.writeInt(rank);
                out.writeInt(worldSize);
                out.flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                if (in.readByte() != 1) {
                    throw new WorkerFailure(rank, "rendezvous " + at + ": rank 0 refused rank " + rank + ": "
                            + in.readUTF());
                }
                int n = in.readInt();
                if (n < 1 || n > 4096) {
                    throw new ZotuneException("rendezvous " + at + ": rank 0 sent an id of " + n + " bytes");
                }
                byte[] id = new byte[n];
                in.readFully(id);
                return id;
            } catch (SocketTimeoutException e) {
                last = e;
            } catch (IOException e) {
                last = e; // rank 0 is not listening yet
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new ZotuneException("rendezvous " + at + ": rank " + rank + " was interrupted");
                }
            }
        }
        throw new WorkerFailure(0, "rendezvous " + at + ": rank " + rank + " of " + worldSize + " could not reach rank "
                + "0 within " + timeoutSeconds + " s" + (last == null ? "" : " (" + last.getMessage() + ")"));
    }

    /**
     * This rank's part of the rendezvous through {@code file}, on a filesystem every process sees; returns rank 0's
     * id on every rank. Rank 0 opens a session ({@code file}: "open", a random session number and the world size),
     * each other rank registers in {@code file.rank-R} (its rank, world size, the session and a random number of its
     * own), rank 0 waits for every rank and then publishes the id in {@code file} with the number it accepted for
     * each rank. A rank takes only an id of the session it registered in, so a file left by an earlier run is never
     * read as this run's; a rank whose number was not accepted was started twice. Each write is a whole file renamed
     * into place. Failures are one line, as with TCP. The files stay (a later run reuses them); rank 0 refuses a
     * {@code file} that is something else than a rendezvous file.
     */
    public static byte[] exchange(Path file, int rank, int worldSize, Supplier<byte[]> id, double timeoutSeconds) {
        checkRank(rank, worldSize);
        String at = "rendezvous " + file.toUri();
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ZotuneException(at + ": folder " + dir + " does not exist on this host (the file must be on a "
                    + "filesystem every process sees)");
        }
        if (Files.isDirectory(file)) {
            throw new ZotuneException(at + ": " + file + " is a folder; give a file path");
        }
        long deadline = System.nanoTime() + (long) (timeoutSeconds * 1e9);
        return rank == 0 ? serveFile(file, at, worldSize, id.get(), deadline, timeoutSeconds)
                : joinFile(file, at, rank, worldSize, deadline, timeoutSeconds);
    }

    private static void checkRank(int rank, int worldSize) {
        if (worldSize < 1) {
            throw new ZotuneException("--world-size must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new ZotuneException("--rank " + rank + " is outside 0 … " + (worldSize - 1) + " (--world-size "
                    + worldSize + ")");
        }
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private static String randomHex() {
        return HexFormat.of().toHexDigits(RANDOM.nextLong());
    }

    private static Path registration(Path file, int rank) {
        return file.resolveSibling(file.getFileName() + ".rank-" + rank);
    }

    private static byte[] serveFile(Path file, String at, int worldSize, byte[] id, long deadline,
            double timeoutSeconds) {
        if (Files.exists(file)) {
            String[] old = readFields(file);
            if (old == null || old.length < 2 || !old[0].equals(MAGIC)) {
                throw new ZotuneException(at + ": " + file + " exists and is not a zotune rendezvous file; choose a "
                        + "new path (zotune does not replace it)");
            }
        }
        String session = randomHex();
        writeFile(file, at, MAGIC + " open " + session + " " + worldSize);
        if (worldSize == 1) {
            writeFile(file, at, MAGIC + " id " + session + " 1 " + HexFormat.of().formatHex(id));
            return id.clone();
        }
        String[] accepted = new String[worldSize];
        TreeSet<Integer> missing = new TreeSet<>();
        for (int k = 1; k < worldSize; k++) {
            missing.add(k);
        }
        while (!missing.isEmpty()) {
            String[] own = readFields(file);
            if (own == null || own.length < 3 || !own[2].equals(session)) {
                throw new WorkerFailure(0, at + ": another process replaced rank 0's session (two processes with "
                        + "--rank 0?)");
            }
            for (int k = 1; k < worldSize; k++) {
                // "ZOTUNE-RDV1 rank <rank> <world size> <session> <nonce>"
                String[] r = readFields(registration(file, k));
                if (r == null || r.length != 6 || !r[0].equals(MAGIC) || !r[1].equals("rank") || !r[4].equals(session)
                        || !r[2].equals(Integer.toString(k))) {
                    continue;
                }
                if (!r[3].equals(Integer.toString(worldSize))) {
                    String why = "rank " + k + " was started with --world-size " + r[3] + ", rank 0 with "
                            + worldSize;
                    writeFile(file, at, MAGIC + " refused " + session + " " + worldSize + " " + why);
                    throw new WorkerFailure(k, at + ": " + why);
                }
                if (accepted[k] != null && !accepted[k].equals(r[5])) {
                    String why = "rank " + k + " registered twice (two processes with --rank " + k + "?)";
                    writeFile(file, at, MAGIC + " refused " + session + " " + worldSize + " " + why);
                    throw new WorkerFailure(k, at + ": " + why);
                }
                accepted[k] = r[5];
                missing.remove(k);
            }
            if (missing.isEmpty()) {
                break;
            }
            if (System.nanoTime() - deadline > 0) {
                String names = missing.toString().replace("[", "").replace("]", "");
                throw new WorkerFailure(missing.first(), at + ": rank" + (missing.size() == 1 ? " " : "s ") + names
                        + " of " + worldSize + " did not register within " + timeoutSeconds + " s");
            }
            pause(at, 0);
        }
        StringBuilder line = new StringBuilder(MAGIC + " id " + session + " " + worldSize + " "
                + HexFormat.of().formatHex(id));
        for (int k = 1; k < worldSize; k++) {
            line.append(' ').append(accepted[k]);
        }
        writeFile(file, at, line.toString());
        return id.clone();
    }

    private static byte[] joinFile(Path file, String at, int rank, int worldSize, long deadline,
            double timeoutSeconds) {
        String nonce = randomHex();
        String registered = null; // the session this rank registered in
        while (System.nanoTime() - deadline < 0) {
            String[] f = readFields(file);
            if (f != null && f.length >= 4 && f[0].equals(MAGIC)) {
                String kind = f[1];
                String session = f[2];
                if (kind.equals("open") && !session.equals(registered)) {
                    if (!f[3].equals(Integer.toString(worldSize))) {
                        throw new WorkerFailure(rank, at + ": rank " + rank + " was started with --world-size "
                                + worldSize + ", rank 0 with " + f[3]);
                    }
                    writeFile(registration(file, rank), at, MAGIC + " rank " + rank + " " + worldSize + " " + session
                            + " " + nonce);
                    registered = session;
                } else if (kind.equals("refused") && session.equals(registered)) {
                    throw new WorkerFailure(rank, at + ": rank 0 refused rank " + rank + ": "
                            + String.join(" ", java.util.Arrays.copyOfRange(f, 4, f.length)));
                } else if (kind.equals("id") && session.equals(registered)) {
                    if (f.length != 5 + worldSize - 1 || !f[4 + rank].equals(nonce)) {
                        throw new WorkerFailure(rank, at + ": rank 0 accepted another process as rank " + rank
                                + " (two processes with --rank " + rank + "?)");
                    }
                    try {
                        return HexFormat.of().parseHex(f[4]);
                    } catch (IllegalArgumentException e) {
                        throw new ZotuneException(at + ": rank 0's id is not hexadecimal");
                    }
                }
            }
            pause(at, rank);
        }
        throw new WorkerFailure(0, at + ": rank " + rank + " of " + worldSize + " saw no id from rank 0 within "
                + timeoutSeconds + " s" + (registered == null ? " (rank 0 never opened the file)" : ""));
    }

    private static void pause(String at, int rank) {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ZotuneException(at + ": rank " + rank + " was interrupted");
        }
    }

    /** The file's first line split at spaces, or null when it does not exist (yet) or cannot be read. */
    private static String[] readFields(Path f) {
        try {
            String text = Files.readString(f, StandardCharsets.UTF_8);
            int nl = text.indexOf('\n');
            return (nl < 0 ? text : text.substring(0, nl)).strip().split(" ");
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException | java.io.UncheckedIOException e) {
            return null; // e.g. NFS's stale handle while another host renames: read again
        }
    }

    /** Writes a whole file beside {@code f} and renames it into place, so a reader sees the old or the new one. */
    private static void writeFile(Path f, String at, String line) {
        Path tmp = f.resolveSibling("." + f.getFileName() + "." + randomHex() + ".tmp");
        try {
            Files.writeString(tmp, line + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write error is what matters
            }
            throw new ZotuneException(at + ": cannot write " + f + ": " + e.getMessage());
        }
    }
}
