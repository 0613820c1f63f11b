package org.zotune.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
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

    /** Every dtype (f32, bf16, f16) is a CUDA compute type: without a device the only refusal is the device's. */
    @ParameterizedTest
    @EnumSource(DType.class)
    void everyDtypeIsAcceptedAndOnlyTheMissingDeviceIsReported(DType t) {
        Assumptions.assumeFalse(Cuda.availability().usable(), "a CUDA device is usable here");
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaOps.create(t));
        assertTrue(e.getMessage().startsWith("CUDA is not usable: "), e.getMessage());
        assertFalse(e.getMessage().contains("compute type"), e.getMessage());
    }
}
