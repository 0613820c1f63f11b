package org.zotune.zo.optim;

import java.util.List;
import org.zotune.tensor.DType;
import org.zotune.zo.noise.NoiseLayout;

/**
 * A zeroth-order optimiser as data: one validated configuration record per optimiser, owning everything the
 * engines need to know about it, so that no code outside the record asks which optimiser it is.
 *
 * <p>To add an optimiser: its record here (its reference {@link ZoOptimizer} next to it), its rule in
 * native/include/zo_rules.cuh, its line in {@link #registered()} and its instantiation line in
 * native/kernels/zo_update.cu. The CPU/GPU reference tests sweep {@link #registered()}.
 */
public sealed interface ZoOptimizerConfig
        permits ZoSgd.Config, ZoSgdMomentum.Config, ZoAdam.Config, ZoAdaMu.Config {

    /** How u is drawn; {@link #code} is the Direction enum of native/include/zo.cuh. */
    enum Direction {
        /** u = n0 (stream of the SPSA sample). */
        GAUSSIAN(0),
        /** u = ±1 from the top bit of the sample's stream word. */
        RADEMACHER(1),
        /** ZO-AdaMU's u = β1·sqrt(α)·n0 + (1-β1)·(m + sqrt(1-α)·n1), reading the state m. */
        ADAMU(2);

        public final int code;

        Direction(int code) {
            this.code = code;
        }
    }

    /**
     * The optimiser on the device: the kernel family {@code zo_update_<kernel>_<param>_<state>} and the per-step
     * parameters of its rule, named and ordered as the fields of {@code struct <struct>} in
     * native/include/zo_rules.cuh (float32 each, at most {@code ZoScalars.PARAMS_BYTES / 4}; a CPU test compares
     * the names with the header).
     */
    record DeviceRule(String kernel, String struct, List<String> fields) {
        public DeviceRule {
            fields = List.copyOf(fields);
        }
    }

    /** The name in configs, messages and checkpoints, e.g. "zo-sgd". */
    String name();

    LrSchedule lr();

    /** The state vectors per trainable element, in checkpoint order ("m", then "v"); empty without state. */
    List<String> stateVectors();

    /** The storage type of every state vector (F32 without state). */
    DType stateDType();

    /** The same optimiser with its state stored in {@code d} (itself without state). */
    ZoOptimizerConfig withStateDType(DType d);

    /** The most SPSA samples q the optimiser defines an update for. */
    default int maxSamples() {
        return Integer.MAX_VALUE;
    }

    Direction direction();

    /** The CPU reference over {@code layout} (the trainable tensors). */
    ZoOptimizer reference(NoiseLayout layout);

    DeviceRule deviceRule();

    /**
     * The values of {@link DeviceRule#fields()} for step t (>= 1) with η_t = {@code eta}, computed as the
     * reference's {@code beginStep} computes them (double, rounded once to float32).
     */
    float[] deviceScalars(long t, float eta);

    /**
     * The registered optimisers, one line each, as example configurations with non-default settings that
     * exercise every term of their update within four steps (what the reference tests sweep).
     */
    static List<ZoOptimizerConfig> registered() {
        return List.of(
                ZoSgd.Config.example(),
                ZoSgdMomentum.Config.example(),
                ZoAdam.Config.example(),
                ZoAdaMu.Config.example());
    }
}
