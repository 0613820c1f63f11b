package org.zotune.data.io;

import java.util.List;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;

/**
 * Where a delimited file keeps its text fields and its label.
 *
 * @param format      tab- or comma-separated
 * @param header      the first line names the columns; columns are then given by name, otherwise by 0-based
 *                    index (written as a decimal string)
 * @param fields      the example's field names (e.g. {@code premise}, {@code hypothesis})
 * @param columns     the column of each field, in the same order
 * @param labelColumn the label's column, or {@link #LAST}: each row's last column (MNLI and SNLI rows carry a
 *                    variable number of annotator labels before the gold label, more columns than their header)
 * @param labels      the class names the label column holds, in index order; for {@link Dataset.Kind#REGRESSION}
 *                    empty, and the column's number is stored as field {@code score}
 * @param kind        {@link Dataset.Kind#CLASSIFICATION} or {@link Dataset.Kind#REGRESSION}
 */
public record TableLayout(Format format, boolean header, List<String> fields, List<String> columns,
        String labelColumn, List<String> labels, Dataset.Kind kind) {

    public enum Format { TSV, CSV }

    /** The label column spec meaning "the row's last column". */
    public static final String LAST = "$last";

    public TableLayout {
        fields = List.copyOf(fields);
        columns = List.copyOf(columns);
        labels = List.copyOf(labels);
        if (fields.size() != columns.size() || fields.isEmpty()) {
            throw new ZotuneException("table layout: " + fields.size() + " fields for " + columns.size() + " columns");
        }
        if (kind != Dataset.Kind.CLASSIFICATION && kind != Dataset.Kind.REGRESSION) {
            throw new ZotuneException("table layout: kind must be CLASSIFICATION or REGRESSION, not " + kind);
        }
        if (kind == Dataset.Kind.CLASSIFICATION && labels.size() < 2) {
            throw new ZotuneException("table layout: a classification table needs at least 2 labels, got " + labels);
        }
    }

    /** A header file with one text field. */
    public static TableLayout tsv(String field, String column, String labelColumn, List<String> labels) {
        return new TableLayout(Format.TSV, true, List.of(field), List.of(column), labelColumn, labels,
                Dataset.Kind.CLASSIFICATION);
    }
}
