package org.zotune.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** report.html after a real CPU run: well-formed markup, and its curves carry metrics.jsonl's values. */
class RunReportTest {
    @TempDir
    Path tmp;

    @Test
    void everyRunWritesAWellFormedReportWithTheCurvesData() throws Exception {
        Path train = TrainRuns.austen(tmp, "train.txt", 4000);
        Path dev = TrainRuns.austen(tmp, "heldout.txt", 1500);
        Path out = tmp.resolve("run");
        TrainRuns.train(TrainRuns.config(TrainRuns.yaml(train, dev, out, "optimizer: {name: zo-sgd, lr: 1e-3}",
                "steps: 6", "eval_every: 3")), TrainRuns.quiet());

        Path report = out.resolve("report.html");
        assertTrue(Files.isRegularFile(report), "no report.html in " + out);
        byte[] bytes = Files.readAllBytes(report);
        // well formed: the page parses as XML (it is written as XHTML-compatible HTML5)
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        Document doc = f.newDocumentBuilder().parse(new ByteArrayInputStream(bytes));
        assertEquals("html", doc.getDocumentElement().getTagName());

        List<Double> trainT = new ArrayList<>();
        List<Double> trainLoss = new ArrayList<>();
        List<Double> devT = new ArrayList<>();
        List<Double> devLoss = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode n = new ObjectMapper().readTree(line);
            if (n.path("type").asText().equals("train") && !n.path("skipped").asBoolean()) {
                trainT.add(n.path("t").asDouble());
                trainLoss.add(n.path("loss").asDouble());
            } else if (n.path("type").asText().equals("eval") && n.path("split").asText().equals("dev")) {
                devT.add(n.path("t").asDouble());
                devLoss.add(n.path("loss").asDouble());
            }
        }
        assertEquals(6, trainT.size());
        assertEquals(List.of(0.0, 3.0, 6.0), devT);

        Element loss = byId(doc, "svg", "loss");
        assertNotNull(loss, "no <svg id=\"loss\">");
        Element trainCurve = curve(loss, "train");
        Element devCurve = curve(loss, "dev");
        assertEquals(trainT, numbers(trainCurve.getAttribute("data-x")));
        assertEquals(trainLoss, numbers(trainCurve.getAttribute("data-y")));
        assertEquals(devT, numbers(devCurve.getAttribute("data-x")));
        assertEquals(devLoss, numbers(devCurve.getAttribute("data-y")));
        assertEquals(6, trainCurve.getAttribute("points").trim().split(" ").length);

        // the before/after table and the config: dev loss at step 0 and at the end, the run's seed
        String html = new String(bytes, StandardCharsets.UTF_8);
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertTrue(html.contains(String.format(java.util.Locale.ROOT, "%.6f",
                summary.path("initial_dev").path("loss").asDouble())), html);
        assertTrue(html.contains(String.format(java.util.Locale.ROOT, "%.6f",
                summary.path("final_dev").path("loss").asDouble())), html);
        assertEquals(devLoss.get(0), summary.path("initial_dev").path("loss").asDouble());
        assertTrue(html.contains("<td>seed</td><td>7</td>"), html);
    }

    private static Element byId(Document doc, String tag, String id) {
        NodeList l = doc.getElementsByTagNameNS("*", tag);
        for (int i = 0; i < l.getLength(); i++) {
            Element e = (Element) l.item(i);
            if (e.getAttribute("id").equals(id)) {
                return e;
            }
        }
        return null;
    }

    private static Element curve(Element svg, String name) {
        NodeList l = svg.getElementsByTagNameNS("*", "polyline");
        for (int i = 0; i < l.getLength(); i++) {
            Element e = (Element) l.item(i);
            if (e.getAttribute("data-name").equals(name)) {
                return e;
            }
        }
        throw new AssertionError("no curve " + name);
    }

    private static List<Double> numbers(String s) {
        List<Double> out = new ArrayList<>();
        for (String p : s.trim().split(" ")) {
            out.add(Double.parseDouble(p));
        }
        return out;
    }
}
