/**
 * Block-sparse causal grouped-query self-attention (Child et al. 2019): attentionForward /
 * attentionBackward (src/kernels/attention.ts) where a key position t2 takes part for query t only
 * if t2 ≤ t and its block pair is allowed by a SparsePattern (src/kernels/sparse-pattern.ts).
 *
 * Legend: B batch, T time, H query heads, G kv heads (groups), D head size, block positions per
 * block. q [B,T,H,D] (after rope), k and v [B,T,G,D]; query head h reads kv head ⌊h/(H/G)⌋.
 * Output [B,T,H,D]. Saved: att, the softmax probabilities of the kept entries only, packed row by
 * row in key order: B·H·sparseProbabilities(pattern, T) elements (the causal pattern: [B,H,T,T]).
 * Memory then shrinks with the pattern, as FLOPs do.
 *
 * Both kernels are the naive JavaScript kernels' loops over the allowed keys only
 * (maskedAttentionForward / maskedAttentionBackward, keys in ascending order), so a pattern that
 * allows every causal key reproduces the JavaScript causal kernel bit for bit. The causal pattern
 * itself is the causal kernel: it calls attentionForward / attentionBackward (WebAssembly for
 * float32 buffers), so a model with the causal pattern is the plain model bit for bit.
 */
import { attentionBackward, attentionForward, causalKeySpans, maskedAttentionBackward, maskedAttentionForward, type KeySpans } from "./attention.js";
import { blockAllowed, patternBlock, type SparsePattern } from "./sparse-pattern.js";
import type { Floats } from "./types.js";

/**
 * The keys of each query row under pattern, as KeySpans: for query t in block i, every allowed key
 * block j ≤ i clipped to t2 ≤ t, neighbouring blocks merged. Throws a RangeError where T is not a
 * multiple of the pattern's block.
 */
export function sparseKeySpans(pattern: SparsePattern, T: number): KeySpans {
  const block = patternBlock(pattern, T);
  if (pattern.kind === "causal") return causalKeySpans;
  const n = T / block;
  const allowed = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) allowed[i * n + j] = blockAllowed(pattern, i, j) ? 1 : 0;
  return (t, spans) => {
    const i = Math.floor(t / block);
    let count = 0;
    for (let j = 0; j <= i; j++) {
      if (allowed[i * n + j] === 0) continue;
      const lo = j * block;
      const hi = Math.min(lo + block, t + 1);
      if (count > 0 && spans[2 * count - 1] === lo) spans[2 * count - 1] = hi;
      else {
        spans[2 * count] = lo;
        spans[2 * count + 1] = hi;
        count++;
      }
    }
    return count;
  };
}

/** Where each row's kept probabilities start in a head's packed block (keys: sparseKeySpans'): rows[t], rows[T] = the block's length. */
export function packedRows(keys: KeySpans, T: number): Int32Array {
  const spans = new Int32Array(2 * T);
  const rows = new Int32Array(T + 1);
  for (let t = 0; t < T; t++) {
    const n = keys(t, spans);
    let kept = 0;
    for (let r = 0; r < n; r++) kept += spans[2 * r + 1]! - spans[2 * r]!;
    rows[t + 1] = rows[t]! + kept;
  }
  return rows;
}

/** Probabilities one head keeps per sequence under pattern (the causal kernel keeps the dense T × T). */
export function sparseProbabilities(pattern: SparsePattern, T: number): number {
  return pattern.kind === "causal" ? T * T : packedRows(sparseKeySpans(pattern, T), T)[T]!;
}

export function sparseAttentionForward(
  out: Floats,
  att: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  pattern: SparsePattern,
): void {
  if (pattern.kind === "causal") attentionForward(out, att, q, k, v, B, T, H, G, D);
  else {
    const keys = sparseKeySpans(pattern, T);
    maskedAttentionForward(out, att, q, k, v, B, T, H, G, D, keys, packedRows(keys, T));
  }
}

/** dq += ∂L/∂q, dk += ∂L/∂k, dv += ∂L/∂v over the same keys as sparseAttentionForward with the same pattern. */
export function sparseAttentionBackward(
  dq: Floats,
  dk: Floats,
  dv: Floats,
  dout: Floats,
  att: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  pattern: SparsePattern,
): void {
  if (pattern.kind === "causal") attentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D);
  else {
    const keys = sparseKeySpans(pattern, T);
    maskedAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, keys, packedRows(keys, T));
  }
}
