package org.zotune.peft;

import java.util.List;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.HostTensor;

/**
 * A parameter-efficient method over a frozen model (ALGORITHMS.md §9): float32 tensors of its own (what the optimiser
 * perturbs and updates, in {@link #tensors()}'s order) and, once bound to a backend, the {@link TrainableSet} that
 * brings them into the forward pass plus their initial values.
 */
public interface Adapter {

    /** Its name as key {@code peft.method} spells it (lora, prefix). */
    String method();

    /** The trainable tensors, in the order the noise index runs over. */
    List<ParamSpec> tensors();

    /**
     * The set on {@code ops} and the tensors' initial values for the run seed; {@code frozen} is the model's own
     * weights on {@code ops} (prefix tuning starts from what the frozen model computes).
     */
    Bound bind(Ops ops, LanguageModel model, WeightSource frozen, long runSeed);

    /** An adapter bound to one backend; close it to release what it made there. */
    final class Bound implements AutoCloseable {
        private final TrainableSet set;
        private final List<HostTensor> initial;
        private final Runnable release;

        public Bound(TrainableSet set, List<HostTensor> initial, Runnable release) {
            this.set = set;
            this.initial = List.copyOf(initial);
            this.release = release;
        }

        public TrainableSet set() {
            return set;
        }

        /** The initial tensors, in {@link Adapter#tensors()}'s order (float32). */
        public List<HostTensor> initial() {
            return initial;
        }

        @Override
        public void close() {
            release.run();
        }
    }
}
