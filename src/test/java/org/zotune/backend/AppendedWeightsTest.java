package org.zotune.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import org.junit.jupiter.api.Test;

/** {@link AppendedWeights} forwards every method of {@link WeightSource}: none is left to its default. */
class AppendedWeightsTest {
    @Test
    void everyMethodIsForwarded() throws NoSuchMethodException {
        int checked = 0;
        for (Method m : WeightSource.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            Method own = AppendedWeights.class.getMethod(m.getName(), m.getParameterTypes());
            assertEquals(AppendedWeights.class, own.getDeclaringClass(), m.getName() + " is left to its default");
            checked++;
        }
        assertEquals(WeightSource.class.getMethods().length, checked);
    }
}
