package org.zotune.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.zotune.data.batch.EncodedExample;
import org.zotune.data.batch.PromptBatch;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.ModelConfig;
import org.zotune.model.ModelFamily;
import org.zotune.train.objective.MaskedChoices;
import org.zotune.train.objective.MaskedLmPrompt;

/**
 * The encoder shapes of the forward and step benchmarks, by the names benchmarks/hf_forward.py and
 * benchmarks/peer/mezo_peer.py use: BERT-base/large (bert-base-uncased's config: vocab 30522, 512 positions, 2 token
 * types, LayerNorm eps 1e-12) and RoBERTa-base/large (roberta-large's: vocab 50265, 514 positions, padding_idx 1 so
 * positions start at 2, 1 token type, eps 1e-5), each with the masked-LM head and no pooler (the ...ForMaskedLM
 * classes), erf GELU. Random weights come from the shapes alone ({@link Gpt2Shapes#randomWeights} or the step
 * benchmark's device noise).
 *
 * <p>Batches are full-length rows (no padding: every mask entry 1), random ids that avoid the special tokens. The
 * masked-LM prompt batch (the step's mlm rows) is MeZO's SST-2 prompt shape: per row {@code [CLS]/<s>} + random
 * sentence tokens + one mask token three from the end + one more token + {@code [SEP]/</s>}; two label words; gold
 * alternates 0, 1 over the rows.
 */
public final class EncoderShapes {
    private EncoderShapes() {
    }

    /** name → {layers, hidden, heads, ffn}; the family is in the name. */
    private static final Map<String, int[]> SHAPES = new LinkedHashMap<>();

    static {
        SHAPES.put("bert-base", new int[] {12, 768, 12, 3072});
        SHAPES.put("bert-large", new int[] {24, 1024, 16, 4096});
        SHAPES.put("roberta-base", new int[] {12, 768, 12, 3072});
        SHAPES.put("roberta-large", new int[] {24, 1024, 16, 4096});
    }

    /** Whether {@code name} is one of these encoder shapes. */
    public static boolean has(String name) {
        return SHAPES.containsKey(name);
    }

    public static List<String> names() {
        return List.copyOf(SHAPES.keySet());
    }

    public static ModelConfig config(String name) {
        int[] s = SHAPES.get(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown encoder shape " + name + " (" + String.join(", ", SHAPES.keySet())
                    + ")");
        }
        return config(name.startsWith("roberta") ? ModelFamily.ROBERTA : ModelFamily.BERT, s[0], s[1], s[2], s[3]);
    }

    /** An encoder config of these sizes with BERT's or RoBERTa's vocabulary, positions and special tokens. */
    public static ModelConfig config(ModelFamily family, int layers, int hidden, int heads, int ffn) {
        boolean roberta = family == ModelFamily.ROBERTA;
        return new ModelConfig(family, roberta ? 50265 : 30522, hidden, layers, heads, heads, hidden / heads, ffn,
                roberta ? 514 : 512, roberta ? 1e-5 : 1e-12, ModelConfig.Activation.GELU, true, false, false, hidden,
                0.0, null, true, true, roberta ? 0 : -1, roberta ? 2 : -1, roberta ? 1 : 0,
                new ModelConfig.Encoder(roberta ? 1 : 2, roberta ? 2 : 0, true));
    }

    /** The special tokens of a family: {first token, last token, mask}; BERT [CLS] [SEP] [MASK], RoBERTa s /s mask. */
    static int[] specials(ModelConfig c) {
        return c.family() == ModelFamily.ROBERTA ? new int[] {0, 2, 50264} : new int[] {101, 102, 103};
    }

    /**
     * Two label-word ids for the mlm rows: fixed ordinary tokens of each vocabulary (which words they are does not
     * change the step's work: the loss reads two columns of the head's logits at the mask).
     */
    public static int[] labelTokens(ModelConfig c) {
        return c.family() == ModelFamily.ROBERTA ? new int[] {6587, 372} : new int[] {6659, 2307};
    }

    /** Lowest id of an ordinary token (BERT's [unused…] and specials below 999; RoBERTa's four specials). */
    private static int firstOrdinary(ModelConfig c) {
        return c.family() == ModelFamily.ROBERTA ? 4 : 999;
    }

    /** A random ordinary token: never a special, never the mask. */
    private static int ordinary(ModelConfig c, SplittableRandom rnd) {
        int mask = specials(c)[2];
        int id;
        do {
            id = rnd.nextInt(firstOrdinary(c), c.vocabSize());
        } while (id == mask);
        return id;
    }

    /** {batch, seq} of "BxT". */
    public static int[] shape(String s) {
        String[] bt = s.split("x");
        if (bt.length != 2) {
            throw new IllegalArgumentException("batch shape " + s + ": expected BxT, e.g. 32x128");
        }
        return new int[] {Integer.parseInt(bt[0]), Integer.parseInt(bt[1])};
    }

    /** Full-length rows of random ordinary tokens between the family's first and last special token. */
    public static Batch batch(ModelConfig c, String shape, long seed) {
        int[] bt = shape(shape);
        int[] sp = specials(c);
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] seqs = new int[bt[0]][bt[1]];
        for (int[] s : seqs) {
            for (int i = 0; i < s.length; i++) {
                s[i] = ordinary(c, rnd);
            }
            s[0] = sp[0];
            s[s.length - 1] = sp[1];
        }
        return Batch.rightPadded(seqs, c.padTokenId());
    }

    /**
     * The masked-LM prompt batch of {@code shape}: each row of {@link #batch} with the mask token at seq − 3 (MeZO's
     * SST-2 template "&lt;s&gt; sentence It was &lt;mask&gt; . &lt;/s&gt;" ends "&lt;mask&gt; . &lt;/s&gt;"), one
     * example per row, gold alternating 0, 1.
     */
    public static PromptBatch promptBatch(ModelConfig c, String shape, long seed) {
        Batch b = batch(c, shape, seed);
        int t = b.seq();
        if (t < 4) {
            throw new IllegalArgumentException("a masked-LM prompt row needs seq >= 4, got " + shape);
        }
        int mask = specials(c)[2];
        List<EncodedExample> ex = new ArrayList<>();
        for (int x = 0; x < b.batch(); x++) {
            int[] row = java.util.Arrays.copyOfRange(b.ids(), x * t, (x + 1) * t);
            row[t - 3] = mask;
            ex.add(new EncodedExample("bench" + x, new int[][] {row}, new int[] {t - 3}, x % 2));
        }
        return PromptBatch.of(ex, c.padTokenId());
    }

    /** The objective of the mlm rows: the masked-LM prompt with {@link #labelTokens} (ALGORITHMS.md §6). */
    public static MaskedLmPrompt objective(ModelConfig c) {
        return new MaskedLmPrompt(specials(c)[2], labelTokens(c));
    }

    /** What the captured step's loss reads for {@code batch}: the objective's own mask rows, labels and gold. */
    public static MaskedChoices maskedChoices(LanguageModel model, PromptBatch batch) {
        return objective(model.config()).maskedChoices(model, batch).orElseThrow();
    }
}
