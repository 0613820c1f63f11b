package org.zotune.data.io;

/** A malformed row: thrown by a row parser with the reason; the reader adds {@code file:line}. */
final class BadRow extends RuntimeException {
    BadRow(String reason) {
        super(reason, null, false, false);
    }
}
