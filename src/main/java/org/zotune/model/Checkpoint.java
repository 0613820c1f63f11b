package org.zotune.model;

import java.nio.file.Path;
import java.util.Map;
import org.zotune.tensor.HostTensor;

/**
 * A checkpoint as read from disk: the config and every tensor under its Hugging Face name and HF layout
 * (llama2.c files are translated to the names and the rotate-half q/k layout that HF's Llama uses).
 *
 * @param source  the file or folder it came from (named in error messages)
 * @param config  the architecture
 * @param tensors tensors by HF name (possibly memory-mapped)
 */
public record Checkpoint(Path source, ModelConfig config, Map<String, HostTensor> tensors) {
}
