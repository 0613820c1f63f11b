package org.zotune.train.run;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.zotune.ZotuneException;
import org.zotune.model.io.AtomicFiles;

/** PNG curves of a run (headless XChart): training loss with dev loss, and dev accuracy / F1. */
final class Plots {
    private Plots() {
    }

    /** A named curve. */
    record Series(String name, List<Double> x, List<Double> y) {
    }

    static void write(Path file, String title, String yLabel, List<Series> series) {
        List<Series> present = series.stream().filter(s -> !s.x().isEmpty()).toList();
        if (present.isEmpty()) {
            return;
        }
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(900).height(520).title(title).xAxisTitle("step")
                .yAxisTitle(yLabel).build();
        chart.getStyler().setMarkerSize(4);
        for (Series s : present) {
            XYSeries xy = chart.addSeries(s.name(), s.x(), s.y());
            if (s.x().size() > 50) {
                xy.setMarker(org.knowm.xchart.style.markers.SeriesMarkers.NONE);
            }
        }
        try {
            AtomicFiles.write(file, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot render the plot: " + e.getMessage(), e);
        }
    }
}
