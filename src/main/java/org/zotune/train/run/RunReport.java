package org.zotune.train.run;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * report.html: one self-contained page per run (the config, the summary, dev before/after and the loss and metric
 * curves as inline SVG), readable in any browser without Java. Plain strings, no AWT, so it is written on every
 * runtime, including the GPU hosts' bundle without java.desktop.
 */
final class RunReport {
    private static final int W = 720;
    private static final int H = 300;
    private static final int PAD_L = 64;
    private static final int PAD_R = 16;
    private static final int PAD_T = 16;
    private static final int PAD_B = 36;
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"};

    private RunReport() {
    }

    /** A named curve: x and y of equal length. */
    record Curve(String name, double[] x, double[] y) {
    }

    /**
     * The page from run.json's config (may be null), summary.json's object and metrics.jsonl's lines. Every text is
     * HTML-escaped; the curves' points are written into each SVG's polyline and as data-x / data-y attributes.
     */
    static String html(JsonNode config, JsonNode summary, List<JsonNode> metrics, String title) {
        Curves c = Curves.of(metrics);
        StringBuilder b = new StringBuilder(16_384);
        b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>")
                .append(esc(title)).append("</title>\n<style>\n")
                .append("body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}")
                .append("table{border-collapse:collapse;margin:.5em 0 1.5em}")
                .append("td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;font-size:.9em}")
                .append("svg{border:1px solid #ddd;background:#fff}.legend span{margin-right:1.5em}\n")
                .append("</style>\n</head>\n<body>\n<h1>").append(esc(title)).append("</h1>\n");

        b.append("<h2>Before and after</h2>\n<table>\n<tr><th></th><th>loss</th><th>accuracy</th><th>f1</th></tr>\n");
        row(b, "dev before (step 0)", summary.path("initial_dev"));
        row(b, "dev after", summary.path("final_dev"));
        row(b, "test after", summary.path("final_test"));
        b.append("</table>\n");

        b.append("<h2>Curves</h2>\n");
        svg(b, "loss", "loss", List.of(curve("train", c.trainX(), c.trainLoss()), curve("dev", c.devX(), c.devLoss())));
        svg(b, "metric", "dev metrics", List.of(curve("accuracy", c.metricX(), c.accuracy()), curve("f1", c.metricX(), c.f1())));

        b.append("<h2>Summary</h2>\n");
        table(b, summary);
        b.append("<h2>Config</h2>\n");
        if (config == null || config.isMissingNode()) {
            b.append("<p>run.json is missing.</p>\n");
        } else {
            table(b, config);
        }
        b.append("</body>\n</html>\n");
        return b.toString();
    }

