package org.zotune.parallel;

import java.nio.file.Path;
import java.util.HexFormat;
import org.zotune.ZotuneException;

/**
 * One rank of a rendezvous as its own OS process (RendezvousProcessTest): {@code file|tcp WHERE RANK WORLD HEXID}.
 * Prints {@code id <hex>} with the id it got, or the one-line failure and exits 2, as zotune does.
 */
public final class RendezvousMain {
    private RendezvousMain() {
    }

    public static void main(String[] args) {
        byte[] mine = HexFormat.of().parseHex(args[4]);
        int rank = Integer.parseInt(args[2]);
        int world = Integer.parseInt(args[3]);
        try {
            byte[] id = args[0].equals("file")
                    ? Rendezvous.exchange(Path.of(args[1]), rank, world, () -> mine, 60)
                    : Rendezvous.exchange(Rendezvous.Address.parse(args[1]), rank, world, () -> mine, 60);
            System.out.println("id " + HexFormat.of().formatHex(id));
        } catch (ZotuneException e) {
            System.out.println("error " + e.getMessage());
            System.exit(2);
        }
    }
}
