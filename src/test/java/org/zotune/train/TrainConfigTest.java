package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.zotune.zo.optim.ZoSgdMomentum;
import org.zotune.zo.optim.ZoAdaMu;
import org.zotune.zo.optim.ZoAdam;
import org.zotune.tensor.DType;
import org.zotune.ZotuneException;

class TrainConfigTest {
    private static final String MINIMAL = "model: m.bin\ndata:\n  format: text\n  train: a.txt\nout: runs/x\n";

    private static String error(String yaml, String... overrides) {
        ZotuneException e = assertThrows(ZotuneException.class,
                () -> TrainConfig.parse("run.yaml", yaml, List.of(overrides)));
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void defaultsAndOverrides() {
        TrainConfig c = TrainConfig.parse("run.yaml", MINIMAL + "optimizer:\n  name: zo-adamu\n",
                List.of("optimizer.lr=3e-4", "steps=7", "data.dev=b.txt"));
        assertEquals("lm", c.objective());
        assertEquals("zo-adamu", c.optimizer().name());
        assertEquals(3e-4, c.optimizer().lr());
        assertEquals(7, c.steps());
        assertEquals(List.of("b.txt"), c.data().dev());
        assertEquals("loss", c.metric());
        assertEquals("shadow", c.perturbation());
        assertEquals(16, c.evalBatchSize()); // = batch_size unless set
    }

    @Test
    void unknownKeyNamesTheValidOnes() {
        String m = error(MINIMAL + "optimzer:\n  name: zo-sgd\n");
        assertTrue(m.startsWith("run.yaml: unknown key 'optimzer'"), m);
        assertTrue(m.contains("optimizer") && m.contains("batch_size") && m.contains("eval_every"), m);
    }

    @Test
    void unknownNestedKeyNamesItsSection() {
        String m = error(MINIMAL + "optimizer:\n  learning_rate: 1e-3\n");
        assertTrue(m.contains("unknown key 'optimizer.learning_rate'"), m);
        assertTrue(m.contains("in 'optimizer'") && m.contains("lr") && m.contains("weight_decay"), m);
    }

    @Test
    void wrongType() {
        String m = error(MINIMAL + "steps: many\n");
        assertTrue(m.contains("key 'steps'") && m.contains("integer") && m.contains("many"), m);
        m = error(MINIMAL, "optimizer.lr=fast");
        assertTrue(m.contains("key 'optimizer.lr'") && m.contains("number"), m);
    }

    @Test
    void badOptimizerName() {
        String m = error(MINIMAL + "optimizer:\n  name: adam\n");
        assertTrue(m.contains("optimizer.name") && m.contains("'adam'"), m);
        assertTrue(m.contains("zo-sgd, zo-sgd-mmt, zo-adam, zo-adamu"), m);
    }

    @Test
    void badChoicesAndRanges() {
        assertTrue(error(MINIMAL + "device: tpu\n").contains("cpu, cuda, auto"));
        assertTrue(error(MINIMAL.replace("format: text", "format: csv")).contains("jsonl, sst2, tsv"));
        assertTrue(error(MINIMAL + "eps: 0\n").contains("key 'eps' must be a finite number > 0"));
        assertTrue(error(MINIMAL + "optimizer:\n  name: zo-adamu\nq: 2\n").contains("one SPSA sample"));
        assertTrue(error("data:\n  format: text\n  train: a.txt\nout: x\n").contains("key 'model' is required"));
        assertTrue(error(MINIMAL, "steps").contains("expected key=value"));
    }

    @Test
    void parameterDtype() {
        assertEquals(DType.F32, TrainConfig.parse("run.yaml", MINIMAL, List.of()).paramDType());
        assertEquals(DType.BF16, TrainConfig.parse("run.yaml", MINIMAL, List.of("dtype=bf16")).paramDType());
        assertEquals(DType.F16, TrainConfig.parse("run.yaml", MINIMAL + "dtype: F16\n", List.of()).paramDType());
        String m = error(MINIMAL + "dtype: fp8\n");
        assertTrue(m.contains("key 'dtype': unknown value 'fp8' (valid: f32, bf16, f16)"), m);
    }

    @Test
    void stateDtype() {
        TrainConfig d = TrainConfig.parse("run.yaml", MINIMAL, List.of("optimizer.name=zo-adam"));
        assertEquals("f32", d.optimizer().stateDtype());
        assertEquals(DType.F32, ((ZoAdam.Config) d.optimizer().referenceConfig(10)).stateDType());
        TrainConfig b = TrainConfig.parse("run.yaml", MINIMAL + "optimizer:\n  name: zo-adam\n  state_dtype: BF16\n",
                List.of());
        assertEquals(DType.BF16, ((ZoAdam.Config) b.optimizer().referenceConfig(10)).stateDType());
        TrainConfig h = TrainConfig.parse("run.yaml", MINIMAL, List.of("optimizer.name=zo-adamu",
                "optimizer.state_dtype=f16"));
        assertEquals(DType.F16, ((ZoAdaMu.Config) h.optimizer().referenceConfig(10)).stateDType());
        TrainConfig mm = TrainConfig.parse("run.yaml", MINIMAL, List.of("optimizer.name=zo-sgd-mmt",
                "optimizer.state_dtype=bf16"));
        assertEquals(DType.BF16, ((ZoSgdMomentum.Config) mm.optimizer().referenceConfig(10)).stateDType());
        String m = error(MINIMAL + "optimizer:\n  name: zo-adam\n  state_dtype: fp8\n");
        assertTrue(m.contains("key 'optimizer.state_dtype': unknown value 'fp8' (valid: f32, bf16, f16)"), m);
    }

    @Test
    void jsonRoundTrip() {
        TrainConfig c = TrainConfig.parse("run.yaml", MINIMAL, List.of("optimizer.name=zo-adam", "q=3"));
        assertEquals(c, TrainConfig.fromJson("run.json", c.toJsonString()));
    }
}
