package org.zotune.data.io;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * Reads a tab- or comma-separated table described by a {@link TableLayout}: GLUE TSV files (header, columns by
 * name), LM-BFF's k-shot TSV and CSV files. Blank lines are ignored. In a file with a header every row must have
 * as many columns as the header (a stray tab shifts the label, so it is an error, not a guess); without a header a
 * row needs at least the columns the layout uses. Text is trimmed; an empty text field is a bad row.
 */
public final class TableReader {
    private TableReader() {
    }

    /** A GLUE-style TSV file with a header, e.g. SST-2 ({@code sentence}, {@code label}; labels "0", "1"). */
    public static Dataset glueTsv(Path file, String textColumn, String labelColumn, List<String> labels,
            ReadOptions options) {
        return read(file, TableLayout.tsv("sentence", textColumn, labelColumn, labels), options);
    }

    /** GLUE SST-2 ({@code sentence<TAB>label} with a header; labels "0" negative, "1" positive). */
    public static Dataset sst2(Path file, ReadOptions options) {
        return glueTsv(file, "sentence", "label", List.of("0", "1"), options);
    }

    public static Dataset read(Path file, TableLayout layout, ReadOptions options) {
        List<String> lines = Rows.lines(file);
        Rows rows = new Rows(file, options);
        int first = 0;
        int[] fieldIdx = new int[layout.columns().size()];
        int labelIdx;
        int headerCount = -1;
        boolean last = layout.labelColumn().equals(TableLayout.LAST);
        if (layout.header()) {
            while (first < lines.size() && lines.get(first).isBlank()) {
                first++;
            }
            if (first == lines.size()) {
                throw new ZotuneException(file + ": the data set is empty (no header, no rows)");
            }
            List<String> header;
            try {
                header = split(lines.get(first), layout.format());
            } catch (BadRow e) {
                throw new ZotuneException(rows.where(first + 1) + ": bad header: " + e.getMessage());
            }
            headerCount = header.size();
            Map<String, Integer> byName = new HashMap<>();
            for (int i = 0; i < header.size(); i++) {
                byName.putIfAbsent(header.get(i).strip(), i);
            }
            for (int i = 0; i < fieldIdx.length; i++) {
                fieldIdx[i] = column(byName, layout.columns().get(i), file, header);
            }
            labelIdx = last ? -1 : column(byName, layout.labelColumn(), file, header);
            first++;
        } else {
            for (int i = 0; i < fieldIdx.length; i++) {
                fieldIdx[i] = index(layout.columns().get(i), file);
            }
            labelIdx = last ? -1 : index(layout.labelColumn(), file);
        }
        int needed = labelIdx;
        for (int f : fieldIdx) {
            needed = Math.max(needed, f);
        }
        needed++;
        for (int ln = first; ln < lines.size(); ln++) {
            String line = lines.get(ln);
            if (line.isBlank()) {
                continue;
            }
            try {
                List<String> cols = split(line, layout.format());
                if (headerCount >= 0 && (last ? cols.size() < headerCount : cols.size() != headerCount)) {
                    throw new BadRow(cols.size() + " columns, the header has " + headerCount);
                }
                if (cols.size() < needed) {
                    throw new BadRow(cols.size() + " columns, expected at least " + needed);
                }
                Map<String, String> fields = new HashMap<>();
                for (int i = 0; i < fieldIdx.length; i++) {
                    fields.put(layout.fields().get(i), Rows.nonEmpty(cols.get(fieldIdx[i]), "'" + layout.fields().get(i)
                            + "' (column " + layout.columns().get(i) + ")"));
                }
                String rawLabel = cols.get(last ? cols.size() - 1 : labelIdx).strip();
                int label;
                if (layout.kind() == Dataset.Kind.REGRESSION) {
                    try {
                        Double.parseDouble(rawLabel);
                    } catch (NumberFormatException e) {
                        throw new BadRow("score '" + rawLabel + "' is not a number");
                    }
                    fields.put("score", rawLabel);
                    label = -1;
                } else {
                    label = rawLabel.isEmpty() ? rows.missingLabel() : Rows.labelIndex(rawLabel, layout.labels());
                }
                rows.add(new Example(rows.where(ln + 1), fields, label, List.of()));
            } catch (BadRow e) {
                rows.bad(ln + 1, e.getMessage());
            }
        }
        return rows.finish(layout.kind(), layout.labels(), layout.fields());
    }

    private static List<String> split(String line, TableLayout.Format format) {
        if (format == TableLayout.Format.TSV) {
            return new ArrayList<>(Arrays.asList(line.split("\t", -1)));
        }
        return Csv.parse(line);
    }

    private static int column(Map<String, Integer> byName, String name, Path file, List<String> header) {
        Integer i = byName.get(name);
        if (i == null) {
            throw new ZotuneException(file + ":1: no column '" + name + "' in the header " + header);
        }
        return i;
    }

    private static int index(String column, Path file) {
        try {
            int i = Integer.parseInt(column);
            if (i >= 0) {
                return i;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new ZotuneException(file + ": column '" + column + "' must be a 0-based index (the file has no header)");
    }
}
