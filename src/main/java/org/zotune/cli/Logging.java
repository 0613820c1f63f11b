package org.zotune.cli;

import java.io.PrintStream;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The command line's handling of the dependencies' logging (the tokenizers log through SLF4J, bound to
 * java.util.logging): nothing by default, one line per record on stderr with {@code --verbose}. A library caller's
 * logging is left alone: only the CLI installs this.
 */
final class Logging {
    private Logging() {
    }

    static void install(boolean verbose) {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(verbose ? Level.INFO : Level.OFF);
        if (verbose) {
            root.addHandler(new StderrHandler(System.err));
        }
    }

    /** {@code zotune [LEVEL logger] message}, one line per record. */
    private static final class StderrHandler extends Handler {
        private final PrintStream err;

        StderrHandler(PrintStream err) {
            this.err = err;
            setLevel(Level.ALL);
        }

        @Override
        public void publish(LogRecord r) {
            if (!isLoggable(r)) {
                return;
            }
            String msg = r.getMessage();
            if (r.getParameters() != null && msg != null) {
                msg = java.text.MessageFormat.format(msg, r.getParameters());
            }
            err.println("zotune [" + r.getLevel() + " " + r.getLoggerName() + "] " + msg);
            if (r.getThrown() != null) {
                r.getThrown().printStackTrace(err);
            }
        }

        @Override
        public void flush() {
            err.flush();
        }

        @Override
        public void close() {
            flush();
        }
    }
}
