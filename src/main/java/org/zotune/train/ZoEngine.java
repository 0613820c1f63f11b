package org.zotune.train;

import java.util.List;
import java.util.function.Function;
import org.zotune.backend.Ops;
import org.zotune.backend.WeightSource;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.LanguageModel;
import org.zotune.tensor.HostTensor;
import org.zotune.zo.optim.EvaluatedStep;
import org.zotune.zo.optim.StepEvaluation;
import org.zotune.zo.optim.ZoStep;

/**
 * What the {@link Trainer} needs from a ZO engine: one step on a batch, an evaluation with the current
 * θ, θ as host tensors, and the state that makes a run resumable. {@link CpuZoEngine} is the reference; a CUDA
 * engine (θ and the fused step on the GPU) plugs in behind the same interface through {@link ZoEngines#create}.
 *
 * <p>Contract shared by every engine: step t (from 1) uses s_t = Noise.stepSeed(seed, t); its micro-batches are
 * averaged with the same u (ALGORITHMS.md §2); a non-finite ℓ± or g skips the update; after {@code maxBadSteps}
 * such steps in a row, {@link #step} throws a {@link org.zotune.ZotuneException}.
 */
public interface ZoEngine extends AutoCloseable {

    /**
     * What step t did: the step-level fields and the step's evaluations ({@link EvaluatedStep} gives ℓ+, ℓ-, g
     * per SPSA sample and the reported loss, what metrics.jsonl writes; {@link Trajectory} records the rest).
     *
     * @param t           the step (from 1)
     * @param seed        its step seed s_t
     * @param evaluations what the step evaluated, in order: today its SPSA samples (stream k, ℓ±_k, g_k)
     * @param lr          η_t
     * @param skipped     a non-finite value skipped the update
     */
    record StepResult(long t, long seed, List<StepEvaluation> evaluations, float lr, boolean skipped)
            implements EvaluatedStep {
        public StepResult {
            evaluations = List.copyOf(evaluations);
        }

        /** The optimiser step's result with the step seed and learning rate the engine reports with it. */
        public static StepResult of(ZoStep.Result r, long seed, float lr) {
            return new StepResult(r.t(), seed, r.evaluations(), lr, r.skipped());
        }
    }

    /** An evaluation run against the engine's backend and current θ. */
    @FunctionalInterface
    interface Evaluation<R> {
        R run(Ops ops, LanguageModel model, WeightSource weights);
    }

    /**
     * Everything a resumed run needs to continue bitwise identically.
     *
     * @param t              steps done
     * @param skipped        steps skipped so far
     * @param badInARow      non-finite steps in a row at the end of step t
     * @param parameters     θ in the model's parameter order (zotune layout, the parameter dtype's values)
     * @param optimizerState the optimiser's state tensors (empty for zo-sgd)
     */
    record State(long t, long skipped, int badInARow, List<HostTensor> parameters, List<HostTensor> optimizerState) {
    }

    /** Runs step {@link #stepsDone()} + 1 on these micro-batches. */
    StepResult step(List<PromptBatch> microBatches);

    long stepsDone();

    <R> R evaluate(Evaluation<R> evaluation);

    /**
     * θ, the trainable set's tensors in its order: the model's parameters in zotune's layout and the parameter dtype
     * (full fine-tuning), or the LoRA tensors (Aᵀ, B per target, float32) over the frozen base.
     */
    List<HostTensor> exportParameters();

    /**
     * Runs {@code use} on {@link #exportParameters()}'s tensors without the engine copying them for the caller: the
     * tensors may be views of the engine's own buffers (the CUDA engine: its pinned staging buffer, no copy of θ into
     * the heap), valid only inside the call. For writing θ to a file; keep nothing from it.
     */
    default <R> R withParameters(Function<List<HostTensor>, R> use) {
        return use.apply(exportParameters());
    }

    State state();

    /**
     * CRC32C over θ's float32 bits in the trainable set's order ({@link DataParallelEngine#checksum} of
     * {@link #exportParameters()}), what data-parallel replicas compare. Unlike exporting, it works while the state is
     * lent (a checkpoint being written): the CUDA engine reads θ through a small buffer of its own, not the staging
     * buffer the lease holds.
     */
    default long parameterChecksum() {
        return DataParallelEngine.checksum(exportParameters());
    }

    /**
     * Steps skipped so far for a non-finite loss, as {@link #state()} records them; the engines answer it without
     * copying θ and the optimiser state to the host (the default does).
     */
    default long skippedSteps() {
        return state().skipped();
    }

    /** {@link #state()} lent for the duration of {@code use}, its parameters as {@link #withParameters} lends them. */
    default <R> R withState(Function<State, R> use) {
        try (Lease<State> l = lendState()) {
            return use.apply(l.value());
        }
    }

    /**
     * {@link #state()} lent until the lease is closed, possibly by another thread (a checkpoint written while the
     * next steps run): the CUDA engine's parameters are views of its staging buffer, which steps do not touch. Until
     * the close, lending θ again (withParameters, withState, lendState), exporting, restoring or closing the engine
     * is an error. The default: a copy, nothing to give back.
     */
    default Lease<State> lendState() {
        return new Lease<>(state(), () -> { });
    }

    /** A value lent by an engine; {@link #close} (once, from any thread) gives it back. */
    final class Lease<T> implements AutoCloseable {
        private final T value;
        private final Runnable release;
        private final java.util.concurrent.atomic.AtomicBoolean open = new java.util.concurrent.atomic.AtomicBoolean(
                true);

        public Lease(T value, Runnable release) {
            this.value = value;
            this.release = release;
        }

        public T value() {
            return value;
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                release.run();
            }
        }
    }

    void restore(State state);

    /**
     * Checks that every replica of a data-parallel engine holds the same parameters (throws naming the rank that
     * differs); nothing to check for a single engine (the default).
     */
    default void verifyReplicas() {
    }

    /**
     * CUDA graphs the engine's captured step has captured so far (one per batch shape it met, again for a shape
     * whose graph it dropped; a data-parallel engine: its first replica's, the ranks capture together); 0 for an
     * engine without one (the CPU engine, the eager step).
     */
    default long graphCaptures() {
        return 0;
    }

    /** "cpu" or "cuda" (a data-parallel engine: its replicas'). */
    String device();

    @Override
    void close();
}
