package org.zotune.model.bert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.zotune.TestData;
import org.zotune.backend.Ops;
import org.zotune.backend.Parameters;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.Batch;
import org.zotune.model.LanguageModel;
import org.zotune.model.LoadedEncoder;
import org.zotune.model.ModelFamily;
import org.zotune.model.ModelLoader;
import org.zotune.model.tokenizer.HfTokenizer;
import org.zotune.tensor.DType;

/**
 * all-MiniLM-L6-v2 (a real pretrained BertModel) on the CPU against ONNX Runtime's outputs in its reference.json:
 * the tokenizer's ids, the last hidden state at the first and last real token of six sentences of a right-padded
 * batch, and the mean-pooled L2-normalised embeddings, within 1e-4 (abs + rel); on the CPU and (gpu) on CUDA in
 * float32.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MiniLmReferenceTest {
    private Path folder;
    private JsonNode ref;
    private int batch;
    private int seq;
    private int[] ids;
    private int[] mask;
    private int hidden;

    @BeforeAll
    void read() throws IOException {
        folder = TestData.file("models/all-MiniLM-L6-v2");
        ref = new ObjectMapper().readTree(TestData.file("models/all-MiniLM-L6-v2/reference.json").toFile());
        batch = ref.get("input_ids").size();
        seq = ref.get("input_ids").get(0).size();
        hidden = ref.get("source_details").get("batch_shape").get(2).asInt();
        ids = new int[batch * seq];
        mask = new int[batch * seq];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                ids[b * seq + t] = ref.get("input_ids").get(b).get(t).asInt();
                mask[b * seq + t] = ref.get("attention_mask").get(b).get(t).asInt();
            }
        }
    }

    @Test
    void tokenizerGivesTheReferenceIdsWithoutTheFilesFixedPadding() {
        try (HfTokenizer tok = HfTokenizer.load(folder.resolve("tokenizer.json"))) {
            for (int b = 0; b < batch; b++) {
                int[] got = tok.encode(ref.get("sentences").get(b).asText());
                int real = 0;
                for (int t = 0; t < seq; t++) {
                    real += mask[b * seq + t];
                }
                int[] want = new int[real];
                System.arraycopy(ids, b * seq, want, 0, real);
                assertArrayEquals(want, got, "sentence " + b);
            }
        }
    }

    @Test
    void hiddenStatesAndMeanPooledEmbeddingsEqualOnnxRuntime() {
        try (CpuOps ops = new CpuOps()) {
            compare(ops, "CPU");
        }
    }

    @Test
    @Tag("gpu")
    void onCudaInFloat32Too() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        try (CudaOps ops = CudaOps.create(DType.F32)) {
            compare(ops, "CUDA");
        }
    }

    private void compare(Ops ops, String backend) {
        LoadedEncoder loaded = ModelLoader.loadEncoder(folder);
        assertEquals(ModelFamily.BERT, loaded.config().family());
        assertEquals(LanguageModel.Kind.MASKED, loaded.model().kind());
        assertTrue(!loaded.model().hasMlmHead(), "BertModel has no MLM head");
        float[] h;
        try (Parameters p = ops.createParameters(loaded.parameters(), DType.F32); Ops.Scope s = ops.scope()) {
            int[] types = new int[batch * seq];
            for (int i = 0; i < types.length; i++) {
                types[i] = ref.get("token_type_ids").get(i / seq).get(i % seq).asInt();
            }
            h = ops.toHost(loaded.model().hiddenStates(ops, p, new Batch(batch, seq, ids, mask), types));
        }
        assertEquals(batch * seq * hidden, h.length);
        double worst = 0;
        for (int b = 0; b < batch; b++) {
            worst = Math.max(worst, assertRow(ref.get("last_hidden_state_first_token").get(b), h,
                    b * seq, "first token of sentence " + b));
            int last = ref.get("last_token_index").get(b).asInt();
            worst = Math.max(worst, assertRow(ref.get("last_hidden_state_last_token").get(b), h,
                    b * seq + last, "last token of sentence " + b));
            double[] pooled = new double[hidden];
            int n = 0;
            for (int t = 0; t < seq; t++) {
                if (mask[b * seq + t] != 0) {
                    n++;
                    for (int c = 0; c < hidden; c++) {
                        pooled[c] += h[(b * seq + t) * hidden + c];
                    }
                }
            }
            double norm = 0;
            for (int c = 0; c < hidden; c++) {
                pooled[c] /= n;
                norm += pooled[c] * pooled[c];
            }
            norm = Math.sqrt(norm);
            float[] embedding = new float[hidden];
            for (int c = 0; c < hidden; c++) {
                embedding[c] = (float) (pooled[c] / norm);
            }
            worst = Math.max(worst, assertRow(ref.get("mean_pooled_normalised").get(b), embedding, 0,
                    "mean-pooled embedding of sentence " + b));
        }
        System.out.println("all-MiniLM-L6-v2 " + backend + " f32 vs ONNX Runtime: max |err| " + worst);
    }

    /** Row {@code row} of {@code got} (hidden wide) equals {@code want} within 1e-4 + 1e-4·|want|. */
    private double assertRow(JsonNode want, float[] got, int row, String what) {
        assertEquals(hidden, want.size(), what);
        double worst = 0;
        double maxAbs = 0;
        for (int c = 0; c < hidden; c++) {
            double w = want.get(c).asDouble();
            double g = got[row * hidden + c];
            maxAbs = Math.max(maxAbs, Math.abs(w));
            worst = Math.max(worst, Math.abs(g - w));
            assertTrue(Math.abs(g - w) <= 1e-4 + 1e-4 * Math.abs(w), what + " [" + c + "]: " + g + " vs " + w);
        }
        assertTrue(maxAbs > 0.01, what + ": reference not trivially small");
        return worst;
    }
}
