package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zotune.cuda.Cuda;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.BundledModel;
import org.zotune.model.LoadedModel;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.Tokenizer;
import org.zotune.model.tokenizer.Tokenizers;
import org.zotune.tensor.HostTensor;
import org.zotune.train.objective.Objective;

/**
 * The CUDA engine's lent state (a checkpoint written while the next steps run): the lent θ is a host copy taken at
 * the lend, which steps on the device leave unchanged; lending θ again or restoring before the lease is closed is
 * refused, but its checksum (what data-parallel replicas compare every few steps) is not, in whole and in chunks that
 * split tensors; after the close θ can be lent again and holds the later steps' values. Prints what it compares.
 */
@Tag("gpu")
class LentStateGpuTest {
    @TempDir
    Path dir;

    @BeforeEach
    void gpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    private static byte[] bytes(List<HostTensor> ts) {
        int n = 0;
        for (HostTensor t : ts) {
            n += t.bytes().remaining();
        }
        ByteBuffer all = ByteBuffer.allocate(n);
        for (HostTensor t : ts) {
            all.put(t.bytes());
        }
        return all.array();
    }

    @Test
    void stepsRunWhileTheStateIsLentAndLeaveTheLentCopyAlone() throws IOException {
        BundledModel b = BundledModel.get();
        LoadedModel m = ModelLoader.load(b.model());
        Tokenizer tok = Tokenizers.forModel(b.model(), b.tokenizer());
        Path train = TrainRuns.austen(dir, "train.txt", 20_000);
        for (String dtype : new String[] {"f32", "bf16"}) {
            TrainConfig c = TrainRuns.config(TrainRuns.yamlOn("cuda", train, train, dir.resolve("o-" + dtype),
                    "optimizer:", "  name: zo-sgd", "  lr: 1e-3", "steps: 4", "dtype: " + dtype));
            TrainData data = TrainData.load(c.data(), tok, c.maxLength(), c.seed());
            try (ZoEngine e = ZoEngines.create(c, m.model(), m.parameters(), Objective.named("lm"),
                    new PrintWriter(new StringWriter()))) {
                e.step(List.of(PromptBatch.of(data.train().subList(0, 4), data.padId())));
                byte[] before = bytes(e.exportParameters());
                ZoEngine.Lease<ZoEngine.State> lease = e.lendState();
                assertEquals(1, lease.value().t());
                IllegalStateException again = assertThrows(IllegalStateException.class, e::exportParameters);
                assertTrue(again.getMessage().contains("lent out"), again.getMessage());
                assertThrows(IllegalStateException.class, e::lendState);
                assertThrows(IllegalStateException.class, () -> e.restore(lease.value()));
                // data-parallel replicas compare checksums while a checkpoint holds the lease
                CudaZoEngine cuda = assertInstanceOf(CudaZoEngine.class, e);
                long atLend = DataParallelEngine.checksum(lease.value().parameters());
                assertEquals(atLend, e.parameterChecksum(), dtype + ": checksum while lent");
                assertEquals(atLend, cuda.parameterChecksum(1000), dtype + ": checksum in 1000-byte chunks");
                for (int t = 1; t < 3; t++) { // steps go on while the lease is held
                    e.step(List.of(PromptBatch.of(data.train().subList(4 * t, 4 * t + 4), data.padId())));
                }
                long moved = e.parameterChecksum();
                long movedOdd = cuda.parameterChecksum(6);
                byte[] lent = bytes(lease.value().parameters());
                boolean same = java.util.Arrays.equals(before, lent);
                lease.close();
                lease.close(); // a second close changes nothing
                List<HostTensor> later = e.exportParameters();
                byte[] after = bytes(later);
                assertEquals(DataParallelEngine.checksum(later), moved, dtype + ": checksum of the later θ");
                assertEquals(moved, movedOdd, dtype + ": checksum in 6-byte chunks");
                assertTrue(moved != atLend, dtype + ": the checksum did not move with θ");
                System.out.printf("lent state, %s: %d bytes of θ; lent copy equals θ at the lend: %s; θ after two "
                        + "more steps differs: %s%n", dtype, before.length, same,
                        !java.util.Arrays.equals(before, after));
                assertTrue(same, dtype + ": the lent copy changed while steps ran");
                assertFalse(java.util.Arrays.equals(before, after), dtype + ": the steps while lent moved nothing");
                assertEquals(3, e.stepsDone());
            }
        }
    }
}
