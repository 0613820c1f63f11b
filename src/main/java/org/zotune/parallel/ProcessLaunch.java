package org.zotune.parallel;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Map;
import org.zotune.ZotuneException;

/**
 * How one process of a run over several processes or hosts (issue 15.3) learns its place: the world size, its rank,
 * its GPU and the rendezvous through which rank 0 hands NCCL's unique id to the others (keys
 * {@code parallel.world_size}, {@code rank}, {@code local_rank}, {@code init}; flags {@code --world-size},
 * {@code --rank}, {@code --local-rank}, {@code --init}).
 * <p>The rendezvous ({@link Init}): {@code file:///shared/path} (a file on a filesystem every process sees;
 * {@link Rendezvous#exchange(Path, int, int, java.util.function.Supplier, double)}), {@code tcp://host:port} (rank 0
 * listens there; {@link Rendezvous#exchange(Rendezvous.Address, int, int, java.util.function.Supplier, double)}), or
 * {@code env://}, the torchrun convention: RANK and WORLD_SIZE (required), LOCAL_RANK (optional) and
 * MASTER_ADDR / MASTER_PORT (the TCP rendezvous) from the environment. env:// is resolved when the config is read,
 * so the run's files hold the values the process ran with.
 */
public final class ProcessLaunch {
    private ProcessLaunch() {
    }

    /** A rendezvous: a shared file or a TCP address. */
    public sealed interface Init permits FileInit, TcpInit {
    }

    /** {@code file:///shared/path}. */
    public record FileInit(Path path) implements Init {
        @Override
        public String toString() {
            return path.toUri().toString();
        }
    }

    /** {@code tcp://host:port}: rank 0 listens on the port, the others connect to host:port. */
    public record TcpInit(Rendezvous.Address address) implements Init {
        @Override
        public String toString() {
            return "tcp://" + address;
        }
    }

    /** The keys after env:// is resolved and the absent ones are filled in (localRank stays null when unset). */
    public record Resolved(int worldSize, int rank, Integer localRank, String init) {
    }

    /**
     * Fills in and checks the keys of {@code parallel}: absent world_size 1 and rank 0; with init {@code env://} they
     * come from {@code env} (a key also set in the config must agree with it); rank within the world; an init given
     * whenever world_size > 1, and a valid one. Every failure is one line naming the key (and flag) and the value.
     */
    public static Resolved resolve(Integer worldSize, Integer rank, Integer localRank, String init,
            Map<String, String> env) {
        if (init != null && init.strip().equals("env://")) {
            int w = envInt(env, "WORLD_SIZE", 1);
            int r = envInt(env, "RANK", 0);
            Integer lr = env.get("LOCAL_RANK") == null || env.get("LOCAL_RANK").isBlank() ? null
                    : envInt(env, "LOCAL_RANK", 0);
            agree("world_size", worldSize, "WORLD_SIZE", w);
            agree("rank", rank, "RANK", r);
            agree("local_rank", localRank, "LOCAL_RANK", lr);
            String addr = env.get("MASTER_ADDR");
            String port = env.get("MASTER_PORT");
            if (w > 1 && (addr == null || addr.isBlank() || port == null || port.isBlank())) {
                throw new ZotuneException("parallel.init env://: MASTER_ADDR and MASTER_PORT must be set (rank 0's "
                        + "host and a free port), got MASTER_ADDR=" + (addr == null ? "(unset)" : addr)
                        + " MASTER_PORT=" + (port == null ? "(unset)" : port));
            }
            String tcp = w > 1 ? "tcp://" + addr.strip() + ":" + port.strip() : null;
            return resolve(w, r, lr != null ? lr : localRank, tcp, Map.of());
        }
        int w = worldSize == null ? 1 : worldSize;
        int r = rank == null ? 0 : rank;
        if (r >= w) {
            throw new ZotuneException("parallel.rank (--rank) " + r + " is outside 0 … " + (w - 1)
                    + " for parallel.world_size (--world-size) " + w);
        }
        if (w > 1 && (init == null || init.isBlank())) {
            throw new ZotuneException("parallel.world_size (--world-size) " + w + " needs parallel.init (--init "
                    + "file:///shared/path, tcp://host:port or env://): how the processes find each other");
        }
        if (init != null) {
            parseInit(init);
        }
        return new Resolved(w, r, localRank, init == null ? null : init.strip());
    }

