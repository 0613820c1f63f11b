package org.zotune.dfo.search;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

/**
 * A population-based minimiser driven from outside (ALGORITHMS.md §7): {@link #ask} a generation of candidates,
 * evaluate them however the caller likes (DFO-LoRA: all of them in one batched forward), {@link #tell} their values.
 * Lower is better; a NaN value counts as +∞. Every random draw comes from Philox streams keyed on the seed the
 * optimiser was made with, so a run is deterministic, and {@link #writeState}/{@link #readState} round-trip
 * everything a resumed run needs to continue bit for bit.
 */
public interface AskTell {
    /** Dimension of a candidate. */
    int dimension();

    /** Number of candidates {@link #ask} returns. */
    int populationSize();

    /** Generations told so far. */
    long generation();

    /** The next generation: {@link #populationSize()} fresh arrays of {@link #dimension()} values. */
    double[][] ask();

    /** The values of the candidates of the last {@link #ask}, in its order. */
    void tell(double[] values);

    /** The best candidate told so far (a copy), or the start point before the first tell. */
    double[] best();

    /** Its value; +∞ before the first tell. */
    double bestValue();

    /** Writes the whole state (a versioned binary layout of the implementation's own). */
    void writeState(DataOutput out) throws IOException;

    /** Restores a state written by {@link #writeState} of an optimiser made with the same settings. */
    void readState(DataInput in) throws IOException;
}
