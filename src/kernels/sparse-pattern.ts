/**
 * Block-sparse attention patterns (Child et al. 2019, "Generating Long Sequences with Sparse
 * Transformers", section 4.2), defined on blocks of `block` positions rather than on positions.
 *
 * Legend: T time, block positions per block, n = T / block blocks, i query block, j key block,
 * stride blocks per stride (the paper's l, counted in blocks).
 *
 * Query position t lies in block i = ⌊t/block⌋. A key position t2 takes part for query t only if
 * t2 ≤ t (causal, also inside the diagonal block) and blockAllowed(pattern, i, ⌊t2/block⌋). Every
 * pattern allows only j ≤ i and always allows the diagonal (local) block j = i, so no row is empty.
 *
 * - causal: every j ≤ i (the dense causal mask; its block size is immaterial).
 * - strided: j ≤ i and (i − j < stride or (i − j) mod stride = 0): the local window of the last
 *   `stride` blocks (the diagonal and the stride − 1 before it, the paper's A⁽¹⁾) and every block
 *   whose distance to the query block is a multiple of stride (A⁽²⁾).
 * - fixed: j ≤ i and (⌊j/stride⌋ = ⌊i/stride⌋ or j mod stride = stride − 1): the blocks of the
 *   query's own segment of stride blocks up to i (A⁽¹⁾) and the last block of every earlier
 *   segment, its "summary" block (A⁽²⁾ with c = one block).
 *
 * Example, n = 8 blocks: strided stride 2, query block 7 reads {1, 3, 5, 6, 7}; strided stride 4,
 * block 7 reads {3, 4, 5, 6, 7}; fixed stride 2, block 7 reads {1, 3, 5, 6, 7}; fixed stride 4,
 * block 7 reads {3, 4, 5, 6, 7} and block 5 reads {3, 4, 5}.
 */

export type SparsePattern =
  | { kind: "causal" }
  | { kind: "strided"; block: number; stride: number }
  | { kind: "fixed"; block: number; stride: number };

/** Whether query block i may read key block j under pattern. */
export function blockAllowed(pattern: SparsePattern, i: number, j: number): boolean {
  if (j > i) return false;
  switch (pattern.kind) {
    case "causal":
      return true;
    case "strided":
      return i - j < pattern.stride || (i - j) % pattern.stride === 0;
    case "fixed":
      return Math.floor(j / pattern.stride) === Math.floor(i / pattern.stride) || j % pattern.stride === pattern.stride - 1;
  }
}

/**
 * Positions per block of pattern for sequence length T (T for causal: one block), after checking
 * that block and stride are positive integers and that T is a multiple of block (RangeError).
 */
export function patternBlock(pattern: SparsePattern, T: number): number {
  if (pattern.kind === "causal") return T;
  const { block, stride } = pattern;
  if (!(Number.isInteger(block) && block >= 1)) throw new RangeError(`sparse pattern block must be a positive integer, got ${block}`);
  if (!(Number.isInteger(stride) && stride >= 1)) throw new RangeError(`sparse pattern stride must be a positive integer, got ${stride}`);
  if (T % block !== 0) throw new RangeError(`sequence length ${T} is not a multiple of the sparse pattern block ${block}`);
  return block;
}

/** Number of allowed (query block, key block) pairs among numBlocks blocks, diagonal included. */
export function computedBlocks(pattern: SparsePattern, numBlocks: number): number {
  if (pattern.kind === "causal") return causalBlocks(numBlocks);
  const s = pattern.stride;
  let total = 0;
  for (let i = 0; i < numBlocks; i++) {
    // strided: distances 0..min(i, s − 1), then the multiples s, 2s, … ≤ i.
    // fixed: the i mod s + 1 blocks of the own segment up to i, one summary per earlier segment.
    total += (pattern.kind === "strided" ? Math.min(i + 1, s) : (i % s) + 1) + Math.floor(i / s);
  }
  return total;
}

/** Number of causal (query block, key block) pairs, j ≤ i, among n blocks: n(n + 1)/2. */
export function causalBlocks(n: number): number {
  return (n * (n + 1)) / 2;
}
