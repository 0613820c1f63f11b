package org.zotune.model;

import java.util.List;
import org.zotune.tensor.HostTensor;

/** An encoder ready to run: its architecture and its parameters on the host, in {@link EncoderModel#params()} order. */
public record LoadedEncoder(Checkpoint checkpoint, EncoderModel model, List<HostTensor> parameters) {
    public ModelConfig config() {
        return model.config();
    }
}
