/**
 * Derivative-free low-rank adaptation (ALGORITHMS.md §7): per-layer subspace search over LoRA factors of the query
 * and key projections, with populations evaluated in one batched forward. The optimisers live in
 * {@link org.zotune.dfo.search}.
 */
package org.zotune.dfo;
