package org.zotune.dfo;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import org.zotune.dfo.AttentionTargets.Projection;
import org.zotune.dfo.Subspace.Factors;
import org.zotune.peft.Lora;
import org.zotune.tensor.HostTensor;

/**
 * The searched adapter materialised (ALGORITHMS.md §7): every layer's best z mapped to its query and key LoRA factors,
 * as float32 tensors under Hugging Face PEFT's names and layouts ({@code base_model.model.<module>.lora_A.weight}
 * [r, in], {@code ...lora_B.weight} [out, r]), W' = W + B·A with scale 1: export it with {@code lora_alpha = r}.
 * GPT-2's packed c_attn is one module of rank 2r: A = [A_Q; A_K], B holds B_Q in the q rows' first r columns, B_K in
 * the k rows' last r columns and zero over v, so B·A adds B_Q·A_Q to the q rows and B_K·A_K to the k rows.
 *
 * @param rank          the exported adapter's r (2·rank for a packed q|k|v)
 * @param targetModules the adapted modules' last names (PEFT's target_modules), e.g. query, key
 * @param tensors       per layer in order, per module: A then B
 */
public record DfoAdapter(int rank, List<String> targetModules, List<HostTensor> tensors) {

    public DfoAdapter {
        targetModules = List.copyOf(targetModules);
        tensors = List.copyOf(tensors);
    }

    /** The adapter of {@code subspace} at every layer's point {@code best}. */
    public static DfoAdapter of(Subspace subspace, double[][] best) {
        List<Factors> factors = subspace.materialise(best);
        List<HostTensor> out = new ArrayList<>();
        LinkedHashSet<String> modules = new LinkedHashSet<>();
        boolean packed = false;
        for (int l = 0; l < factors.size(); l++) {
            for (Subspace.Pair p : subspace.pairs(l, factors.get(l))) {
                String module = p.target().module();
                out.add(HostTensor.ofFloats(Lora.PEFT_PREFIX + module + ".lora_A.weight", p.a(), p.rank(), p.in()));
                out.add(HostTensor.ofFloats(Lora.PEFT_PREFIX + module + ".lora_B.weight", p.b(), p.rows(), p.rank()));
                modules.add(module.substring(module.lastIndexOf('.') + 1));
                packed |= p.target().packed();
            }
        }
        return new DfoAdapter(packed ? 2 * subspace.rank() : subspace.rank(), new ArrayList<>(modules), out);
    }

    /**
     * The base weights (in the model's parameter order) with every adapted matrix replaced by W + B·A in float32
     * (B·A accumulated in double): the merged export.
     */
    public List<HostTensor> merged(Subspace subspace, List<HostTensor> base) {
        List<HostTensor> out = new ArrayList<>(base);
        int t = 0;
        for (int l = 0; l < subspace.layers(); l++) {
            Projection q = subspace.targets().q().get(l);
            Projection k = subspace.targets().k().get(l);
            for (Projection p : q.weight() != k.weight() ? List.of(q, k) : List.of(q)) { // one pair per matrix
                HostTensor w = out.get(p.weight());
                float[] v = w.toFloats();
                float[] a = tensors.get(t++).toFloats();
                float[] b = tensors.get(t++).toFloats();
                int in = p.in();
                int rows = v.length / in;
                int r = a.length / in;
                for (int o = 0; o < rows; o++) {
                    for (int i = 0; i < in; i++) {
                        double ba = 0;
                        for (int j = 0; j < r; j++) {
                            ba += (double) b[o * r + j] * a[j * in + i];
                        }
                        v[o * in + i] = (float) (v[o * in + i] + ba);
                    }
                }
                out.set(p.weight(), HostTensor.ofFloats(w.name(), v, w.shape()));
            }
        }
        return out;
    }
}
