package org.zotune.model.bert;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Set;
import org.zotune.model.Architecture;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelConfig.Activation;
import org.zotune.model.ModelFamily;
import org.zotune.model.io.ConfigJson;

/**
 * BERT and RoBERTa as Hugging Face stores them (BertConfig / RobertaConfig: the same fields); the two differ in the
 * names of the body and MLM head and in the position rule. Layouts are Hugging Face's ([out, in] matrices).
 */
abstract class EncoderArchitecture implements Architecture {

    /** BertConfig / RobertaConfig fields. */
    record Fields(
            @JsonProperty("architectures") List<String> architectures,
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("hidden_size") Integer hiddenSize,
            @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
            @JsonProperty("num_attention_heads") Integer numAttentionHeads,
            @JsonProperty("intermediate_size") Integer intermediateSize,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
            @JsonProperty("type_vocab_size") Integer typeVocabSize,
            @JsonProperty("layer_norm_eps") Double layerNormEps,
            @JsonProperty("position_embedding_type") String positionEmbeddingType,
            @JsonProperty("is_decoder") Boolean isDecoder,
            @JsonProperty("add_cross_attention") Boolean addCrossAttention) {
    }

    abstract ModelFamily family();

    /** "bert." or "roberta.": the prefix of the body's names in the LM-head class. */
    @Override
    public abstract String bodyPrefix();

    /** Position of the first real token (BERT 0, RoBERTa padding_idx + 1). */
    abstract int positionOffset(int padTokenId);

    abstract int defaultPadTokenId();

    @Override
    public ModelConfig parseConfig(ConfigJson json) {
        Fields c = json.bind(Fields.class);
        int hidden = json.positive("hidden_size", c.hiddenSize());
        int heads = json.positive("num_attention_heads", c.numAttentionHeads());
        json.divisible(hidden, "hidden_size", heads, "num_attention_heads");
        if (c.positionEmbeddingType() != null && !c.positionEmbeddingType().equals("absolute")) {
            throw json.error("field position_embedding_type: '" + c.positionEmbeddingType()
                    + "' is not supported (supported: absolute)");
        }
        if (Boolean.TRUE.equals(c.isDecoder()) || Boolean.TRUE.equals(c.addCrossAttention())) {
            throw json.error("is_decoder / add_cross_attention = true is not supported (encoders only)");
        }
        String act = c.hiddenAct() == null ? "gelu" : c.hiddenAct();
        Activation activation;
        if (act.equals("gelu")) {
            activation = Activation.GELU;
        } else {
            try {
                activation = Activation.fromHf(act);
            } catch (IllegalArgumentException e) {
                throw json.error("field hidden_act: unsupported activation '" + act
                        + "' (supported: gelu, gelu_new, relu)");
            }
            if (activation == Activation.SILU) {
                throw json.error("field hidden_act: unsupported activation '" + act
                        + "' (supported: gelu, gelu_new, relu)");
            }
        }
        boolean mlm = false;
        if (c.architectures() != null) {
            for (String a : c.architectures()) {
                mlm |= a.endsWith("ForMaskedLM") || a.endsWith("ForPreTraining");
            }
        }
        int pad = json.padTokenId(defaultPadTokenId());
        int offset = positionOffset(pad);
        int typeVocab = json.positive("type_vocab_size", c.typeVocabSize() == null ? 2 : c.typeVocabSize());
        int maxPositions = json.positive("max_position_embeddings", c.maxPositionEmbeddings());
        if (offset >= maxPositions) {
            throw json.error("pad_token_id " + pad + " leaves no position embeddings of "
                    + "max_position_embeddings " + maxPositions);
        }
        return new ModelConfig(family(),
                json.positive("vocab_size", c.vocabSize()),
                hidden,
                json.positive("num_hidden_layers", c.numHiddenLayers()),
                heads, heads, hidden / heads,
                json.positive("intermediate_size", c.intermediateSize()),
                maxPositions,
                json.eps("layer_norm_eps", c.layerNormEps(), 1e-12),
                activation,
                true, false, false, hidden, 0.0, null, true, true,
                json.bosTokenId(-1),
                json.eosTokenId(-1),
                pad,
                new ModelConfig.Encoder(typeVocab, offset, mlm));
    }

    /**
     * LoRA's targets (peft.targets), PEFT's names inside a layer: the self-attention's query, key, value and output
     * dense, the FFN's intermediate.dense (up) and output.dense (down). The last two names end alike
     * (attention.output.dense, output.dense): a target is the module of exactly this name in a layer. PEFT's own
     * default for bert and roberta (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) is [query, value]: q and v.
     */
    @Override
    public java.util.Map<String, String> adapterModules() {
        return java.util.Map.of("q", "attention.self.query", "k", "attention.self.key", "v", "attention.self.value",
                "o", "attention.output.dense", "up", "intermediate.dense", "down", "output.dense");
    }

    /** A BertForSequenceClassification-style head ({@link org.zotune.model.SequenceClassifier}). */
    @Override
    public Set<String> taskHeadTensors() {
        return Set.of(org.zotune.model.SequenceClassifier.WEIGHT, org.zotune.model.SequenceClassifier.BIAS);
    }

