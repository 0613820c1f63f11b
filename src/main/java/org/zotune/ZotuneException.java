package org.zotune;

/**
 * A problem with the user's input (a file, a field, a flag): the CLI prints {@link #getMessage()} as one
 * line and exits with code 2. The message names the file (and tensor or field) and what is wrong.
 */
public class ZotuneException extends RuntimeException {
    public ZotuneException(String message) {
        super(message);
    }

    public ZotuneException(String message, Throwable cause) {
        super(message, cause);
    }
}
