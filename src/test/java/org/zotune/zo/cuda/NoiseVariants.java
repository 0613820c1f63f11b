package org.zotune.zo.cuda;

/**
 * Runs test code with {@code -Dzotune.noise} set to one {@link NoiseVariant} (every ZoKernels made inside, e.g. by a
 * DeviceZoStep, takes it), restoring the property after. JUnit runs the test classes one at a time here.
 */
public final class NoiseVariants {
    private NoiseVariants() {
    }

    public static void with(NoiseVariant v, Runnable body) {
        String before = System.getProperty(NoiseVariant.PROPERTY);
        System.setProperty(NoiseVariant.PROPERTY, v.name().toLowerCase(java.util.Locale.ROOT));
        try {
            body.run();
        } finally {
            if (before == null) {
                System.clearProperty(NoiseVariant.PROPERTY);
            } else {
                System.setProperty(NoiseVariant.PROPERTY, before);
            }
        }
    }
}
