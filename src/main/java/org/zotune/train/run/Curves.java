package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The curves of a run read from metrics.jsonl's lines, shared by the PNG plots and report.html: the training loss
 * of every step that was not skipped, and the dev loss, accuracy and F1 of every dev evaluation (x = the step t).
 */
record Curves(List<Double> trainX, List<Double> trainLoss, List<Double> devX, List<Double> devLoss,
              List<Double> metricX, List<Double> accuracy, List<Double> f1) {

    static Curves of(List<JsonNode> metrics) {
        Curves c = new Curves(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>(),
                new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (JsonNode n : metrics) {
            double t = n.path("t").asDouble();
            if (n.path("type").asText().equals("train") && !n.path("skipped").asBoolean()) {
                c.trainX.add(t);
                c.trainLoss.add(n.path("loss").asDouble());
            } else if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")) {
                c.devX.add(t);
                c.devLoss.add(n.path("loss").asDouble());
                if (n.has("accuracy")) {
                    c.metricX.add(t);
                    c.accuracy.add(n.path("accuracy").asDouble());
                    c.f1.add(n.path("f1").asDouble());
                }
            }
        }
        return c;
    }
}
