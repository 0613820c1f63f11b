package org.zotune.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.dfo.DfoAdapter;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.io.SafetensorsWriter;

/**
 * A DFO-LoRA run's result as a Hugging Face PEFT LoRA adapter folder ({@link PeftExport}'s two files): A and B of
 * every layer's query and key projections materialised from the projections ({@link DfoAdapter}), r = the adapter's
 * rank (2r for GPT-2's packed c_attn) and lora_alpha = r, so PEFT's scale α/r is 1 and W' = W + B·A as the search
 * saw it. Decoders and encoders alike: the config names DFO's own modules (query/key, q_proj/k_proj, c_attn), not a
 * {@link org.zotune.peft.Lora} set. The safetensors metadata records the base weights' digest
 * ({@link PeftExport#BASE_WEIGHTS}), so loading it onto other weights is refused.
 */
public final class DfoExport {
    private DfoExport() {
    }

    /**
     * @param base     the base model as the run named it (base_model_name_or_path)
     * @param metadata safetensors metadata (the base weights' digest among it)
     */
    public static void write(Path dir, DfoAdapter adapter, String base, LanguageModel model,
            Map<String, String> metadata) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new ZotuneException(dir + ": cannot create the adapter folder: " + e.getMessage(), e);
        }
        ModelFamily family = model.config().family();
        SafetensorsWriter.write(dir.resolve(PeftExport.WEIGHTS), adapter.tensors(), metadata);
        AtomicFiles.writeString(dir.resolve(PeftExport.CONFIG), PeftExport.config(adapter.rank(), adapter.rank(),
                adapter.targetModules(), base, family, model.kind() == LanguageModel.Kind.CAUSAL).toPrettyString()
                + "\n");
    }
}
