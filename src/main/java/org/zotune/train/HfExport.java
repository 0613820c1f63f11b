package org.zotune.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.model.Architecture;
import org.zotune.model.Architectures;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.AtomicFiles;
import org.zotune.model.io.HfCheckpoint;
import org.zotune.model.io.SafetensorsWriter;
import org.zotune.tensor.DType;
import org.zotune.tensor.HostTensor;

/**
 * Writes fine-tuned weights as a Hugging Face folder: {@code model.safetensors} under HF names and layouts (the
 * architecture converts, see {@link Architecture#toHf}: e.g. GPT-2's Conv1D weights transposed back to [in, out], its
 * c_attn bias flattened to [3·hidden]; tied heads omitted as {@code save_pretrained} does), {@code config.json} (copied from a Hugging Face source, written from the config for
 * a llama2.c source) and the tokenizer files copied. Every file is written atomically.
 */
public final class HfExport {
    private static final String[] TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model", "generation_config.json",
        "added_tokens.json"};

    private HfExport() {
    }

    /**
     * @param source    the model the run started from (HF folder, a file in it, or a llama2.c .bin)
     * @param tokenizer an explicit tokenizer file, or null
     * @param params    θ in zotune's layout and parameter order
     */
    public static void write(Path dir, Path source, Path tokenizer, ModelConfig config, List<HostTensor> params,
            Map<String, String> metadata) {
        write(dir, source, tokenizer, config, params, metadata, null);
    }

    /**
     * {@link #write(Path, Path, Path, ModelConfig, List, Map)}, whose weights file becomes a hard link of
     * {@code sameWeights} when that is given and exists: the weights file of an earlier export of the very same θ
     * and metadata (a run's best/ and model/ when its best step is its last).
     *
     * @return the weights file written (or linked)
     */
    public static Path write(Path dir, Path source, Path tokenizer, ModelConfig config, List<HostTensor> params,
            Map<String, String> metadata, Path sameWeights) {
        Path weights = dir.resolve(HfCheckpoint.SINGLE);
        if (sameWeights != null && Files.isRegularFile(sameWeights)) {
            AtomicFiles.link(sameWeights, weights);
        } else {
            writeWeights(weights, config, params, metadata);
        }
        writeSideFiles(dir, source, tokenizer, config, params);
        return weights;
    }

    private static void writeWeights(Path file, ModelConfig config, List<HostTensor> params,
            Map<String, String> metadata) {
        Architecture arch = Architectures.of(config);
        // each tensor is converted when its turn to be written comes, into one scratch buffer: the file never needs
        // a second copy of θ in memory (3 GB at 1.5B parameters in bf16, whose first touch alone took seconds)
        long largest = 0;
        for (HostTensor t : params) {
            if (arch.hfCopies(t.name())) {
                largest = Math.max(largest, t.numel() * t.dtype().bytes());
            }
        }
        ByteBuffer scratch = largest == 0 ? null : ByteBuffer.allocate(Math.toIntExact(largest));
        java.util.Set<String> names = new java.util.HashSet<>();
        for (HostTensor t : params) {
            names.add(t.name());
        }
        List<SafetensorsWriter.Entry> hf = new ArrayList<>(params.size());
        for (HostTensor t : params) {
            hf.add(new SafetensorsWriter.Entry(arch.hfName(t.name(), names), t.dtype(),
                    arch.hfShape(t.name(), t.shape()), () -> arch.toHf(t, scratch).bytes()));
        }
        SafetensorsWriter.writeEntries(file, hf, metadata);
    }

    /** config.json and the tokenizer files. */
    private static void writeSideFiles(Path dir, Path source, Path tokenizer, ModelConfig config,
            List<HostTensor> params) {
        Path srcDir = Files.isDirectory(source) ? source : source.toAbsolutePath().getParent();
        boolean hfSource = srcDir != null && Files.isRegularFile(srcDir.resolve(HfCheckpoint.CONFIG))
                && !source.getFileName().toString().endsWith(".bin");
        if (hfSource) {
            AtomicFiles.copy(srcDir.resolve(HfCheckpoint.CONFIG), dir.resolve(HfCheckpoint.CONFIG));
            for (String f : TOKENIZER_FILES) {
                if (Files.isRegularFile(srcDir.resolve(f))) {
                    AtomicFiles.copy(srcDir.resolve(f), dir.resolve(f));
                }
            }
        } else {
            AtomicFiles.writeString(dir.resolve(HfCheckpoint.CONFIG), configJson(config, params.get(0).dtype()));
            if (srcDir != null && tokenizer == null) {
                copyLlama2cTokenizer(srcDir, dir);
            }
        }
        if (tokenizer != null) {
            AtomicFiles.copy(tokenizer, dir.resolve(tokenizer.getFileName().toString()));
        }
    }

    /**
     * Marks the folder {@link #write} just wrote as a sequence classifier (objective head): config.json gains
     * architectures {@code BertForSequenceClassification} (a bare BERT; a BERT with the masked-LM head keeps its class,
     * whose tensors the folder still holds), or {@code RobertaForSequenceClassification} for a bare RoBERTa with a
     * pooler (whose pooler and classifier {@link #write} names as that class's classifier.dense and
     * classifier.out_proj; a RoBERTa without a pooler keeps its class: its head is not that class's shape),
     * {@code num_labels}, {@code id2label} / {@code label2id} and {@code zotune_pooling}. Transformers' classes
     * classify the pooler's output (zotune's pooling pooler: the same predictions), zotune's head may pool the mean
     * or the first token's hidden state instead: zotune_pooling says which.
     */
    public static void classifierConfig(Path dir, ModelConfig config, List<String> labels, String pooling) {
        Path file = dir.resolve(HfCheckpoint.CONFIG);
        ObjectMapper m = new ObjectMapper();
        ObjectNode o;
        try {
            o = (ObjectNode) m.readTree(file.toFile());
        } catch (IOException | ClassCastException e) {
            throw new ZotuneException(file + ": cannot read the exported config.json: " + e.getMessage(), e);
        }
        // a bare BERT becomes a sequence classifier; one with the masked-LM head keeps its class (BertForMaskedLM),
        // since its cls.predictions tensors stay in the folder and zotune reads the head from architectures
        boolean bare = config.encoder() == null || !config.encoder().mlmHead();
        if (config.family() == ModelFamily.BERT && bare) {
            o.putArray("architectures").add("BertForSequenceClassification");
        } else if (config.family() == ModelFamily.ROBERTA && bare && config.encoder() != null
                && config.encoder().pooler()) {
            // the pooler and the classifier were written under RobertaForSequenceClassification's names (hfName)
            o.putArray("architectures").add("RobertaForSequenceClassification");
        }
        o.put("num_labels", labels.size());
        ObjectNode id2label = o.putObject("id2label");
        ObjectNode label2id = o.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(Integer.toString(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        o.put("zotune_pooling", pooling);
        try {
            AtomicFiles.writeString(file, m.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void copyLlama2cTokenizer(Path srcDir, Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(srcDir, "tok*.bin")) {
            for (Path p : s) {
                AtomicFiles.copy(p, dir.resolve(p.getFileName().toString()));
            }
        } catch (IOException e) {
            throw new ZotuneException(srcDir + ": cannot list the tokenizer files: " + e.getMessage(), e);
        }
    }

    /** A LlamaForCausalLM config.json for a llama2.c source. */
    static String configJson(ModelConfig c, DType dtype) {
        if (c.family() != ModelFamily.LLAMA) {
            throw new ZotuneException("cannot write a config.json for a " + c.family() + " model that was not read "
                    + "from a Hugging Face folder");
        }
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", "llama");
        o.put("vocab_size", c.vocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("intermediate_size", c.intermediateSize());
        o.put("num_hidden_layers", c.numLayers());
        o.put("num_attention_heads", c.numHeads());
        o.put("num_key_value_heads", c.numKvHeads());
        o.put("head_dim", c.headDim());
        o.put("max_position_embeddings", c.maxPositions());
        o.put("rms_norm_eps", c.normEps());
        o.put("rope_theta", c.ropeTheta());
        o.put("hidden_act", "silu");
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("attention_bias", c.attentionBias());
        o.put("mlp_bias", c.mlpBias());
        if (c.bosTokenId() >= 0) {
            o.put("bos_token_id", c.bosTokenId());
        }
        if (c.eosTokenId() >= 0) {
            o.put("eos_token_id", c.eosTokenId());
        }
        o.put("torch_dtype", dtype == DType.BF16 ? "bfloat16" : dtype.name().toLowerCase(Locale.ROOT).equals("f16")
                ? "float16" : "float32");
        try {
            return m.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
