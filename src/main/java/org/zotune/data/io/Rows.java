package org.zotune.data.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.zotune.ZotuneException;
import org.zotune.data.Dataset;
import org.zotune.data.Example;
import org.zotune.data.ReadOptions;

/**
 * The shared machinery of the line-oriented readers: reading a file as UTF-8 lines (a leading byte-order mark
 * dropped), numbering them from 1, and turning a {@link BadRow} into either a one-line error
 * {@code file:line: reason} or, under {@link ReadOptions#skipBad()}, a recorded skip.
 */
final class Rows {
    private final Path file;
    private final ReadOptions options;
    private final List<Example> examples = new ArrayList<>();
    private final List<String> skipped = new ArrayList<>();

    Rows(Path file, ReadOptions options) {
        this.file = file;
        this.options = options;
    }

    /**
     * The file's lines without a leading BOM. Text is UTF-8; a file that is not valid UTF-8 is read as ISO-8859-1
     * (Latin-1), the encoding of the classic releases of MR, SUBJ and TREC, where every byte is one character.
     */
    static List<String> lines(Path file) {
        if (!Files.exists(file)) {
            throw new ZotuneException(file + ": no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw new ZotuneException(file + ": not a regular file");
        }
        String text;
        try {
            byte[] bytes = Files.readAllBytes(file);
            requireText(file, bytes);
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            text = latin1(file);
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read: " + e.getMessage(), e);
        }
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        List<String> lines = new ArrayList<>(text.lines().toList());
        return lines;
    }

    /**
     * Refuses binary data, which the Latin-1 fallback would otherwise take as text: a NUL byte, or control
     * characters (other than tab, line feed, carriage return, form feed, escape) in more than 1 byte of 100.
     */
    static void requireText(Path file, byte[] bytes) {
        int control = 0;
        for (int i = 0; i < bytes.length; i++) {
            int b = bytes[i] & 0xff;
            if (b == 0) {
                throw new ZotuneException(file + ": binary data (a NUL byte at offset " + i + "), not text");
            }
            if (b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != 0x1b || b == 0x7f) {
                control++;
            }
        }
        if (control > 0 && control * 100L > bytes.length) {
            throw new ZotuneException(file + ": binary data (" + control + " control bytes in " + bytes.length
                    + "), not text");
        }
    }

    private static String latin1(Path file) {
        try {
            return new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new ZotuneException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    String where(int line) {
        return file + ":" + line;
    }

    /** Records a malformed row, or fails with it. */
    void bad(int line, String reason) {
        String msg = where(line) + ": " + reason;
        if (!options.skipBad()) {
            throw new ZotuneException(msg);
        }
        skipped.add(msg);
    }

    void add(Example e) {
        examples.add(e);
    }

    /** A label checked against the options: -1 when absent and allowed, else a {@link BadRow}. */
    int missingLabel() {
        if (!options.allowUnlabelled()) {
            throw new BadRow("no label");
        }
        return -1;
    }

    Dataset finish(Dataset.Kind kind, List<String> labels, List<String> inputFields) {
        return new Dataset(file.toString(), kind, labels, inputFields, examples, skipped);
    }

    static int labelIndex(String raw, List<String> labels) {
        int i = labels.indexOf(raw);
        if (i < 0) {
            throw new BadRow("label '" + raw + "' is not one of " + labels);
        }
        return i;
    }

    /** "0", "1", ... "n-1". */
    static List<String> numberedLabels(int n) {
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(Integer.toString(i));
        }
        return out;
    }

    static String nonEmpty(String value, String field) {
        String v = value.strip();
        if (v.isEmpty()) {
            throw new BadRow("empty " + field);
        }
        return v;
    }

    static Map<String, String> fields(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
