package org.zotune.data.io;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * Reads {@code label sentence} files (sst2-sentences, sst5, mr, cr, mpqa, subj, trec): each non-blank line is
 * an integer class in [0, numClasses), one space, and the sentence (field {@code sentence}). Labels are named
 * "0" .. "numClasses-1".
 */
public final class LabelSentenceReader {
    private LabelSentenceReader() {
    }

    public static Dataset read(Path file, int numClasses, ReadOptions options) {
        List<String> labels = Rows.numberedLabels(numClasses);
        List<String> lines = Rows.lines(file);
        Rows rows = new Rows(file, options);
        for (int ln = 0; ln < lines.size(); ln++) {
            String line = lines.get(ln);
            if (line.isBlank()) {
                continue;
            }
            try {
                int sp = line.indexOf(' ');
                if (sp <= 0) {
                    throw new BadRow("expected 'label sentence' (an integer, a space, the text)");
                }
                String raw = line.substring(0, sp);
                int label;
                try {
                    label = Integer.parseInt(raw);
                } catch (NumberFormatException e) {
                    throw new BadRow("label '" + raw + "' is not an integer");
                }
                if (label < 0 || label >= numClasses) {
                    throw new BadRow("label " + label + " is outside [0, " + numClasses + ")");
                }
                String text = Rows.nonEmpty(line.substring(sp + 1), "sentence");
                rows.add(new Example(rows.where(ln + 1), Map.of("sentence", text), label, List.of()));
            } catch (BadRow e) {
                rows.bad(ln + 1, e.getMessage());
            }
        }
        return rows.finish(Dataset.Kind.CLASSIFICATION, labels, List.of("sentence"));
    }
}
