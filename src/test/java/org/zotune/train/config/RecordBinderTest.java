package org.zotune.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.zotune.ZotuneException;
import org.zotune.train.config.RecordBinder.AtLeast;
import org.zotune.train.config.RecordBinder.Choice;
import org.zotune.train.config.RecordBinder.Default;
import org.zotune.train.config.RecordBinder.NonNegative;
import org.zotune.train.config.RecordBinder.Positive;
import org.zotune.train.config.RecordBinder.Required;

/** The binder on its own, on records that exercise every component kind (TrainConfigTest covers run.yaml). */
class RecordBinderTest {
    enum Colour { DARK_RED, BLUE }

    record Inner(@Default("3") @AtLeast(1) Integer count, @NonNegative Double weight) {
    }

    record Outer(@Required("a name") String name, Colour colour, @Default("blue") @Choice(Colour.class) String shade,
            @Default("0.5") @Positive Double rate, Long seed, Boolean flag, List<String> files,
            Map<String, Integer> sizes, @Default("{}") Inner inner, Inner absent) {
        Outer {
            if (seed != null && seed < 0) {
                throw new ZotuneException("key 'seed': negative");
            }
        }
    }

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static Outer bind(String yaml) throws Exception {
        JsonNode tree = YAML.readTree(yaml);
        return RecordBinder.bind("t.yaml", tree, Outer.class);
    }

    private static String error(String yaml) {
        return assertThrows(ZotuneException.class, () -> bind(yaml)).getMessage();
    }

    @Test
    void bindsEveryKindWithDefaults() throws Exception {
        Outer o = bind("name: x\ncolour: Dark-Red\nshade: DARK-red\nseed: '12'\nflag: true\nfiles: a.txt\n"
                + "sizes: {a: 1, b: '2'}\ninner: {weight: 1e-3}\n");
        assertEquals(new Outer("x", Colour.DARK_RED, "dark-red", 0.5, 12L, true, List.of("a.txt"),
                Map.of("a", 1, "b", 2), new Inner(3, 1e-3), null), o);
        assertEquals(new Inner(3, null), bind("name: 7\n").inner());
        assertEquals("7", bind("name: 7\n").name());
        assertNull(bind("name: x\n").absent()); // a nested record without a default stays absent
    }

    @Test
    void spellings() {
        assertEquals("dark-red", RecordBinder.spelling(Colour.DARK_RED));
        assertEquals(List.of("dark-red", "blue"), RecordBinder.spellings(Colour.class));
        assertEquals(Colour.BLUE, RecordBinder.choice(Colour.class, " BLUE "));
        assertNull(RecordBinder.choice(Colour.class, "green"));
        assertEquals("eval_batch_size", RecordBinder.key("evalBatchSize"));
    }

    @Test
    void errorsNameTheKey() {
        assertEquals("t.yaml: unknown key 'inner.cnt' (valid keys in 'inner': count, weight)",
                error("name: x\ninner: {cnt: 1}\n"));
        assertEquals("t.yaml: key 'name' is required (a name)", error("name: ' '\n"));
        assertEquals("t.yaml: key 'colour': unknown value 'red' (valid: dark-red, blue)",
                error("name: x\ncolour: red\n"));
        assertEquals("t.yaml: key 'shade': unknown value 'Red' (valid: dark-red, blue)",
                error("name: x\nshade: Red\n"));
        assertEquals("t.yaml: key 'inner.count' must be >= 1, got 0", error("name: x\ninner: {count: 0}\n"));
        assertEquals("t.yaml: key 'rate' must be a finite number > 0, got 0.0", error("name: x\nrate: 0\n"));
        assertEquals("t.yaml: key 'inner.weight' must be a finite number >= 0, got -1.0",
                error("name: x\ninner: {weight: -1}\n"));
        assertEquals("t.yaml: key 'seed': expected an integer, got 'many'", error("name: x\nseed: many\n"));
        assertEquals("t.yaml: key 'rate': expected a number, got a list", error("name: x\nrate: [1]\n"));
        assertEquals("t.yaml: key 'inner': expected a mapping, got 3", error("name: x\ninner: 3\n"));
        assertEquals("t.yaml: key 'sizes.b': expected an integer, got 'x'", error("name: x\nsizes: {b: x}\n"));
        assertEquals("t.yaml: key 'flag': expected true or false, got 1", error("name: x\nflag: 1\n"));
        assertEquals("t.yaml: key 'seed': negative", error("name: x\nseed: -1\n"));
    }
}
