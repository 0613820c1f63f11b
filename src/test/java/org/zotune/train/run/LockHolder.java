package org.zotune.train.run;

import java.nio.file.Path;
import java.util.List;
import org.zotune.train.TrainConfig;

/** A second process for {@link RunFolderSafetyTest}: takes a run folder's lock, says so, holds it until stdin ends. */
public final class LockHolder {
    private LockHolder() {
    }

    public static void main(String[] args) throws Exception {
        TrainConfig c = TrainConfig.parse("t.yaml", "model: m\ndata: {format: text, train: a}\nout: '" + Path.of(args[0])
                + "'\n", List.of());
        try (RunFolder.Lock lock = new RunFolder(c, false, false).lock()) {
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() >= 0) {
                // hold the lock until the test closes our stdin
            }
        }
    }
}
