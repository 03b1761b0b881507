/**
 * Causal attention on the WebAssembly kernels (float32) against the JavaScript kernel run in
 * double on the same float32 inputs (which tests/kernels/attention.test.ts checks by finite
 * differences).
 *
 * Bound, first order in u = 2⁻²⁴, with γ_d from float32-bound.ts (d roundings on a term's path);
 * per query row of one head, sums over keys j ≤ t and features d:
 * - scores: s_j = scale·Σ_d q_d·k_jd is a float32 GEMM of depth D, so |Δs_j| ≤ σ_j = γ_D·scale·Σ_d|q_d·k_jd|.
 *   The softmax is taken in double from the float32 scores; with σ = max_j σ_j each probability
 *   moves by a factor in [e^(−2σ), e^(2σ)], and its float32 store by (1 ± u):
 *   |Δp_j| ≤ π_j = p_j·(e^(2σ)(1 + u) − 1).
 * - out_d = Σ_j p_j·v_jd, a float32 GEMM over T keys (depth dT = T + ⌈T/KC⌉ + 1):
 *   |Δout_d| ≤ γ_dT·Σ_j (p_j + π_j)|v_jd| + Σ_j π_j|v_jd|.
 * Backward, both sides reading the same float32 att P:
 * - dP_j = Σ_d dout_d·v_jd, depth D: |ΔdP_j| ≤ ε_j = γ_D·Σ_d|dout_d·v_jd|; rowDot = Σ_j P_j·dP_j in
 *   double: |ΔrowDot| ≤ ρ = Σ_j P_j·ε_j; dS_j = P_j(dP_j − rowDot)·scale stored in float32:
 *   |ΔdS_j| ≤ δ_j = P_j(ε_j + ρ)·scale·(1 + u) + u·|dS_j|.
 * - dq_d += Σ_j dS_j·k_jd (depth dT, into the old dq): |Δdq_d| ≤ γ_dT·(|dq⁰_d| + Σ_j (|dS_j| + δ_j)|k_jd|) + Σ_j δ_j|k_jd|.
 * - dk and dv gather every head of a group into the same buffer one head after the other, so a
 *   term's path has at most dKV = rep·(dT + 1) roundings: |Δdk_jd| ≤ γ_dKV·(|dk⁰| + Σ_h,t (|dS| + δ)|q|) + Σ_h,t δ|q|,
 *   |Δdv_jd| ≤ γ_dKV·(|dv⁰| + Σ_h,t P·|dout|).
 */
import { describe, expect, it } from "vitest";
import { attentionBackward, attentionForward, causalKeySpans, maskedAttentionBackward, maskedAttentionForward } from "../../src/kernels/attention.js";
import { randn } from "../kernels/gradcheck.js";
import { gamma, U32 } from "./float32-bound.js";

const KC = 256;
const f32 = (n: number, seed: number, stream: string, std = 1): Float32Array => Float32Array.from(randn(n, seed, stream, std));
const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);

/** Largest |a − e| / bound (≤ 1 passes). */
function worst(a: ArrayLike<number>, e: ArrayLike<number>, bound: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    const r = err === 0 ? 0 : err / bound[i]!;
    w = Number.isNaN(r) ? Infinity : Math.max(w, r);
  }
  return w;
}

type Dims = [B: number, T: number, H: number, G: number, D: number];

/** The forward bounds of the file comment: π for att, and the bound for out. */
function forwardBounds(q: Float32Array, k: Float32Array, v: Float32Array, att: Float64Array, [B, T, H, G, D]: Dims) {
  const scale = 1 / Math.sqrt(D);
  const dT = T + Math.ceil(T / KC) + 1;
  const pi = new Float64Array(att.length);
  const outB = new Float64Array(q.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const g = Math.floor(h / (H / G));
    const qb = ((b * T + t) * H + h) * D;
    const row = ((b * H + h) * T + t) * T;
    let sigma = 0;
    for (let j = 0; j <= t; j++) {
      let m = 0;
      for (let d = 0; d < D; d++) m += Math.abs(q[qb + d]! * k[((b * T + j) * G + g) * D + d]!);
      sigma = Math.max(sigma, gamma(D) * scale * m);
    }
    const factor = Math.exp(2 * sigma) * (1 + U32) - 1;
    for (let j = 0; j <= t; j++) pi[row + j] = att[row + j]! * factor;
    for (let d = 0; d < D; d++) {
      let [gemm, prop] = [0, 0];
      for (let j = 0; j <= t; j++) {
        const av = Math.abs(v[((b * T + j) * G + g) * D + d]!);
        gemm += (att[row + j]! + pi[row + j]!) * av;
        prop += pi[row + j]! * av;
      }
      outB[qb + d] = gamma(dT) * gemm + prop;
    }
  }
  return { pi, outB };
}

