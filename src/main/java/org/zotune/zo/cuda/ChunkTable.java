package org.zotune.zo.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.ParamSpec;
import org.zotune.peft.TrainableStorage;
import org.zotune.zo.noise.NoiseLayout;

/**
 * The table that lets ONE kernel launch sweep every trainable tensor of the flat parameter buffer
 * ({@code zo::Chunk} in native/include/zo.cuh, 24 bytes each): each trainable tensor is cut into pieces
 * of at most {@link #DEFAULT_CHUNK} elements; per piece its element offset in the flat buffer (the
 * 256-byte aligned {@code Parameters.offset}), its global noise index from {@link NoiseLayout} (tensor
 * offsets rounded to 4, independent of the memory alignment; optimiser state uses the same index), its
 * length and whether weight decay applies ({@code ParamSpec.Role.decays()}). Built once on the host.
 */
public final class ChunkTable {
    /** Elements per chunk: a multiple of 4 so that every chunk starts on a Philox block of four. */
    public static final int DEFAULT_CHUNK = 16384;
    public static final int BYTES_PER_CHUNK = 24;
    public static final int FLAG_DECAYS = 1;

    /** One piece: elements [mem, mem + len) of the flat buffer, global noise indices [noise, noise + len). */
    public record Chunk(long mem, long noise, int len, int flags, int param) {
    }

    private final NoiseLayout layout;
    private final int[] trainable;
    private final List<Chunk> chunks;

    private ChunkTable(NoiseLayout layout, int[] trainable, List<Chunk> chunks) {
        this.layout = layout;
        this.trainable = trainable;
        this.chunks = List.copyOf(chunks);
    }

    /**
     * @param specs       every parameter of the model, in its order
     * @param memOffsets  element offset of each parameter in the flat buffer (multiples of 4)
     * @param trainable   which parameters are trained (null = all); the noise layout covers those only
     * @param chunkLength the largest chunk (a positive multiple of 4)
     */
    public static ChunkTable build(List<ParamSpec> specs, long[] memOffsets, boolean[] trainable, int chunkLength) {
        if (memOffsets.length != specs.size()) {
            throw new ZotuneException("chunk table: " + memOffsets.length + " memory offsets for " + specs.size()
                    + " parameters");
        }
        if (trainable != null && trainable.length != specs.size()) {
            throw new ZotuneException("chunk table: " + trainable.length + " trainable flags for " + specs.size()
                    + " parameters");
        }
        if (chunkLength <= 0 || chunkLength % 4 != 0) {
            throw new ZotuneException("chunk table: chunk length must be a positive multiple of 4, got " + chunkLength);
        }
        List<ParamSpec> train = new ArrayList<>();
        List<Integer> index = new ArrayList<>();
        for (int p = 0; p < specs.size(); p++) {
            if (trainable == null || trainable[p]) {
                train.add(specs.get(p));
                index.add(p);
            }
        }
        NoiseLayout layout = new NoiseLayout(train);
        List<Chunk> out = new ArrayList<>();
        for (int k = 0; k < train.size(); k++) {
            int p = index.get(k);
            ParamSpec s = specs.get(p);
            if (memOffsets[p] < 0 || memOffsets[p] % 4 != 0) {
                throw new ZotuneException("chunk table: parameter " + s.name() + " starts at element " + memOffsets[p]
                        + " of the flat buffer; the kernels need a non-negative multiple of 4");
            }
            int flags = s.role().decays() ? FLAG_DECAYS : 0;
            long n = layout.size(k);
            for (long start = 0; start < n; start += chunkLength) {
                int len = (int) Math.min(chunkLength, n - start);
                out.add(new Chunk(memOffsets[p] + start, layout.offset(k) + start, len, flags, p));
            }
        }
        int[] idx = index.stream().mapToInt(Integer::intValue).toArray();
        return new ChunkTable(layout, idx, out);
    }

    public static ChunkTable build(List<ParamSpec> specs, long[] memOffsets, boolean[] trainable) {
        return build(specs, memOffsets, trainable, DEFAULT_CHUNK);
    }

    /** The table over a trainable set's tensors in their flat buffer (chunk {@code param}: the buffer entry). */
    public static ChunkTable of(TrainableStorage storage) {
        return build(storage.bufferSpecs(), storage.bufferOffsets(), storage.mask(), DEFAULT_CHUNK);
    }

    /** The noise layout of the trainable tensors (what the CPU reference optimisers are built on). */
    public NoiseLayout layout() {
        return layout;
    }

    /** Buffer entry (for a set of model parameters: the model parameter index) of trainable tensor k. */
    public int parameter(int k) {
        return trainable[k];
    }

    /** Number of trainable tensors. */
    public int trainableCount() {
        return trainable.length;
    }

    public List<Chunk> chunks() {
        return chunks;
    }

    public int size() {
        return chunks.size();
    }

    /** Elements of one optimiser state vector (indexed by global noise index, padding included; at least 4). */
    public long stateElements() {
        return Math.max(4, layout.totalElements());
    }

    /** The table as the device reads it: little-endian {@code zo::Chunk} structs. */
    public ByteBuffer toBytes() {
        ByteBuffer b = ByteBuffer.allocate(Math.max(1, chunks.size()) * BYTES_PER_CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (Chunk c : chunks) {
            b.putLong(c.mem()).putLong(c.noise()).putInt(c.len()).putInt(c.flags());
        }
        b.rewind();
        return b;
    }
}
