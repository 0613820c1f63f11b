// PENDING: move to src/test/java/org/zotune/fixtures/ once org.zotune.backend.cuda.CudaOps and
// org.zotune.cuda.Cuda (branch cuda) are on main; it compiles and passes against that branch.
package org.zotune.fixtures;

import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.cuda.Cuda;
import org.zotune.tensor.DType;

/**
 * The CUDA backend against Hugging Face transformers on every fixture model and case (see
 * {@link HfReferenceForwardTest}; relative error = max|a − b| / max|ref| over the compared values).
 * f32: 1e-3 on logits and loss (cuBLAS may reorder sums; TF32 must stay off). bf16 activations with
 * parameters rounded to bf16: 3e-2 on logits, 1% on the loss; llama3-rope 6e-2 on logits, because
 * transformers' own bf16 forward of that model (largest logits, |x| up to 12, f32 weights rounded)
 * is 3.1e-2 / 4.5e-2 / 4.5e-2 away from its f32 reference (single / right / left, torch 2.13 CPU,
 * eager); on the other models it stays within 2.9e-2. Skips without a usable CUDA device.
 */
@Tag("gpu")
class HfReferenceForwardGpuTest {

    @BeforeAll
    static void needsGpu() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeTrue(a.usable(), "no usable CUDA device: " + a.reason());
    }

    static Stream<Arguments> cases() {
        return HfReferenceCheck.cases();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void cudaF32MatchesTransformers(String model, String caseName) {
        HfReferenceCheck.check("cuda f32", () -> CudaOps.create(DType.F32), model, caseName, 1e-3, 1e-3);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void cudaBf16MatchesTransformers(String model, String caseName) {
        double logitTol = model.equals("llama3-rope") ? 6e-2 : 3e-2;
        HfReferenceCheck.check("cuda bf16", () -> CudaOps.create(DType.BF16), model, caseName, logitTol, 1e-2);
    }
}
