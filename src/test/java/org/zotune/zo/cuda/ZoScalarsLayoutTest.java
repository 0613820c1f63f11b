package org.zotune.zo.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.zotune.zo.optim.ZoOptimizerConfig;

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
        assertEquals(14, offsets.size(), "fields asserted in zo.cuh: " + offsets.keySet());
        for (Map.Entry<String, Integer> e : offsets.entrySet()) {
            int java = ZoScalars.class.getField(e.getKey().toUpperCase(Locale.ROOT)).getInt(null);
            assertEquals(e.getValue().intValue(), java, "offset of " + e.getKey());
        }
        assertTrue(header().contains("sizeof(Scalars) == " + ZoScalars.SIZE));
        // the input block ends before the device-written one starts
        assertTrue(ZoScalars.SAMPLES + 4 <= ZoScalars.INPUT_BYTES && ZoScalars.OUTPUT == ZoScalars.INPUT_BYTES);
        assertTrue(ZoScalars.STEP_OUT + 4 <= ZoScalars.SIZE);
    }

    /**
     * Each registered optimiser's named device parameters are the fields of its params struct in
     * native/include/zo_rules.cuh, in order (all float32, so field i lies at ZoScalars.PARAMS + 4·i), and the
     * struct is a member of the 32-byte parameter union.
     */
    @Test
    void ruleParametersMatchTheHeader() throws Exception {
        String rules = Files.readString(Path.of("native", "include", "zo_rules.cuh"));
        assertTrue(rules.contains("sizeof(RuleParams) == " + ZoScalars.PARAMS_BYTES));
        assertTrue(header().contains("offsetof(Scalars, params) == " + ZoScalars.PARAMS));
        Matcher union = Pattern.compile("union RuleParams \\{([^}]*)\\}").matcher(rules);
        assertTrue(union.find(), "union RuleParams in zo_rules.cuh");
        for (ZoOptimizerConfig c : ZoOptimizerConfig.registered()) {
            ZoOptimizerConfig.DeviceRule rule = c.deviceRule();
            Matcher st = Pattern.compile("struct " + rule.struct() + " \\{([^}]*)\\}").matcher(rules);
            assertTrue(st.find(), c.name() + ": struct " + rule.struct() + " in zo_rules.cuh");
            List<String> fields = new ArrayList<>();
            Matcher f = Pattern.compile("(?m)^\\s*float (\\w+);").matcher(st.group(1));
            while (f.find()) {
                fields.add(f.group(1));
            }
            assertEquals(rule.fields(), fields, c.name() + ": fields of " + rule.struct());
            assertTrue(st.group(1).replaceAll("//[^\\n]*", "").replaceAll("\\s*float \\w+;", "").isBlank(),
                    c.name() + ": " + rule.struct() + " holds float32 fields only");
            assertTrue(fields.size() * 4 <= ZoScalars.PARAMS_BYTES, c.name());
            assertTrue(Pattern.compile("\\b" + rule.struct() + " \\w+;").matcher(union.group(1)).find(),
                    c.name() + ": " + rule.struct() + " is a member of RuleParams");
        }
    }

    @Test
    void chunkStructMatchesTheHeader() throws Exception {
        assertTrue(header().contains("sizeof(Chunk) == " + ChunkTable.BYTES_PER_CHUNK));
    }
}
