package org.zotune.peft;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.backend.Parameters;
import org.zotune.backend.Tensor;
import org.zotune.backend.WeightSource;
import org.zotune.model.ParamSpec;

/**
 * Where a {@link TrainableSet}'s values live: entries of one flat {@link Parameters} buffer, which one launch (or
 * one loop) sweeps under the chunk table's / ZoStep's trainable mask. A set of model parameters lives in the model's
 * own buffer (no copy, no extra memory: full fine-tuning sweeps exactly the buffer it always did); adapter tensors
 * in a buffer of their own. Does not own the buffer.
 */
public final class TrainableStorage implements TrainedTensors {
    private final TrainableSet set;
    private final Parameters buffer;
    private final List<ParamSpec> bufferSpecs;
    private final int[] entry; // tensor k is buffer entry entry[k]
    private final boolean[] mask; // over buffer entries; null = all
    private final boolean modelBuffer;

    private TrainableStorage(TrainableSet set, Parameters buffer, List<ParamSpec> bufferSpecs, int[] entry,
                             boolean[] mask, boolean modelBuffer) {
        this.set = set;
        this.buffer = buffer;
        this.bufferSpecs = bufferSpecs;
        this.entry = entry;
        this.mask = mask;
        this.modelBuffer = modelBuffer;
    }

    /** A set of model parameters in the model's parameter buffer {@code model} (specs: the model's). */
    public static TrainableStorage inModel(TrainableSet set, List<ParamSpec> specs, Parameters model) {
        if (!set.inModel()) {
            throw new ZotuneException("trainable set: adapter tensors do not live in the model's parameter buffer");
        }
        if (model.count() != specs.size() || set.modelParameters() != specs.size()) {
            throw new ZotuneException("trainable set: a parameter buffer of " + model.count() + " tensors for a model "
                    + "of " + specs.size() + " parameters (the set is over " + set.modelParameters() + ")");
        }
        int[] entry = new int[set.count()];
        for (int k = 0; k < entry.length; k++) {
            entry[k] = set.modelParameter(k);
        }
        return new TrainableStorage(set, model, specs, entry, set.modelMask(), true);
    }

    /** A set's tensors in a buffer of their own, entry k = tensor k. */
    public static TrainableStorage own(TrainableSet set, Parameters buffer) {
        if (buffer.count() != set.count()) {
            throw new ZotuneException("trainable set: a buffer of " + buffer.count() + " tensors for a set of "
                    + set.count());
        }
        int[] entry = new int[set.count()];
        for (int k = 0; k < entry.length; k++) {
            entry[k] = k;
            if (buffer.weight(k).numel() != set.spec(k).numel()) {
                throw new ZotuneException("trainable tensor " + set.spec(k).name() + ": " + buffer.weight(k).numel()
                        + " values in its buffer, its shape needs " + set.spec(k).numel());
            }
        }
        return new TrainableStorage(set, buffer, set.specs(), entry, null, false);
    }

    public TrainableSet set() {
        return set;
    }

    /** The flat buffer the set's values live in. */
    public Parameters buffer() {
        return buffer;
    }

    /** Whether that buffer is the model's parameter buffer. */
    public boolean modelBuffer() {
        return modelBuffer;
    }

    /** What every entry of the buffer is (the model's parameters, or the set's tensors). */
    public List<ParamSpec> bufferSpecs() {
        return bufferSpecs;
    }

    /** Element offset of every entry of the buffer. */
    public long[] bufferOffsets() {
        long[] o = new long[buffer.count()];
        for (int i = 0; i < o.length; i++) {
            o[i] = buffer.offset(i);
        }
        return o;
    }

    /** Which entries of the buffer train (null: all). */
    public boolean[] mask() {
        return mask == null ? null : mask.clone();
    }

    /** The buffer entry of every tensor of the set, in the set's order. */
    public int[] entries() {
        return entry.clone();
    }

    /** The buffer entry that holds tensor k. */
    public int entry(int k) {
        return entry[k];
    }

    /** θ_k. */
    @Override
    public Tensor tensor(int k) {
        return buffer.weight(entry[k]);
    }

    /** θ as the model sees it over {@code frozen} (the model's parameters): unperturbed, or perturbed in place. */
    public WeightSource weights(WeightSource frozen) {
        return modelBuffer ? buffer : new ComposedWeights(frozen, set, this);
    }
}
