package org.zotune.zo.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.zotune.model.Architectures;
import org.zotune.model.CausalLM;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.ParamSpec;
import org.zotune.tensor.HostTensor;

/** Tiny random GPT-2, OPT and Llama models for CPU tests of the engine's plumbing. */
final class TinyModels {
    private TinyModels() {
    }

    static ModelConfig gpt2() {
        return new ModelConfig(ModelFamily.GPT2, 11, 8, 2, 2, 2, 4, 32, 16, 1e-5,
                ModelConfig.Activation.GELU_TANH, true, true, true, 8, 0, null, true, true, -1, 10, -1);
    }

    /** OPT with post-norm and a word-embedding projection (opt-350m's shape) or pre-norm without. */
    static ModelConfig opt(boolean normBefore, int proj) {
        return new ModelConfig(ModelFamily.OPT, 13, 8, 2, 2, 2, 4, 20, 16, 1e-5, ModelConfig.Activation.RELU, true,
                normBefore, normBefore, proj, 0, null, true, true, 0, 2, 1);
    }

    static ModelConfig llama(boolean tied, boolean bias) {
        return new ModelConfig(ModelFamily.LLAMA, 17, 12, 2, 4, 2, 6, 20, 32, 1e-6, ModelConfig.Activation.SILU,
                tied, true, true, 12, 10000, null, bias, bias, 1, 2, -1);
    }

    static List<CausalLM> all() {
        return List.of(Architectures.create(gpt2()), Architectures.create(opt(true, 8)),
                Architectures.create(opt(false, 6)), Architectures.create(llama(false, true)),
                Architectures.create(llama(true, false)));
    }

    /** Random parameters in the model's order and shapes (norm weights around 1). */
    static List<HostTensor> randomParameters(CausalLM m, long seed) {
        Random r = new Random(seed);
        List<HostTensor> out = new ArrayList<>();
        for (ParamSpec s : m.params()) {
            float[] v = new float[(int) s.numel()];
            boolean norm = s.role() == ParamSpec.Role.NORM_WEIGHT;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((norm ? 1.0 : 0.0) + 0.3 * r.nextGaussian());
            }
            out.add(HostTensor.ofFloats(s.name(), v, s.shape()));
        }
        return out;
    }
}
