/**
 * Flash attention against the naive JavaScript kernel pair of src/kernels/attention.ts (the
 * masked kernels with the causal mask; float32 attentionForward runs in WebAssembly with float32
 * accumulation and has its own bound in tests/wasm/attention.test.ts).
 *
 * Float32 tolerance, derived (u = 2⁻²⁴, float32 unit round-off). Both kernels read the same
 * float32 inputs, accumulate in doubles (whose own error, ~1e-16 relative to the summed
 * magnitudes, is covered by ATOL32 = 1e-12 for these O(1) shapes) and round each result once:
 * - out: two roundings of doubles that agree to ~1e-15 are equal or adjacent floats, at most
 *   one ulp ≤ 2u·|e| apart.
 * - lse (against a double reference): one rounding, ≤ u·|e|.
 * - gradients: besides the final rounding (≤ 2u·|e| apart), each kernel reads one rounded saved
 *   buffer. The naive one reads P rounded (relative u); the flash one recomputes
 *   P = exp(s − lse) from lse rounded (relative u·|lse|) and reads out rounded (relative u) for
 *   rowDot. With λ = max(1, |lse|), each kernel's P is off by ≤ uλ·P, its rowDot by
 *   ≤ uλ·R where R = Σ_t2 P Σ_d |dout·v|, so dS = P(dP − rowDot)·scale is off by
 *   ≤ uλ·scale·P(|dP| + |rowDot| + R), and dq, dk, dv by u times the magnitudes M summed in
 *   gradMagnitudes below (a first-order bound). The two kernels are then ≤ 2u·(M + |e|) apart.
 * The tests allow 4u·(M + |e|) + ATOL32 (M = 0 for out and lse): twice the bound, so about one
 * extra rounding of slack, and still ~1000× below the O(|gradient|) error of any real bug.
 */
import { describe, it, expect } from "vitest";
import { causalKeySpans, maskedAttentionBackward, maskedAttentionForward } from "../../src/kernels/attention.js";
import type { Floats as F } from "../../src/kernels/types.js";

/** The JavaScript causal kernels (double accumulation, as the derivation above assumes). */
const attentionForward = (out: F, att: F, q: F, k: F, v: F, B: number, T: number, H: number, G: number, D: number): void =>
  maskedAttentionForward(out, att, q, k, v, B, T, H, G, D, causalKeySpans);
const attentionBackward = (dq: F, dk: F, dv: F, dout: F, att: F, q: F, k: F, v: F, B: number, T: number, H: number, G: number, D: number): void =>
  maskedAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, causalKeySpans);
import { flashAttentionBackward, flashAttentionForward } from "../../src/kernels/flash-attention.js";
import { attentionFlops, flashAttentionFlops } from "../../src/kernels/flops.js";
import type { Floats } from "../../src/kernels/types.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

const U = 2 ** -24;
const RTOL32 = 4 * U;
const ATOL32 = 1e-12;

/** Largest |a − e| / (ATOL32 + RTOL32·(|e| + mag)), ≤ 1 passes. */
function worst32(a: Floats, e: Floats, mag?: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    const r = Math.abs(a[i] - e[i]) / (ATOL32 + RTOL32 * (Math.abs(e[i]) + (mag ? mag[i] : 0)));
    worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
  }
  return worst;
}

/** log Σ_{t2≤t} exp(q·k/√D) of every row [B,H,T], in doubles. */
function referenceLse(q: Floats, k: Floats, B: number, T: number, H: number, G: number, D: number): Float64Array {
  const lse = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const g = Math.floor(h / (H / G));
    const s: number[] = [];
    for (let t2 = 0; t2 <= t; t2++) {
      let x = 0;
      for (let d = 0; d < D; d++) x += q[((b * T + t) * H + h) * D + d] * k[((b * T + t2) * G + g) * D + d];
      s.push(x / Math.sqrt(D));
    }
    const m = Math.max(...s);
    lse[(b * H + h) * T + t] = m + Math.log(s.reduce((a, x) => a + Math.exp(x - m), 0));
  }
  return lse;
}

