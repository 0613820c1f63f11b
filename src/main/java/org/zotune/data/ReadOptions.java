package org.zotune.data;

/**
 * How readers treat bad rows.
 *
 * @param skipBad         skip a malformed row (recording {@code file:line: reason} in {@link Dataset#skipped()})
 *                        instead of failing on the first one
 * @param allowUnlabelled accept rows without a label (label -1), such as SuperGLUE's unlabelled test files
 */
public record ReadOptions(boolean skipBad, boolean allowUnlabelled) {
    /** Fail on the first malformed row; every row must be labelled. */
    public static final ReadOptions STRICT = new ReadOptions(false, false);

    public static ReadOptions skipBadRows() {
        return new ReadOptions(true, false);
    }
}