    private static int envInt(Map<String, String> env, String name, int min) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            throw new ZotuneException("parallel.init env://: environment variable " + name + " is not set");
        }
        int n;
        try {
            n = Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new ZotuneException("parallel.init env://: environment variable " + name + "=" + v
                    + " is not a whole number");
        }
        if (n < min) {
            throw new ZotuneException("parallel.init env://: environment variable " + name + "=" + n + " must be >= "
                    + min);
        }
        return n;
    }

    private static void agree(String key, Integer config, String var, Integer env) {
        if (config != null && !config.equals(env)) {
            throw new ZotuneException("parallel." + key + " " + config + " disagrees with the environment's " + var
                    + "=" + env + " (parallel.init env://): set one of them");
        }
    }

    /** {@code file:///path} or {@code tcp://host:port}; one line naming the value otherwise. */
    public static Init parseInit(String text) {
        String t = text.strip();
        String where = "parallel.init (--init) " + text;
        if (t.startsWith("file://")) {
            URI uri;
            try {
                uri = new URI(t);
            } catch (URISyntaxException e) {
                throw new ZotuneException(where + ": not a file URI (" + e.getReason() + "); e.g. "
                        + "file:///shared/zotune-rendezvous");
            }
            if (uri.getAuthority() != null && !uri.getAuthority().isEmpty() || uri.getPath() == null
                    || !uri.getPath().startsWith("/") || uri.getPath().endsWith("/")) {
                throw new ZotuneException(where + ": expected file:// and an absolute file path, e.g. "
                        + "file:///shared/zotune-rendezvous");
            }
            try {
                return new FileInit(Path.of(uri));
            } catch (IllegalArgumentException e) {
                throw new ZotuneException(where + ": not a file path here (" + e.getMessage() + ")");
            }
        }
        if (t.startsWith("tcp://")) {
            String hp = t.substring("tcp://".length());
            int colon = hp.lastIndexOf(':');
            if (colon <= 0 || colon == hp.length() - 1 || hp.indexOf('/') >= 0) {
                throw new ZotuneException(where + ": expected tcp://host:port (rank 0's host), e.g. "
                        + "tcp://node0:29500");
            }
            String host = hp.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1); // [::1]
            }
            int port;
            try {
                port = Integer.parseInt(hp.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new ZotuneException(where + ": the port is not a number");
            }
            if (port < 1 || port > 65535) {
                throw new ZotuneException(where + ": the port must be 1 … 65535");
            }
            return new TcpInit(new Rendezvous.Address(host, port));
        }
        throw new ZotuneException(where + ": expected file:///shared/path, tcp://host:port or env://");
    }

    /**
     * This process's GPU: local_rank when given (it must be one of the {@code visible} devices), else rank modulo
     * the visible devices (ranks numbered host by host, as many per host as it has GPUs).
     */
    public static int localDevice(int rank, Integer localRank, int visible) {
        if (visible < 1) {
            throw new ZotuneException("rank " + rank + ": no visible CUDA device");
        }
        if (localRank == null) {
            return rank % visible;
        }
        if (localRank >= visible) {
            throw new ZotuneException("parallel.local_rank (--local-rank) " + localRank + " of rank " + rank + ": only "
                    + visible + " CUDA device" + (visible == 1 ? " is" : "s are") + " visible (CUDA_VISIBLE_DEVICES "
                    + "chooses which)");
        }
        return localRank;
    }
}
