package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;

/** The noise variant's property and the kernel names it selects (CPU; the kernels themselves: ZoNoiseGpuTest). */
class NoiseVariantTest {
    @Test
    void thePropertyNamesExactOrFastAndTheDefaultIsExact() {
        assertEquals(NoiseVariant.EXACT, NoiseVariant.parse("exact"));
        assertEquals(NoiseVariant.FAST, NoiseVariant.parse("fast"));
        ZotuneException x = assertThrows(ZotuneException.class, () -> NoiseVariant.parse("FAST "));
        assertEquals("zotune.noise: 'FAST ' is not one of exact, fast", x.getMessage());
        String before = System.getProperty(NoiseVariant.PROPERTY);
        try {
            System.clearProperty(NoiseVariant.PROPERTY);
            assertEquals(NoiseVariant.EXACT, NoiseVariant.configured());
            System.setProperty(NoiseVariant.PROPERTY, "fast");
            assertEquals(NoiseVariant.FAST, NoiseVariant.configured());
        } finally {
            if (before == null) {
                System.clearProperty(NoiseVariant.PROPERTY);
            } else {
                System.setProperty(NoiseVariant.PROPERTY, before);
            }
        }
    }

    /** Every kernel that regenerates Gaussian noise has a _fast twin with its signature, and nothing else has one. */
    @Test
    void everyNoiseKernelHasAFastTwin() {
        Map<String, String> s = ZoKernels.signatures();
        int twins = 0;
        for (Map.Entry<String, String> e : s.entrySet()) {
            String name = e.getKey();
            boolean noise = name.startsWith("zo_noise_fill") || name.startsWith("zo_perturb_")
                    || name.startsWith("zo_shadow_") || name.startsWith("zo_update_");
            if (name.endsWith("_fast")) {
                String exact = name.substring(0, name.length() - "_fast".length());
                assertEquals(s.get(exact), e.getValue(), name);
                twins++;
            } else {
                assertEquals(noise, s.containsKey(name + "_fast"), name);
            }
        }
        // noise fill, 9 perturb and 9 shadow kernels, and the update kernels (3 parameter dtypes × state dtypes)
        assertTrue(twins > 19, "fast kernels: " + twins);
        assertTrue(s.containsKey("zo_update_sgd_bf16_f32_fast") && s.containsKey("zo_noise_fill_fast"));
    }
}
