package org.zotune.dfo;

import java.util.ArrayList;
import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.model.LanguageModel;
import org.zotune.model.ParamSpec;

/**
 * Where each layer's query and key projections are among a model's parameters: separate matrices (BERT, RoBERTa,
 * OPT, Llama) or the q and k column blocks of GPT-2's packed q|k|v product (c_attn, [3·hidden, hidden], q first).
 *
 * @param q per layer, the query projection
 * @param k per layer, the key projection
 */
public record AttentionTargets(List<Projection> q, List<Projection> k) {

    /**
     * One projection's place.
     *
     * @param weight the parameter index of the matrix whose output holds it
     * @param module the matrix's Hugging Face module name (its name without {@code .weight})
     * @param in     input features
     * @param out    this projection's output features
     * @param offset its first output column in the matrix's output (0 unless packed)
     * @param width  the matrix's whole output width (out unless packed)
     */
    public record Projection(int weight, String module, int in, int out, int offset, int width) {
        public boolean packed() {
            return width != out;
        }
    }

    private static final String[] QUERY = {".attention.self.query.weight", ".self_attn.q_proj.weight"};
    private static final String[] KEY = {".attention.self.key.weight", ".self_attn.k_proj.weight"};
    private static final String PACKED = ".attn.c_attn.weight";

    public AttentionTargets {
        if (q.size() != k.size() || q.isEmpty()) {
            throw new IllegalArgumentException(q.size() + " query and " + k.size() + " key projections");
        }
        q = List.copyOf(q);
        k = List.copyOf(k);
    }

    public int layers() {
        return q.size();
    }

    /** The query and key projections of every layer of {@code model}, in layer order. */
    public static AttentionTargets of(LanguageModel model) {
        List<Projection> q = new ArrayList<>();
        List<Projection> k = new ArrayList<>();
        List<ParamSpec> params = model.params();
        for (int p = 0; p < params.size(); p++) {
            ParamSpec s = params.get(p);
            long[] sh = s.shape();
            if (sh.length != 2) {
                continue;
            }
            int out = Math.toIntExact(sh[0]);
            int in = Math.toIntExact(sh[1]);
            String module = s.name().substring(0, s.name().length() - ".weight".length());
            if (s.name().endsWith(PACKED)) {
                int h = model.config().numHeads() * model.config().headDim();
                int kw = model.config().numKvHeads() * model.config().headDim();
                if (out != h + 2 * kw) {
                    throw new IllegalArgumentException(s + ": not a packed q|k|v of " + h + " + 2·" + kw);
                }
                q.add(new Projection(p, module, in, h, 0, out));
                k.add(new Projection(p, module, in, kw, h, out));
            } else if (endsWithAny(s.name(), QUERY)) {
                q.add(new Projection(p, module, in, out, 0, out));
            } else if (endsWithAny(s.name(), KEY)) {
                k.add(new Projection(p, module, in, out, 0, out));
            }
        }
        int layers = model.config().numLayers();
        if (q.size() != layers || k.size() != layers) {
            throw new ZotuneException("DFO-LoRA adapts every layer's query and key projections; found " + q.size()
                    + " and " + k.size() + " of them in this " + model.config().family() + " model of " + layers
                    + " layers");
        }
        return new AttentionTargets(q, k);
    }

    private static boolean endsWithAny(String name, String[] suffixes) {
        for (String s : suffixes) {
            if (name.endsWith(s)) {
                return true;
            }
        }
        return false;
    }
}