/** The backward bounds of the file comment for dq, dk, dv (P: the float32 att both sides read). */
function backwardBounds(P: Float32Array, dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, d0: { dq: Float32Array; dk: Float32Array; dv: Float32Array }, [B, T, H, G, D]: Dims) {
  const scale = 1 / Math.sqrt(D);
  const rep = H / G;
  const dT = T + Math.ceil(T / KC) + 1;
  const dKV = rep * (dT + 1);
  const [gq, pq] = [Float64Array.from(d0.dq, Math.abs), new Float64Array(q.length)];
  const [gk, pk] = [Float64Array.from(d0.dk, Math.abs), new Float64Array(k.length)];
  const gv = Float64Array.from(d0.dv, Math.abs);
  const [eps, dp] = [new Float64Array(T), new Float64Array(T)];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const g = Math.floor(h / rep);
    const qb = ((b * T + t) * H + h) * D;
    const row = ((b * H + h) * T + t) * T;
    let [rho, rowDot] = [0, 0];
    for (let j = 0; j <= t; j++) {
      const vb = ((b * T + j) * G + g) * D;
      let [x, m] = [0, 0];
      for (let d = 0; d < D; d++) [x, m] = [x + dout[qb + d]! * v[vb + d]!, m + Math.abs(dout[qb + d]! * v[vb + d]!)];
      [dp[j], eps[j]] = [x, gamma(D) * m];
      rho += P[row + j]! * eps[j]!;
      rowDot += P[row + j]! * x;
    }
    for (let j = 0; j <= t; j++) {
      const p = P[row + j]!;
      const ds = Math.abs(p * (dp[j]! - rowDot) * scale);
      const delta = p * (eps[j]! + rho) * scale * (1 + U32) + U32 * ds;
      const kb = ((b * T + j) * G + g) * D;
      for (let d = 0; d < D; d++) {
        gq[qb + d] += (ds + delta) * Math.abs(k[kb + d]!);
        pq[qb + d] += delta * Math.abs(k[kb + d]!);
        gk[kb + d] += (ds + delta) * Math.abs(q[qb + d]!);
        pk[kb + d] += delta * Math.abs(q[qb + d]!);
        gv[kb + d] += p * Math.abs(dout[qb + d]!);
      }
    }
  }
  return {
    dq: gq.map((x, i) => gamma(dT) * x + pq[i]!),
    dk: gk.map((x, i) => gamma(dKV) * x + pk[i]!),
    dv: gv.map((x) => gamma(dKV) * x),
  };
}

// Row blocks of 48 (T = 100: three, the last partial), several GEMM K blocks (T = 300 > 256), G = H and G < H.
const SHAPES: Dims[] = [[2, 7, 4, 2, 6], [1, 100, 4, 1, 16], [1, 300, 2, 2, 8], [2, 13, 3, 3, 5]];

describe("causal attention on the WebAssembly kernels (float32)", () => {
  SHAPES.forEach((dims, i) => {
    const [B, T, H, G, D] = dims;
    it(`forward and backward are within the derived float32 bound of the double kernel (B=${B} T=${T} H=${H} G=${G} D=${D})`, () => {
      const q = f32(B * T * H * D, 30 + i, "q");
      const k = f32(B * T * G * D, 30 + i, "k");
      const v = f32(B * T * G * D, 30 + i, "v");
      const dout = f32(q.length, 30 + i, "dout");
      const out = new Float32Array(q.length);
      const att = new Float32Array(B * H * T * T).fill(Number.NaN);
      attentionForward(out, att, q, k, v, B, T, H, G, D);
      const [out64, att64] = [new Float64Array(q.length), new Float64Array(att.length)];
      maskedAttentionForward(out64, att64, f64(q), f64(k), f64(v), B, T, H, G, D, causalKeySpans);
      const fb = forwardBounds(q, k, v, att64, dims);
      expect(worst(att, att64, fb.pi)).toBeLessThanOrEqual(1); // includes the zeros above the diagonal
      expect(worst(out, out64, fb.outB)).toBeLessThanOrEqual(1);

      const d0 = { dq: f32(q.length, 40 + i, "dq0", 0.1), dk: f32(k.length, 40 + i, "dk0", 0.1), dv: f32(v.length, 40 + i, "dv0", 0.1) };
      const [dq, dk, dv] = [d0.dq.slice(), d0.dk.slice(), d0.dv.slice()];
      attentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D);
      const [dq64, dk64, dv64] = [f64(d0.dq), f64(d0.dk), f64(d0.dv)];
      maskedAttentionBackward(dq64, dk64, dv64, f64(dout), f64(att), f64(q), f64(k), f64(v), B, T, H, G, D, causalKeySpans);
      const bb = backwardBounds(att, dout, q, k, v, d0, dims);
      expect(worst(dq, dq64, bb.dq)).toBeLessThanOrEqual(1);
      expect(worst(dk, dk64, bb.dk)).toBeLessThanOrEqual(1);
      expect(worst(dv, dv64, bb.dv)).toBeLessThanOrEqual(1);
    });
  });

  it("is bit-identical across reruns", () => {
    const [B, T, H, G, D] = [2, 50, 4, 2, 8];
    const q = f32(B * T * H * D, 5, "q");
    const k = f32(B * T * G * D, 5, "k");
    const v = f32(B * T * G * D, 5, "v");
    const run = () => {
      const out = new Float32Array(q.length);
      const att = new Float32Array(B * H * T * T);
      const [dq, dk, dv] = [new Float32Array(q.length), new Float32Array(k.length), new Float32Array(v.length)];
      attentionForward(out, att, q, k, v, B, T, H, G, D);
      attentionBackward(dq, dk, dv, q, att, q, k, v, B, T, H, G, D);
      return [out, att, dq, dk, dv].map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64"));
    };
    expect(run()).toEqual(run());
  });
});
