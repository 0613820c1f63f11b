package org.zotune.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.zotune.TestData;
import org.zotune.backend.Parameters;
import org.zotune.backend.cpu.CpuOps;
import org.zotune.model.tokenizer.Llama2cTokenizer;
import org.zotune.tensor.DType;

/**
 * The real stories260K model (llama2.c format) through ModelLoader, the Llama architecture and the CPU
 * backend: greedy decoding from BOS must reproduce, token for token, the sample published with the model
 * in llama2.c's doc/stories260K.md (256 generated tokens, run.c -t 0.0).
 */
class Stories260KTest {

    static String publishedSample() throws IOException {
        try (InputStream in = Stories260KTest.class.getResourceAsStream("stories260K-greedy.txt")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void greedyDecodingReproducesThePublishedSample() throws IOException {
        LoadedModel m = ModelLoader.load(TestData.file("models/stories260K/stories260K.bin"));
        Llama2cTokenizer tok = Llama2cTokenizer.load(TestData.file("models/stories260K/tok512.bin"));
        int[] generated;
        try (CpuOps ops = new CpuOps(); Parameters p = ops.createParameters(m.parameters(), DType.F32)) {
            // run.c -t 0.0 with its default 256 steps: 256 forward passes from BOS, one new token each;
            // it would stop early at BOS (id 1), so that is the stop token here
            generated = Generator.generate(ops, m.model(), p, new int[] {tok.bosId()}, 256,
                    Generator.Sampling.argmax(), tok.bosId(), null);
        }
        assertEquals(256, generated.length, "run.c generated 256 tokens without reaching BOS");
        assertEquals(publishedSample(), tok.decode(generated));
    }
}