/** The magnitudes M of the tolerance derivation above, for dq, dk, dv, in doubles. */
function gradMagnitudes(q: Floats, k: Floats, v: Floats, dout: Floats, B: number, T: number, H: number, G: number, D: number) {
  const [q64, k64, v64] = [q, k, v].map((x) => Float64Array.from(x));
  const att = new Float64Array(B * H * T * T);
  attentionForward(new Float64Array(q.length), att, q64, k64, v64, B, T, H, G, D);
  const lse = referenceLse(q64, k64, B, T, H, G, D);
  const [mq, mk, mv] = [new Float64Array(q.length), new Float64Array(k.length), new Float64Array(v.length)];
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const g = Math.floor(h / (H / G));
    const qb = ((b * T + t) * H + h) * D;
    const row = (b * H + h) * T + t;
    const lam = Math.max(1, Math.abs(lse[row]));
    let [rowDot, R] = [0, 0];
    for (let t2 = 0; t2 <= t; t2++) {
      const vb = ((b * T + t2) * G + g) * D;
      let [x, ax] = [0, 0];
      for (let d = 0; d < D; d++) [x, ax] = [x + dout[qb + d] * v[vb + d], ax + Math.abs(dout[qb + d] * v[vb + d])];
      dp[t2] = x;
      rowDot += att[row * T + t2] * x;
      R += att[row * T + t2] * ax;
    }
    for (let t2 = 0; t2 <= t; t2++) {
      const p = att[row * T + t2];
      const ms = (lam * p * (Math.abs(dp[t2]) + Math.abs(rowDot) + R)) / Math.sqrt(D);
      const kb = ((b * T + t2) * G + g) * D;
      for (let d = 0; d < D; d++) {
        mq[qb + d] += ms * Math.abs(k[kb + d]);
        mk[kb + d] += ms * Math.abs(q[qb + d]);
        mv[kb + d] += lam * p * Math.abs(dout[qb + d]);
      }
    }
  }
  return { dq: mq, dk: mk, dv: mv };
}

type Shape = [B: number, T: number, H: number, G: number, D: number, blockSize: number];
const SHAPES: Shape[] = [
  [2, 5, 4, 2, 6, 64], // blockSize ≥ T, grouped
  [1, 13, 4, 2, 8, 4], // T not a multiple of blockSize
  [2, 7, 3, 3, 5, 1], // blockSize 1, G = H
  [1, 9, 4, 1, 4, 9], // blockSize = T, one kv head
  [1, 70, 2, 2, 4, 64], // the default block size, two blocks
];

/** Both kernel pairs on the same inputs, in the given precision. */
function runBoth(shape: Shape, seed: number, make: (x: Float64Array) => Floats) {
  const [B, T, H, G, D, bs] = shape;
  const [q, k, v, dout] = [
    randn(B * T * H * D, seed, "q"), randn(B * T * G * D, seed, "k"),
    randn(B * T * G * D, seed, "v"), randn(B * T * H * D, seed, "dout"),
  ].map(make);
  const zeros = (n: number) => make(new Float64Array(n));
  const naive = { out: zeros(q.length), att: zeros(B * H * T * T), dq: zeros(q.length), dk: zeros(k.length), dv: zeros(v.length) };
  const flash = { out: zeros(q.length), lse: zeros(B * H * T), dq: zeros(q.length), dk: zeros(k.length), dv: zeros(v.length) };
  attentionForward(naive.out, naive.att, q, k, v, B, T, H, G, D);
  attentionBackward(naive.dq, naive.dk, naive.dv, dout, naive.att, q, k, v, B, T, H, G, D);
  flashAttentionForward(flash.out, flash.lse, q, k, v, B, T, H, G, D, bs);
  flashAttentionBackward(flash.dq, flash.dk, flash.dv, dout, flash.out, flash.lse, q, k, v, B, T, H, G, D, bs);
  return { q, k, v, dout, naive, flash, lse: referenceLse(q, k, B, T, H, G, D) };
}

