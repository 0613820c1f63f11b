package org.zotune.model;

import java.util.Arrays;

/**
 * One trainable tensor in the model's fixed parameter order. Matrices are stored as [out, in]
 * (nn.Linear layout; GPT-2's Conv1D weights are transposed on load), vectors as [n].
 *
 * @param name  the Hugging Face tensor name
 * @param shape zotune's layout
 * @param role  what the tensor is (weight decay skips biases and norm weights)
 */
public record ParamSpec(String name, long[] shape, Role role) {

    public enum Role {
        EMBEDDING, POSITION_EMBEDDING, MATRIX, BIAS, NORM_WEIGHT, NORM_BIAS;

        public boolean decays() {
            return this == EMBEDDING || this == POSITION_EMBEDDING || this == MATRIX;
        }
    }

    public ParamSpec {
        shape = shape.clone();
    }

    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " " + role;
    }
}
