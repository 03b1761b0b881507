/**
 * Causal grouped-query self-attention (softmax(q·kᵀ/√D + causal mask)·v).
 *
 * Legend: B batch, T time, H query heads, G kv heads (groups), D head size.
 * q [B,T,H,D] (after rope), k and v [B,T,G,D]; query head h reads kv head ⌊h/(H/G)⌋, like
 * Hugging Face `repeat_kv`. Saved: att [B,H,T,T] softmax probabilities (zero above the diagonal).
 * Output [B,T,H,D].
 *
 * maskedAttentionForward / maskedAttentionBackward are the same kernels over a subset of the
 * causal keys of each query row (KeySpans); attentionForward / attentionBackward are them with the
 * causal mask, and the block-sparse kernels (src/kernels/sparse-attention.ts) with a sparse one.
 */
import { allFloat32, useWasm } from "../wasm/heap.js";
import { wasmAttentionBackward, wasmAttentionForward } from "../wasm/attention.js";
import type { Floats } from "./types.js";

type F32 = Float32Array;

export function attentionForward(
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
): void {
  if (useWasm() && allFloat32(out, att, q, k, v)) wasmAttentionForward(out as F32, att as F32, q as F32, k as F32, v as F32, B, T, H, G, D);
  else maskedAttentionForward(out, att, q, k, v, B, T, H, G, D, causalKeySpans);
}

/**
 * The keys query row t reads: keys(t, spans) writes [lo, hi) pairs into spans (room for T pairs),
 * ascending and disjoint, within 0..t and covering t itself, and returns how many pairs it wrote.
 */
export type KeySpans = (t: number, spans: Int32Array) => number;

/** Every key t2 ≤ t: the causal mask, one span. */
export const causalKeySpans: KeySpans = (t, spans) => {
  spans[0] = 0;
  spans[1] = t + 1;
  return 1;
};

/**
 * Where the probabilities of row t live: dense, att [B,H,T,T] with row t at t·T and 0 outside
 * the spans; or packed (`rows` given), each head's kept entries only, row t's at rows[t] in key
 * order, rows[T] per head — what a block-sparse pattern keeps (src/kernels/sparse-attention.ts).
 */
function rowBase(rows: Int32Array | null, b: number, h: number, t: number, T: number, H: number): number {
  return rows ? (b * H + h) * rows[T]! + rows[t]! : ((b * H + h) * T + t) * T;
}

/**
 * attentionForward with the keys of each query row given by keys (causalKeySpans: exactly
 * attentionForward). The keys are visited in ascending order, so a mask that keeps every t2 ≤ t
 * gives attentionForward's result bit for bit. Dense att: entries outside the spans are 0; with
 * `rows`, att holds the kept entries only (see rowBase).
 */
export function maskedAttentionForward(
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
  keys: KeySpans,
  rows: Int32Array | null = null,
): void {
  const rep = H / G;
  const c: ForwardContext = {
    out, att, q, k, v, T, H, G, D, keys, rows,
    scale: 1 / Math.sqrt(D),
    spans: new Int32Array(2 * T),
    scores: new Float64Array(T),
    acc: new Float64Array(D),
  };
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / rep);
      for (let t = 0; t < T; t++) attentionRowForward(c, b, h, g, t);
    }
  }
}

/** The inputs, sizes, key mask and double-precision scratch of one maskedAttentionForward call. */
interface ForwardContext {
  out: Floats;
  att: Floats;
  q: Floats;
  k: Floats;
  v: Floats;
  T: number;
  H: number;
  G: number;
  D: number;
  keys: KeySpans;
  rows: Int32Array | null;
  scale: number;
  spans: Int32Array;
  scores: Float64Array;
  acc: Float64Array;
}

/** Query row t of head h (reading kv head g) of batch element b: its att row and out row stored. */
function attentionRowForward(c: ForwardContext, b: number, h: number, g: number, t: number): void {
  const { att, q, k, v, T, H, G, D, scale, spans, scores, acc } = c;
  const n2 = 2 * c.keys(t, spans);
  const qb = ((b * T + t) * H + h) * D;
  let max = -Infinity;
  for (let r = 0; r < n2; r += 2) {
    for (let t2 = spans[r]; t2 < spans[r + 1]; t2++) {
      const kb = ((b * T + t2) * G + g) * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[qb + d] * k[kb + d];
      const s = dot * scale;
      scores[t2] = s;
      if (s > max) max = s;
    }
  }
  let sum = 0;
  for (let r = 0; r < n2; r += 2) {
    for (let t2 = spans[r]; t2 < spans[r + 1]; t2++) {
      const e = Math.exp(scores[t2] - max);
      scores[t2] = e;
      sum += e;
    }
  }
  const inv = 1 / sum;
  const ab = rowBase(c.rows, b, h, t, T, H);
  if (!c.rows) att.fill(0, ab, ab + T);
  acc.fill(0);
  let j = 0;
  for (let r = 0; r < n2; r += 2) {
    for (let t2 = spans[r]; t2 < spans[r + 1]; t2++) {
      const p = scores[t2] * inv;
      att[ab + (c.rows ? j++ : t2)] = p;
      const vb = ((b * T + t2) * G + g) * D;
      for (let d = 0; d < D; d++) acc[d] += p * v[vb + d];
    }
  }
  for (let d = 0; d < D; d++) c.out[qb + d] = acc[d];
}

