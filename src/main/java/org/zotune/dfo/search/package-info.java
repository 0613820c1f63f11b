/**
 * Derivative-free population search for DFO-LoRA (ALGORITHMS.md §7): the {@link org.zotune.dfo.search.AskTell}
 * interface and its optimisers (CMA-ES, the Fireworks algorithm), deterministic from a seed.
 */
package org.zotune.dfo.search;
