package org.zotune.model;

import java.util.List;
import org.zotune.tensor.HostTensor;

/**
 * A model ready to run: its architecture and its parameters on the host, in {@link CausalLM#params()}
 * order and zotune's layout (shapes already checked against the config).
 */
public record LoadedModel(Checkpoint checkpoint, CausalLM model, List<HostTensor> parameters) {
    public ModelConfig config() {
        return model.config();
    }
}