/**
 * dq += ∂L/∂q, dk += ∂L/∂k, dv += ∂L/∂v. With P = att and dP = dout·vᵀ:
 * dS = P ⊙ (dP − rowsum(P ⊙ dP)), dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dout.
 * dk and dv collect contributions from every query position and every head of the group, so they
 * are summed in a Float64Array per batch element and stored once.
 */
export function attentionBackward(
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
): void {
  if (useWasm() && allFloat32(dq, dk, dv, dout, att, q, k, v)) {
    wasmAttentionBackward(dq as F32, dk as F32, dv as F32, dout as F32, att as F32, q as F32, k as F32, v as F32, B, T, H, G, D);
  } else maskedAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, causalKeySpans);
}

/** attentionBackward over the keys given by keys, the mask maskedAttentionForward used (causalKeySpans: exactly attentionBackward). */
export function maskedAttentionBackward(
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
  keys: KeySpans,
  rows: Int32Array | null = null,
): void {
  const kvSize = T * G * D;
  const c: BackwardContext = {
    dq, dout, att, q, k, v, T, H, G, D, keys, rows,
    scale: 1 / Math.sqrt(D),
    spans: new Int32Array(2 * T),
    dp: new Float64Array(T),
    dqAcc: new Float64Array(D),
    dkAcc: new Float64Array(kvSize),
    dvAcc: new Float64Array(kvSize),
  };
  forEachRowBackward(dk, dv, c.dkAcc, c.dvAcc, B, T, H, G, (b, h, g, t) => attentionRowBackward(c, b, h, g, t));
}

/**
 * The batch/head/row loop of an attention backward: row(b, h, g, t) handles query row t of head
 * h (reading kv head g) of batch element b, adding its dk and dv contributions to dkAcc and dvAcc
 * (one batch element's [T,G,D], zeroed here), which are added to dk and dv once per batch element.
 */
export function forEachRowBackward(
  dk: Floats,
  dv: Floats,
  dkAcc: Float64Array,
  dvAcc: Float64Array,
  B: number,
  T: number,
  H: number,
  G: number,
  row: (b: number, h: number, g: number, t: number) => void,
): void {
  const rep = H / G;
  const kvSize = dkAcc.length;
  for (let b = 0; b < B; b++) {
    dkAcc.fill(0);
    dvAcc.fill(0);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / rep);
      for (let t = 0; t < T; t++) row(b, h, g, t);
    }
    const off = b * kvSize;
    for (let i = 0; i < kvSize; i++) {
      dk[off + i] += dkAcc[i];
      dv[off + i] += dvAcc[i];
    }
  }
}

/** The inputs, sizes, key mask and double-precision accumulators of one maskedAttentionBackward call (dk, dv: one batch element's). */
interface BackwardContext {
  dq: Floats;
  dout: Floats;
  att: Floats;
  q: Floats;
  k: Floats;
  v: Floats;
  T: number;
  H: number;
  G: number;
  D: number;
  keys: KeySpans;
  rows: Int32Array | null;
  scale: number;
  spans: Int32Array;
  dp: Float64Array;
  dqAcc: Float64Array;
  dkAcc: Float64Array;
  dvAcc: Float64Array;
}

/** Query row t of head h (reading kv head g) of batch element b: its dq row stored, dk and dv accumulated. */
function attentionRowBackward(c: BackwardContext, b: number, h: number, g: number, t: number): void {
  const { dout, att, q, k, v, T, H, G, D, scale, spans, dp, dqAcc, dkAcc, dvAcc } = c;
  const n2 = 2 * c.keys(t, spans);
  const kvSize = T * G * D;
  const qb = ((b * T + t) * H + h) * D;
  const ab = rowBase(c.rows, b, h, t, T, H);
  // dP[t2] = dout·v[t2]; dv[t2] += P[t2]·dout; rowsum of P ⊙ dP.
  let rowDot = 0;
  let j = 0;
  for (let r = 0; r < n2; r += 2) {
    for (let t2 = spans[r]; t2 < spans[r + 1]; t2++) {
      const vb = (t2 * G + g) * D;
      const vOff = b * kvSize + vb;
      const p = att[ab + (c.rows ? j++ : t2)];
      let sum = 0;
      for (let d = 0; d < D; d++) {
        const go = dout[qb + d];
        sum += go * v[vOff + d];
        dvAcc[vb + d] += p * go;
      }
      dp[t2] = sum;
      rowDot += p * sum;
    }
  }
  dqAcc.fill(0);
  j = 0;
  for (let r = 0; r < n2; r += 2) {
    for (let t2 = spans[r]; t2 < spans[r + 1]; t2++) {
      const ds = att[ab + (c.rows ? j++ : t2)] * (dp[t2] - rowDot) * scale;
      const kb = (t2 * G + g) * D;
      const kOff = b * kvSize + kb;
      for (let d = 0; d < D; d++) {
        dqAcc[d] += ds * k[kOff + d];
        dkAcc[kb + d] += ds * q[qb + d];
      }
    }
  }
  for (let d = 0; d < D; d++) c.dq[qb + d] += dqAcc[d];
}
