package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Java mirror of the device structs against the static_asserts nvcc checks in native/include/zo.cuh. */
class ZoScalarsLayoutTest {

    private static String header() throws IOException {
        return Files.readString(Path.of("native", "include", "zo.cuh"));
    }

    @Test
    void scalarOffsetsMatchTheHeader() throws Exception {
        Matcher mt = Pattern.compile("offsetof\\(Scalars, (\\w+)\\) == (\\d+)").matcher(header());
        Map<String, Integer> offsets = new LinkedHashMap<>();
        while (mt.find()) {
            offsets.put(mt.group(1), Integer.parseInt(mt.group(2)));
        }
        assertEquals(21, offsets.size(), "fields asserted in zo.cuh: " + offsets.keySet());
        for (Map.Entry<String, Integer> e : offsets.entrySet()) {
            int java = ZoScalars.class.getField(e.getKey().toUpperCase(Locale.ROOT)).getInt(null);
            assertEquals(e.getValue().intValue(), java, "offset of " + e.getKey());
        }
        assertTrue(header().contains("sizeof(Scalars) == " + ZoScalars.SIZE));
        // the input block ends before the device-written one starts
        assertTrue(ZoScalars.SAMPLES + 4 <= ZoScalars.INPUT_BYTES && ZoScalars.OUTPUT == ZoScalars.INPUT_BYTES);
        assertTrue(ZoScalars.STEP_OUT + 4 <= ZoScalars.SIZE);
    }

    @Test
    void chunkStructMatchesTheHeader() throws Exception {
        assertTrue(header().contains("sizeof(Chunk) == " + ChunkTable.BYTES_PER_CHUNK));
    }
}
