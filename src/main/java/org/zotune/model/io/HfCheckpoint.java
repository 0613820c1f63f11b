package org.zotune.model.io;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.model.Architecture;
import org.zotune.model.Checkpoint;
import org.zotune.model.ModelConfig;
import org.zotune.tensor.HostTensor;

/**
 * A Hugging Face model folder: {@code config.json} plus {@code model.safetensors} or a sharded
 * {@code model.safetensors.index.json}. Tensor names are normalised to the prefixed form of the LM-head class
 * ({@code transformer.h.0...}, {@code model.decoder.layers.0...}, {@code model.layers.0...}); shapes and
 * completeness are checked by the architecture (see {@link TensorChecks}).
 */
public final class HfCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private HfCheckpoint() {
    }

    /** The sharded index file: tensor name → shard file name (in the same folder). */
    record Index(@JsonProperty("weight_map") Map<String, String> weightMap,
                 @JsonProperty("metadata") JsonNode metadata) {
    }

    /**
     * Opens a model folder (or a {@code .safetensors} file / {@code config.json} inside one).
     *
     * @throws ZotuneException naming the file (and tensor or field) when anything is missing or malformed
     */
    public static Checkpoint open(Path path) {
        Path folder = path;
        Path weights = null;
        if (Files.isRegularFile(path)) {
            folder = path.toAbsolutePath().getParent();
            if (path.getFileName().toString().endsWith(".safetensors")) {
                weights = path;
            } else if (!path.getFileName().toString().equals(CONFIG)
                    && !path.getFileName().toString().equals(INDEX)) {
                throw new ZotuneException(path + ": not a Hugging Face model folder, config.json or "
                        + ".safetensors file");
            }
        } else if (!Files.isDirectory(path)) {
            throw new ZotuneException(path + ": no such file or folder");
        }
        ModelConfig config = HfConfig.read(folder.resolve(CONFIG));
        Map<String, HostTensor> raw = weights != null ? SafetensorsFile.open(weights).tensors() : readTensors(folder);
        Path source = weights != null ? weights : folder;
        Map<String, HostTensor> tensors = normalise(source, config.family().architecture(), raw);
        return new Checkpoint(source, config.family().architecture().withWeights(config, tensors.keySet()), tensors);
    }

    /** Every tensor of the folder's single or sharded safetensors checkpoint, under its stored name. */
    public static Map<String, HostTensor> readTensors(Path folder) {
        Path single = folder.resolve(SINGLE);
        Path index = folder.resolve(INDEX);
        if (Files.isRegularFile(single)) {
            return SafetensorsFile.open(single).tensors();
        }
        if (Files.isRegularFile(index)) {
            return readSharded(index);
        }
        if (Files.exists(folder.resolve("pytorch_model.bin"))
                || Files.exists(folder.resolve("pytorch_model.bin.index.json"))) {
            throw new ZotuneException(folder + ": only PyTorch pytorch_model.bin weights found; zotune reads "
                    + "safetensors (re-save the model with save_pretrained(..., safe_serialization=True))");
        }
        throw new ZotuneException(folder + ": no " + SINGLE + " or " + INDEX + " found");
    }

    /** Reads a sharded checkpoint through its index; every listed tensor must be in its listed shard. */
    public static Map<String, HostTensor> readSharded(Path indexFile) {
        Path folder = indexFile.toAbsolutePath().getParent();
        Index index;
        try {
            index = Json.MAPPER.readValue(Files.readString(indexFile), Index.class);
        } catch (JsonProcessingException e) {
            throw new ZotuneException(indexFile + ": malformed JSON: " + Json.oneLine(e), e);
        } catch (IOException e) {
            throw new ZotuneException(indexFile + ": cannot read: " + e.getMessage(), e);
        }
        if (index == null || index.weightMap() == null || index.weightMap().isEmpty()) {
            throw new ZotuneException(indexFile + ": missing or empty weight_map");
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
            String shardName = e.getValue();
            if (shardName == null || shardName.isEmpty()) {
                throw new ZotuneException(indexFile + ": weight_map entry for tensor " + e.getKey()
                        + " names no shard file");
            }
            if (!shards.containsKey(shardName)) {
                Path shard = folder.resolve(shardName).normalize();
                if (!shard.startsWith(folder) || shardName.contains("/") || shardName.contains("\\")) {
                    throw new ZotuneException(indexFile + ": shard file name " + shardName + " (tensor "
                            + e.getKey() + ") must be a plain file name in the same folder");
                }
                if (!Files.isRegularFile(shard)) {
                    throw new ZotuneException(indexFile + ": shard file " + shardName + " (holding tensor "
                            + e.getKey() + ") is missing from " + folder);
                }
                shards.put(shardName, SafetensorsFile.open(shard));
            }
            SafetensorsFile f = shards.get(shardName);
            if (!f.contains(e.getKey())) {
                throw new ZotuneException(f.path() + ": no tensor " + e.getKey() + ", which " + INDEX
                        + " places in this shard");
            }
        }
        Map<String, HostTensor> all = new LinkedHashMap<>();
        Map<String, Path> from = new LinkedHashMap<>();
        for (SafetensorsFile f : shards.values()) {
            for (Map.Entry<String, HostTensor> t : f.tensors().entrySet()) {
                Path before = from.putIfAbsent(t.getKey(), f.path());
                if (before != null) {
                    throw new ZotuneException(f.path() + ": tensor " + t.getKey() + " is also in " + before);
                }
                all.put(t.getKey(), t.getValue());
            }
        }
        return all;
    }

    /**
     * Every tensor under the name the LM-head class uses ({@link Architecture#canonicalName}); two stored names for
     * one tensor are an error.
     */
    static Map<String, HostTensor> normalise(Path source, Architecture arch, Map<String, HostTensor> raw) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        Map<String, String> original = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : raw.entrySet()) {
            String name = arch.canonicalName(e.getKey());
            String before = original.putIfAbsent(name, e.getKey());
            if (before != null) {
                throw new ZotuneException(source + ": tensors " + before + " and " + e.getKey()
                        + " are both " + name);
            }
            HostTensor t = e.getValue();
            out.put(name, name.equals(t.name()) ? t : new HostTensor(name, t.dtype(), t.shape(), t.bytes()));
        }
        return Collections.unmodifiableMap(out);
    }
}
