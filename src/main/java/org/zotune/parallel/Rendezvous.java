package org.zotune.parallel;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
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
        if (worldSize < 1) {
            throw new ZotuneException("--world-size must be >= 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new ZotuneException("--rank " + rank + " is outside 0 … " + (worldSize - 1) + " (--world-size "
                    + worldSize + ")");
        }
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
}
