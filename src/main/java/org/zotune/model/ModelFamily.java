package org.zotune.model;

import org.zotune.model.bert.Encoders;
import org.zotune.model.gpt2.Gpt2Architecture;
import org.zotune.model.llama.LlamaArchitecture;
import org.zotune.model.opt.OptArchitecture;

/**
 * The registry of architectures zotune runs: one constant per architecture, naming it in configs and messages and
 * holding its {@link Architecture}. Adding a model is one package and one line here. Config detection tries the
 * constants in this order.
 */
public enum ModelFamily {
    GPT2(new Gpt2Architecture()),
    OPT(new OptArchitecture()),
    LLAMA(new LlamaArchitecture()),
    BERT(Encoders.bert()),
    ROBERTA(Encoders.roberta());

    private final Architecture architecture;

    ModelFamily(Architecture architecture) {
        this.architecture = architecture;
    }

    public Architecture architecture() {
        return architecture;
    }

    public String hfArchitecture() {
        return architecture.hfArchitecture();
    }

    public String hfModelType() {
        return architecture.hfModelType();
    }
}
