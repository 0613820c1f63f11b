package org.zotune.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.zotune.ZotuneException;
import org.zotune.api.FineTuneResult;

/** Checks and formatting shared by the commands. */
final class Runs {
    private Runs() {
    }

    /** Where a command writes its JSON lines: {@code file} (replaced) or stdout, which stays open after the command. */
    static java.io.Writer output(Path file, java.io.PrintWriter stdout) throws java.io.IOException {
        if (file != null) {
            return Files.newBufferedWriter(file, java.nio.charset.StandardCharsets.UTF_8);
        }
        return new java.io.FilterWriter(stdout) {
            @Override
            public void close() throws java.io.IOException {
                flush();
            }
        };
    }

    /** --max-length, when given, from 2 (the special tokens) to the model's {@code positions}; one line otherwise. */
    static void requireMaxLength(Integer maxLength, int positions) {
        if (maxLength != null && (maxLength < 2 || maxLength > positions)) {
            throw new ZotuneException("--max-length " + maxLength + " must be between 2 (the special tokens) and "
                    + "the model's " + positions + " positions");
        }
    }

    /** Fails with a one-line message unless {@code path} exists; {@code what} names the flag. */
    static Path requireExisting(Path path, String what) {
        if (!Files.exists(path)) {
            throw new ZotuneException(what + " " + path + " does not exist");
        }
        return path;
    }

    /**
     * Fails with a one-line message unless {@code path} can be written as a file: its folder exists and it is not a
     * folder itself (an existing file is replaced). {@code option} names the flag. Checked before any work, so a typo
     * in the path does not cost a model load or a whole pass over the data.
     */
    static Path requireOutputFile(Path path, String option) {
        Path dir = path.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ZotuneException(option + " " + path + ": folder " + dir + " does not exist");
        }
        if (Files.isDirectory(path)) {
            throw new ZotuneException(option + " " + path + " is a folder, not a file");
        }
        return path;
    }

    /**
     * Fails with a one-line message unless {@code dir} is absent or an empty folder (an output folder zotune fills:
     * nothing the user has there is overwritten). {@code option} names the flag. Checked before the model loads.
     */
    static Path requireEmptyOutputFolder(Path dir, String option) {
        if (Files.isDirectory(dir)) {
            try (java.util.stream.Stream<Path> s = Files.list(dir)) {
                if (s.findAny().isPresent()) {
                    throw new ZotuneException(option + " " + dir + " is not empty");
                }
            } catch (java.io.IOException e) {
                throw new ZotuneException(option + " " + dir + ": cannot list: " + e.getMessage(), e);
            }
        } else if (Files.exists(dir)) {
            throw new ZotuneException(option + " " + dir + " is a file");
        }
        return dir;
    }

    /** One JSON line: steps, stop reason, dev/test metrics, the run folder. */
    static String summaryLine(FineTuneResult s) {
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
        o.put("out", s.runDir().toString());
        return o.toString();
    }
}
