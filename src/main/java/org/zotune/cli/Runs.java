package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.zotune.train.Trainer;

/** Formatting shared by the training commands. */
final class Runs {
    private Runs() {
    }

    /** One JSON line: steps, stop reason, dev/test metrics, the run folder. */
    static String summaryLine(Trainer.Summary s) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("steps", s.steps());
        o.put("stopped", s.stopped());
        if (s.initialDev() != null) {
            o.put("dev_loss_before", s.initialDev().loss());
        }
        if (s.finalDev() != null) {
            o.put("dev_loss_after", s.finalDev().loss());
            if (!Double.isNaN(s.finalDev().accuracy())) {
                o.put("dev_accuracy", s.finalDev().accuracy());
            }
        }
        if (s.finalTest() != null) {
            o.put("test_loss", s.finalTest().loss());
            if (!Double.isNaN(s.finalTest().accuracy())) {
                o.put("test_accuracy", s.finalTest().accuracy());
                o.put("test_f1", s.finalTest().f1());
            }
        }
        o.put("seconds", Math.round(s.seconds() * 100) / 100.0);
        o.put("out", s.out().toString());
        return o.toString();
    }
}