describe("flash attention", () => {
  SHAPES.forEach((shape, i) => {
    const [B, T, H, G, D, bs] = shape;
    const name = `B=${B} T=${T} H=${H} G=${G} D=${D} blockSize=${bs}`;

    it(`${name}: Float32 out, lse and gradients equal the naive kernels' within the derived round-off`, () => {
      const r = runBoth(shape, 10 + i, (x) => Float32Array.from(x));
      const m = gradMagnitudes(r.q, r.k, r.v, r.dout, B, T, H, G, D);
      expect(worst32(r.flash.out, r.naive.out)).toBeLessThanOrEqual(1);
      expect(worst32(r.flash.lse, r.lse)).toBeLessThanOrEqual(1);
      expect(worst32(r.flash.dq, r.naive.dq, m.dq)).toBeLessThanOrEqual(1);
      expect(worst32(r.flash.dk, r.naive.dk, m.dk)).toBeLessThanOrEqual(1);
      expect(worst32(r.flash.dv, r.naive.dv, m.dv)).toBeLessThanOrEqual(1);
    });

    it(`${name}: Float64 out and lse agree to 1e-14, gradients to 1e-12`, () => {
      const r = runBoth(shape, 20 + i, (x) => x);
      expect(worstRatio(r.flash.out, r.naive.out, 1e-14, 1e-14)).toBeLessThanOrEqual(1);
      expect(worstRatio(r.flash.lse, r.lse, 1e-14, 1e-14)).toBeLessThanOrEqual(1);
      expect(worstRatio(r.flash.dq, r.naive.dq, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
      expect(worstRatio(r.flash.dk, r.naive.dk, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
      expect(worstRatio(r.flash.dv, r.naive.dv, 1e-12, 1e-12)).toBeLessThanOrEqual(1);
    });
  });

  it("backward matches finite differences through flashAttentionForward alone, and accumulates", () => {
    const [B, T, H, G, D, bs] = [2, 7, 4, 2, 3, 3];
    const q = randn(B * T * H * D, 30, "q");
    const k = randn(B * T * G * D, 30, "k");
    const v = randn(B * T * G * D, 30, "v");
    const r = randn(q.length, 30, "r");
    const out = new Float64Array(q.length);
    const lse = new Float64Array(B * H * T);
    const loss = (): number => {
      flashAttentionForward(out, lse, q, k, v, B, T, H, G, D, bs);
      return dot(out, r);
    };
    loss();
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    flashAttentionBackward(dq, dk, dv, r, out, lse, q, k, v, B, T, H, G, D, bs);
    expect(worstRatio(dq, numericGrad(loss, q))).toBeLessThanOrEqual(1);
    expect(worstRatio(dk, numericGrad(loss, k))).toBeLessThanOrEqual(1);
    expect(worstRatio(dv, numericGrad(loss, v))).toBeLessThanOrEqual(1);
    const [dq2, dk2, dv2] = [dq.slice(), dk.slice(), dv.slice()];
    flashAttentionBackward(dq2, dk2, dv2, r, out, lse, q, k, v, B, T, H, G, D, bs);
    for (const [twice, once] of [[dq2, dq], [dk2, dk], [dv2, dv]]) {
      expect(worstRatio(twice, once.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    }
  });

  it("rejects a block size that is not a positive integer", () => {
    const x = new Float64Array(4);
    expect(() => flashAttentionForward(x, new Float64Array(2), x, x, x, 1, 2, 1, 1, 2, 0)).toThrow(RangeError);
    expect(() => flashAttentionForward(x, new Float64Array(2), x, x, x, 1, 2, 1, 1, 2, 1.5)).toThrow(RangeError);
  });

  it("flashAttentionFlops: naive forward; backward adds the score and exp recomputation, pairs·(2D + 5)", () => {
    for (const [B, T, H, D] of [[1, 1, 1, 1], [2, 7, 3, 5], [4, 2048, 32, 128]]) {
      const flash = flashAttentionFlops(B, T, H, D);
      const naive = attentionFlops(B, T, H, D);
      const pairs = (B * H * T * (T + 1)) / 2;
      expect(flash.forward).toBe(naive.forward);
      expect(flash.backwardInput - naive.backwardInput).toBe(pairs * (2 * D + 5));
      expect(flash.backwardWeight).toBe(0);
    }
  });
});