    @Override
    public Bert create(ModelConfig config) {
        return new Bert(config);
    }

    /** The pooler is present when the checkpoint has its dense layer (BertModel has it; ...ForMaskedLM need not). */
    @Override
    public ModelConfig withWeights(ModelConfig config, Set<String> names) {
        ModelConfig.Encoder e = config.encoder();
        boolean pooler = names.contains(bodyPrefix() + "pooler.dense.weight");
        if (e == null || e.pooler() == pooler) {
            return config;
        }
        return new ModelConfig(config.family(), config.vocabSize(), config.hiddenSize(), config.numLayers(),
                config.numHeads(), config.numKvHeads(), config.headDim(), config.intermediateSize(),
                config.maxPositions(), config.normEps(), config.activation(), config.tieWordEmbeddings(),
                config.normBefore(), config.finalNorm(), config.wordEmbedProjDim(), config.ropeTheta(),
                config.ropeScaling(), config.attentionBias(), config.mlpBias(), config.bosTokenId(),
                config.eosTokenId(), config.padTokenId(), new ModelConfig.Encoder(e.typeVocabSize(),
                        e.positionOffset(), e.mlmHead(), pooler));
    }

    /**
     * Body names without the prefix (checkpoints of the bare model) gain it; TF-era LayerNorm names
     * (gamma / beta) become weight / bias.
     */
    @Override
    public String canonicalName(String stored) {
        String n = stored;
        if (n.contains("LayerNorm.gamma") || n.contains("LayerNorm.beta")) {
            n = n.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias");
        }
        if (n.startsWith("embeddings.") || n.startsWith("encoder.") || n.startsWith("pooler.")) {
            n = bodyPrefix() + n;
        }
        return n;
    }

    /** BERT: BertForMaskedLM, names under bert. and cls.predictions., positions 0..seq-1. */
    static final class BertArchitecture extends EncoderArchitecture {
        @Override
        public String hfArchitecture() {
            return "BertForMaskedLM";
        }

        @Override
        public String hfModelType() {
            return "bert";
        }

        @Override
        ModelFamily family() {
            return ModelFamily.BERT;
        }

        @Override
        public String bodyPrefix() {
            return "bert.";
        }

        @Override
        int positionOffset(int padTokenId) {
            return 0;
        }

        @Override
        int defaultPadTokenId() {
            return 0;
        }
    }

    /** RoBERTa: RobertaForMaskedLM, names under roberta. and lm_head., positions from padding_idx + 1. */
    static final class RobertaArchitecture extends EncoderArchitecture {
        private static final String HF_HEAD_DENSE = "classifier.dense.";
        private static final String HF_HEAD_OUT = "classifier.out_proj.";
        private static final String POOLER_DENSE = "roberta.pooler.dense.";

        @Override
        public String hfArchitecture() {
            return "RobertaForMaskedLM";
        }

        @Override
        public String hfModelType() {
            return "roberta";
        }

        @Override
        ModelFamily family() {
            return ModelFamily.ROBERTA;
        }

        @Override
        public String bodyPrefix() {
            return "roberta.";
        }

        @Override
        int positionOffset(int padTokenId) {
            return padTokenId + 1;
        }

        /**
         * RobertaForSequenceClassification's head (RobertaClassificationHead: out_proj(tanh(dense(h of the first
         * token)))) is BERT's pooler followed by BERT's classifier under other names: its dense is read as the pooler,
         * its out_proj as the classifier (objective head with pooling pooler).
         */
        @Override
        public String canonicalName(String stored) {
            if (stored.startsWith(HF_HEAD_DENSE)) {
                return POOLER_DENSE + stored.substring(HF_HEAD_DENSE.length());
            }
            if (stored.startsWith(HF_HEAD_OUT)) {
                return "classifier." + stored.substring(HF_HEAD_OUT.length());
            }
            return super.canonicalName(stored);
        }

        /**
         * Back to RobertaForSequenceClassification's names when the parameters hold both the pooler and the
         * classifier (a head run on a RoBERTa with a pooler): HF's class has no pooler and classifies through
         * classifier.dense, so the pooler's weights go there; otherwise the names are zotune's.
         */
        @Override
        public String hfName(String name, Set<String> names) {
            boolean hfHead = names.contains(POOLER_DENSE + "weight")
                    && names.contains(org.zotune.model.SequenceClassifier.WEIGHT);
            if (!hfHead) {
                return name;
            }
            if (name.startsWith(POOLER_DENSE)) {
                return HF_HEAD_DENSE + name.substring(POOLER_DENSE.length());
            }
            if (name.equals(org.zotune.model.SequenceClassifier.WEIGHT)
                    || name.equals(org.zotune.model.SequenceClassifier.BIAS)) {
                return HF_HEAD_OUT + name.substring("classifier.".length());
            }
            return name;
        }

        @Override
        int defaultPadTokenId() {
            return 1;
        }
    }
}
