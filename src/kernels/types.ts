/**
 * Shared kernel types.
 *
 * Legend (all kernels): B batch, T time (sequence), C channels (hidden), H query heads,
 * G kv heads (groups), D head size, F intermediate (ffn) size, V vocabulary, N = B·T rows.
 *
 * Production buffers are Float32Array; gradient-check tests run the same kernels on
 * Float64Array so finite differences are accurate. Every kernel accumulates its dot products and
 * reductions in a JavaScript number (a double) and stores to the array at the end
 * ("accumulate in double, store float32": it keeps layouts that sum in different orders within
 * float32 round-off of each other; see docs/architecture.md, invariants).
 */
export type Floats = Float32Array | Float64Array;

/** FLOPs of one kernel call, split the way a zero-bubble pipeline schedule splits backward. */
export interface KernelFlops {
  forward: number;
  /** Gradient with respect to the kernel's inputs (the "B" action of zero-bubble schedules). */
  backwardInput: number;
  /** Gradient with respect to the kernel's weights (the "W" action). */
  backwardWeight: number;
}
