package org.zotune.data.io;

import java.util.ArrayList;
import java.util.List;

/**
 * One line of comma-separated values as LM-BFF's k-shot {@code .csv} files are written (Python's csv module):
 * a field is either bare text up to the next comma, or double-quoted with {@code ""} standing for one quote.
 * Quoted fields that span lines are not supported (those files have none): an unclosed quote is a bad row.
 */
final class Csv {
    private Csv() {
    }

    static List<String> parse(String line) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = line.length();
        while (true) {
            StringBuilder field = new StringBuilder();
            if (i < n && line.charAt(i) == '"') {
                i++;
                while (true) {
                    if (i >= n) {
                        throw new BadRow("unclosed double quote");
                    }
                    char c = line.charAt(i++);
                    if (c == '"') {
                        if (i < n && line.charAt(i) == '"') {
                            field.append('"');
                            i++;
                        } else {
                            break;
                        }
                    } else {
                        field.append(c);
                    }
                }
                if (i < n && line.charAt(i) != ',') {
                    throw new BadRow("text after a closing double quote at column " + (i + 1));
                }
            } else {
                while (i < n && line.charAt(i) != ',') {
                    field.append(line.charAt(i++));
                }
            }
            out.add(field.toString());
            if (i >= n) {
                return out;
            }
            i++; // the comma
        }
    }
}
