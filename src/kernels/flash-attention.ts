/**
 * Causal grouped-query self-attention computed the FlashAttention way (Dao et al. 2022): same
 * layout and result as attentionForward / attentionBackward (src/kernels/attention.ts), but the
 * T×T probabilities are never materialised.
 *
 * Legend: B batch, T time, H query heads, G kv heads (groups), D head size, blockSize keys per
 * block. q [B,T,H,D] (after rope), k and v [B,T,G,D]; query head h reads kv head ⌊h/(H/G)⌋.
 * Output [B,T,H,D]. Saved: lse [B,H,T], the log-sum-exp of each query row's scaled scores.
 *
 * Forward, per query row: walk the keys t2 ≤ t in blocks of blockSize with an online softmax,
 * a running max m and running sum l = Σ exp(s − m); when a block raises the max to m', the sum
 * and the output accumulator are rescaled by exp(m − m'). At the end out = acc / l and
 * lse = m + log(l). Backward recomputes P = exp(s − lse) block by block from q, k and lse, and
 * uses rowsum(P ⊙ dP) = Σ_d dout·out (Dao et al. 2022, appendix B), so it needs out, not P.
 */
import { forEachRowBackward } from "./attention.js";
import type { Floats } from "./types.js";

/** The inputs, sizes and double-precision scratch shared by the forward and backward rows. */
interface FlashContext {
  q: Floats;
  k: Floats;
  v: Floats;
  T: number;
  H: number;
  G: number;
  D: number;
  blockSize: number;
  scale: number;
  /** Scaled scores of the current key block, indexed t2 − j0. */
  s: Float64Array;
}

function flashContext(q: Floats, k: Floats, v: Floats, T: number, H: number, G: number, D: number, blockSize: number): FlashContext {
  if (!(Number.isInteger(blockSize) && blockSize >= 1)) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
  return { q, k, v, T, H, G, D, blockSize, scale: 1 / Math.sqrt(D), s: new Float64Array(Math.min(blockSize, T)) };
}

/** Scaled scores q[qb]·k[t2]/√D of batch element b, kv head g, for keys j0 ≤ t2 < j1 into c.s; returns their max. */
function blockScores(c: FlashContext, b: number, g: number, qb: number, j0: number, j1: number): number {
  const { q, k, T, G, D, scale, s } = c;
  let max = -Infinity;
  for (let t2 = j0; t2 < j1; t2++) {
    const kb = ((b * T + t2) * G + g) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qb + d] * k[kb + d];
    const x = dot * scale;
    s[t2 - j0] = x;
    if (x > max) max = x;
  }
  return max;
}

export function flashAttentionForward(
  out: Floats,
  lse: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  blockSize = 64,
): void {
  const rep = H / G;
  const c = flashContext(q, k, v, T, H, G, D, blockSize);
  const acc = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / rep);
      for (let t = 0; t < T; t++) flashRowForward(c, out, lse, acc, b, h, g, t);
    }
  }
}

/** Query row t of head h (reading kv head g) of batch element b: out row and lse stored. */
function flashRowForward(c: FlashContext, out: Floats, lse: Floats, acc: Float64Array, b: number, h: number, g: number, t: number): void {
  const { v, T, H, G, D, blockSize, s } = c;
  const qb = ((b * T + t) * H + h) * D;
  let m = -Infinity;
  let l = 0;
  acc.fill(0);
  for (let j0 = 0; j0 <= t; j0 += blockSize) {
    const j1 = Math.min(j0 + blockSize, t + 1);
    const blockMax = blockScores(c, b, g, qb, j0, j1);
    if (blockMax > m) {
      // exp(−∞) = 0 on the first block, when l and acc are still zero.
      const alpha = Math.exp(m - blockMax);
      l *= alpha;
      for (let d = 0; d < D; d++) acc[d] *= alpha;
      m = blockMax;
    }
    for (let t2 = j0; t2 < j1; t2++) {
      const p = Math.exp(s[t2 - j0] - m);
      l += p;
      const vb = ((b * T + t2) * G + g) * D;
      for (let d = 0; d < D; d++) acc[d] += p * v[vb + d];
    }
  }
  const inv = 1 / l;
  for (let d = 0; d < D; d++) out[qb + d] = acc[d] * inv;
  lse[(b * H + h) * T + t] = m + Math.log(l);
}

/**
 * dq += ∂L/∂q, dk += ∂L/∂k, dv += ∂L/∂v, like attentionBackward. With P = exp(s − lse) recomputed,
 * dP = dout·vᵀ and rowDot = Σ_d dout·out (= rowsum(P ⊙ dP)): dS = P ⊙ (dP − rowDot),
 * dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dout. dk and dv of a batch element are summed in
 * Float64Arrays and stored once.
 */
export function flashAttentionBackward(
  dq: Floats,
  dk: Floats,
  dv: Floats,
  dout: Floats,
  out: Floats,
  lse: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  blockSize = 64,
): void {
  const kvSize = T * G * D;
  const c: FlashBackwardContext = {
    ...flashContext(q, k, v, T, H, G, D, blockSize),
    dq, dout, out, lse,
    dqAcc: new Float64Array(D),
    dkAcc: new Float64Array(kvSize),
    dvAcc: new Float64Array(kvSize),
  };
  forEachRowBackward(dk, dv, c.dkAcc, c.dvAcc, B, T, H, G, (b, h, g, t) => flashRowBackward(c, b, h, g, t));
}

/** FlashContext plus the backward's buffers and accumulators (dk, dv: one batch element's). */
interface FlashBackwardContext extends FlashContext {
  dq: Floats;
  dout: Floats;
  out: Floats;
  lse: Floats;
  dqAcc: Float64Array;
  dkAcc: Float64Array;
  dvAcc: Float64Array;
}

/** Query row t of head h (reading kv head g) of batch element b: its dq row stored, dk and dv accumulated. */
function flashRowBackward(c: FlashBackwardContext, b: number, h: number, g: number, t: number): void {
  const { dout, out, q, k, v, T, H, G, D, blockSize, scale, s, dqAcc, dkAcc, dvAcc } = c;
  const kvOff = b * T * G * D;
  const qb = ((b * T + t) * H + h) * D;
  const rowLse = c.lse[(b * H + h) * T + t];
  let rowDot = 0;
  for (let d = 0; d < D; d++) rowDot += dout[qb + d] * out[qb + d];
  dqAcc.fill(0);
  for (let j0 = 0; j0 <= t; j0 += blockSize) {
    const j1 = Math.min(j0 + blockSize, t + 1);
    blockScores(c, b, g, qb, j0, j1);
    for (let t2 = j0; t2 < j1; t2++) {
      const p = Math.exp(s[t2 - j0] - rowLse);
      const kvb = (t2 * G + g) * D;
      let dp = 0;
      for (let d = 0; d < D; d++) {
        const go = dout[qb + d];
        dp += go * v[kvOff + kvb + d];
        dvAcc[kvb + d] += p * go;
      }
      const ds = p * (dp - rowDot) * scale;
      for (let d = 0; d < D; d++) {
        dqAcc[d] += ds * k[kvOff + kvb + d];
        dkAcc[kvb + d] += ds * q[qb + d];
      }
    }
  }
  for (let d = 0; d < D; d++) c.dq[qb + d] += dqAcc[d];
}
