package org.zotune.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.backend.cuda.CudaOps;
import org.zotune.tensor.DType;

/** On a machine without a usable GPU (CI, the build hosts): a clear status, never a JVM crash. */
class CudaAvailabilityTest {

    @Test
    void withoutADeviceAvailabilitySaysWhyAndCreateThrowsAOneLineError() {
        Cuda.Availability a = Cuda.availability();
        Assumptions.assumeFalse(a.usable(), "a CUDA device is usable here: " + a);
        assertFalse(a.reason().isBlank());
        assertTrue(a.toString().startsWith("unusable: "), a.toString());
        // asking again gives the same answer rather than retrying the native load
        assertTrue(Cuda.availability() == a);
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaOps.create(DType.F32));
        assertTrue(e instanceof ZotuneException);
        assertTrue(e.getMessage().startsWith("CUDA is not usable: "), e.getMessage());
        assertTrue(e.getMessage().endsWith("(use --device cpu for the CPU backend)"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        System.out.println("CUDA availability here: " + a);
    }

    @Test
    void computeTypeF16IsRefusedBeforeTouchingTheDevice() {
        ZotuneException e = assertThrows(ZotuneException.class, () -> CudaOps.create(DType.F16));
        assertTrue(e.getMessage().contains("f32 or bf16"), e.getMessage());
    }
}
