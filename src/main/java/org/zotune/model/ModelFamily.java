package org.zotune.model;

/** The decoder architectures zotune runs, named by their Hugging Face classes. */
public enum ModelFamily {
    GPT2("GPT2LMHeadModel", "gpt2"),
    OPT("OPTForCausalLM", "opt"),
    LLAMA("LlamaForCausalLM", "llama");

    private final String hfArchitecture;
    private final String hfModelType;

    ModelFamily(String hfArchitecture, String hfModelType) {
        this.hfArchitecture = hfArchitecture;
        this.hfModelType = hfModelType;
    }

    public String hfArchitecture() {
        return hfArchitecture;
    }

    public String hfModelType() {
        return hfModelType;
    }
}