    private static Curve curve(String name, List<Double> x, List<Double> y) {
        return new Curve(name, x.stream().mapToDouble(Double::doubleValue).toArray(),
                y.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static void row(StringBuilder b, String label, JsonNode e) {
        if (e.isMissingNode() || e.isNull()) {
            return;
        }
        b.append("<tr><td>").append(esc(label)).append("</td><td>").append(num(e.path("loss")))
                .append("</td><td>").append(num(e.path("accuracy"))).append("</td><td>").append(num(e.path("f1")))
                .append("</td></tr>\n");
    }

    private static String num(JsonNode n) {
        return n.isNumber() ? String.format(Locale.ROOT, "%.6f", n.asDouble()) : "";
    }

    /** A JSON object as a two-column table, nested objects as dotted keys. */
    private static void table(StringBuilder b, JsonNode o) {
        b.append("<table>\n");
        flatten(b, "", o);
        b.append("</table>\n");
    }

    private static void flatten(StringBuilder b, String prefix, JsonNode o) {
        for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix + e.getKey();
            if (e.getValue().isObject() && e.getValue().size() > 0) {
                flatten(b, key + ".", e.getValue());
            } else {
                String v = e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString();
                b.append("<tr><td>").append(esc(key)).append("</td><td>").append(esc(v)).append("</td></tr>\n");
            }
        }
    }

    /** One chart: axes with min/max labels, one polyline per non-empty curve, a legend. */
    private static void svg(StringBuilder b, String id, String title, List<Curve> curves) {
        List<Curve> present = curves.stream().filter(c -> c.x().length > 0).toList();
        b.append("<h3>").append(esc(title)).append("</h3>\n");
        if (present.isEmpty()) {
            b.append("<p>no data</p>\n");
            return;
        }
        double x0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        for (Curve c : present) {
            for (int i = 0; i < c.x().length; i++) {
                if (Double.isFinite(c.y()[i])) {
                    x0 = Math.min(x0, c.x()[i]);
                    x1 = Math.max(x1, c.x()[i]);
                    y0 = Math.min(y0, c.y()[i]);
                    y1 = Math.max(y1, c.y()[i]);
                }
            }
        }
        if (!(x0 <= x1)) { // no finite point at all (a diverged run): empty axes around 0
            x0 = 0;
            x1 = 1;
            y0 = 0;
            y1 = 1;
        }
        if (x1 == x0) {
            x1 = x0 + 1;
        }
        if (y1 == y0) {
            y0 -= 0.5;
            y1 += 0.5;
        }
        int pw = W - PAD_L - PAD_R;
        int ph = H - PAD_T - PAD_B;
        b.append("<svg id=\"").append(id).append("\" xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(W)
                .append("\" height=\"").append(H).append("\" viewBox=\"0 0 ").append(W).append(' ').append(H)
                .append("\">\n");
        b.append("<rect x=\"").append(PAD_L).append("\" y=\"").append(PAD_T).append("\" width=\"").append(pw)
                .append("\" height=\"").append(ph).append("\" fill=\"none\" stroke=\"#999\"/>\n");
        text(b, PAD_L - 4, PAD_T + 10, "end", fmt(y1));
        text(b, PAD_L - 4, PAD_T + ph, "end", fmt(y0));
        text(b, PAD_L, H - PAD_B + 16, "start", fmt(x0));
        text(b, W - PAD_R, H - PAD_B + 16, "end", fmt(x1));
        text(b, PAD_L + pw / 2, H - 4, "middle", "step");
        for (int k = 0; k < present.size(); k++) {
            Curve c = present.get(k);
            StringBuilder pts = new StringBuilder();
            StringBuilder dxs = new StringBuilder();
            StringBuilder dys = new StringBuilder();
            for (int i = 0; i < c.x().length; i++) {
                dxs.append(i == 0 ? "" : " ").append(fmt(c.x()[i]));
                dys.append(i == 0 ? "" : " ").append(fmt(c.y()[i]));
                if (!Double.isFinite(c.y()[i])) {
                    continue; // a NaN loss (a skipped evaluation) leaves a gap in the data, not in the line
                }
                double px = PAD_L + (c.x()[i] - x0) / (x1 - x0) * pw;
                double py = PAD_T + (y1 - c.y()[i]) / (y1 - y0) * ph;
                pts.append(pts.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.1f,%.1f", px, py));
            }
            String color = COLORS[k % COLORS.length];
            b.append("<polyline class=\"curve\" data-name=\"").append(esc(c.name())).append("\" data-x=\"")
                    .append(dxs).append("\" data-y=\"").append(dys).append("\" fill=\"none\" stroke=\"")
                    .append(color).append("\" stroke-width=\"1.5\" points=\"").append(pts).append("\"/>\n");
        }
        b.append("</svg>\n<div class=\"legend\">");
        for (int k = 0; k < present.size(); k++) {
            b.append("<span style=\"color:").append(COLORS[k % COLORS.length]).append("\">&#9632; ")
                    .append(esc(present.get(k).name())).append("</span>");
        }
        b.append("</div>\n");
    }

    private static void text(StringBuilder b, double x, double y, String anchor, String s) {
        b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%s\">",
                x, y, anchor)).append(esc(s)).append("</text>\n");
    }

    /** Shortest round-trip decimal of a double (Java's), so the report's data equal metrics.jsonl's values. */
    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return Double.toString(v);
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
