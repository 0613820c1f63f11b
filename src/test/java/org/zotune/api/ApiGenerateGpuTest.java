package org.zotune.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.zotune.cuda.Cuda;

/**
 * {@link Model#generate} on CUDA goes through the captured decode step ({@code DecodeGraph}, greedy tokens picked on
 * the device): the bundled stories260K in float32 generates the CPU's greedy tokens, streams each token as it is
 * chosen, and a batch generates what each prompt generates alone, greedy and sampled.
 */
@Tag("gpu")
class ApiGenerateGpuTest {
    @Test
    void generationOnCudaIsTheCpusAndStreamsAndBatches() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
        int[] cpuTokens;
        try (Model cpu = Model.open(ModelSource.bundled(), Device.CPU, Precision.F32)) {
            cpuTokens = cpu.generate(new int[] {cpu.bosId()}, Generation.greedy(120), null);
        }
        try (Model m = Model.open(ModelSource.bundled(), Device.CUDA, Precision.F32)) {
            List<Integer> streamed = new ArrayList<>();
            int[] tokens = m.generate(new int[] {m.bosId()}, Generation.greedy(120), streamed::add);
            assertArrayEquals(cpuTokens, tokens, "CUDA greedy tokens against the CPU's");
            assertEquals(tokens.length, streamed.size(), "tokens streamed");
            for (int i = 0; i < tokens.length; i++) {
                assertEquals(tokens[i], streamed.get(i), "streamed token " + i);
            }
            int[][] prompts = {m.tokenize("Once upon a time"), new int[] {m.bosId()},
                m.tokenize("The little dog ran to the")};
            for (Generation g : new Generation[] {Generation.greedy(40), Generation.sampled(40, 0.8f, 9)}) {
                int[][] batched = m.generate(prompts, g);
                for (int i = 0; i < prompts.length; i++) {
                    assertArrayEquals(m.generate(prompts[i], g, null), batched[i], "prompt " + i + " " + g);
                }
            }
            System.out.println("stories260K on CUDA through the decode graph: " + m.decode(tokens));
        }
    }
}
