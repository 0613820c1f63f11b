package org.zotune.model;

import java.util.List;
import org.zotune.tensor.HostTensor;

/**
 * A model of any kind ready to run (decoder or encoder), for callers that decide from {@link LanguageModel#kind()}
 * what they can do with it (training: the objective). Parameters in {@link LanguageModel#params()} order.
 */
public record LoadedLanguageModel(Checkpoint checkpoint, LanguageModel model, List<HostTensor> parameters) {
    public ModelConfig config() {
        return model.config();
    }
}
