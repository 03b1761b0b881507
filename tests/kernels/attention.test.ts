import { describe, it, expect } from "vitest";
import { attentionBackward, attentionForward } from "../../src/kernels/attention.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

/** Textbook multi-head causal attention with an explicit −∞ mask, kv head per query head. */
function referenceMha(q: Float64Array, k: Float64Array, v: Float64Array, B: number, T: number, H: number, D: number): Float64Array {
  const out = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const s: number[] = [];
    for (let t2 = 0; t2 < T; t2++) {
      let d = 0;
      for (let i = 0; i < D; i++) d += q[((b * T + t) * H + h) * D + i] * k[((b * T + t2) * H + h) * D + i];
      s.push(t2 <= t ? d / Math.sqrt(D) : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, c) => a + c, 0);
    for (let t2 = 0; t2 < T; t2++) for (let i = 0; i < D; i++) {
      out[((b * T + t) * H + h) * D + i] += (e[t2] / z) * v[((b * T + t2) * H + h) * D + i];
    }
  }
  return out;
}

/** HF repeat_kv: [B,T,G,D] → [B,T,H,D], query head h reads kv head ⌊h/(H/G)⌋. */
function repeatKv(x: Float64Array, B: number, T: number, G: number, H: number, D: number): Float64Array {
  const out = new Float64Array(B * T * H * D);
  for (let bt = 0; bt < B * T; bt++) for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / G));
    out.set(x.subarray((bt * G + g) * D, (bt * G + g + 1) * D), (bt * H + h) * D);
  }
  return out;
}

describe("attention", () => {
  const [B, T, H, G, D] = [2, 5, 4, 2, 6];

  it("with G = H equals textbook causal multi-head attention; probabilities are causal and sum to 1", () => {
    const q = randn(B * T * H * D, 1, "q");
    const k = randn(B * T * H * D, 1, "k");
    const v = randn(B * T * H * D, 1, "v");
    const out = new Float64Array(q.length);
    const att = new Float64Array(B * H * T * T).fill(7);
    attentionForward(out, att, q, k, v, B, T, H, H, D);
    expect(worstRatio(out, referenceMha(q, k, v, B, T, H, D), 1e-13, 1e-13)).toBeLessThanOrEqual(1);
    for (let row = 0; row < B * H * T; row++) {
      const t = row % T;
      let sum = 0;
      for (let t2 = 0; t2 < T; t2++) {
        if (t2 > t) expect(att[row * T + t2]).toBe(0);
        sum += att[row * T + t2];
      }
      expect(sum).toBeCloseTo(1, 14);
    }
  });

  it("GQA equals multi-head attention on repeat_kv'd keys and values", () => {
    const q = randn(B * T * H * D, 2, "q");
    const k = randn(B * T * G * D, 2, "k");
    const v = randn(B * T * G * D, 2, "v");
    const out = new Float64Array(q.length);
    attentionForward(out, new Float64Array(B * H * T * T), q, k, v, B, T, H, G, D);
    const ref = referenceMha(q, repeatKv(k, B, T, G, H, D), repeatKv(v, B, T, G, H, D), B, T, H, D);
    expect(worstRatio(out, ref, 1e-13, 1e-13)).toBeLessThanOrEqual(1);
  });

  it("is causal: changing a later position's k and v leaves earlier outputs unchanged", () => {
    const q = randn(B * T * H * D, 3, "q");
    const k = randn(B * T * G * D, 3, "k");
    const v = randn(B * T * G * D, 3, "v");
    const att = new Float64Array(B * H * T * T);
    const before = new Float64Array(q.length);
    attentionForward(before, att, q, k, v, B, T, H, G, D);
    const tChanged = 3;
    for (let b = 0; b < B; b++) for (let i = 0; i < G * D; i++) {
      k[(b * T + tChanged) * G * D + i] += 1;
      v[(b * T + tChanged) * G * D + i] -= 2;
    }
    const after = new Float64Array(q.length);
    attentionForward(after, att, q, k, v, B, T, H, G, D);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
      const s = (b * T + t) * H * D;
      const same = Array.from(after.subarray(s, s + H * D)).every((x, i) => x === before[s + i]);
      expect(same).toBe(t < tChanged);
    }
  });

  it("backward matches finite differences for q, k, v and accumulates", () => {
    const q = randn(B * T * H * D, 4, "q");
    const k = randn(B * T * G * D, 4, "k");
    const v = randn(B * T * G * D, 4, "v");
    const r = randn(q.length, 4, "r");
    const out = new Float64Array(q.length);
    const att = new Float64Array(B * H * T * T);
    const loss = (): number => {
      attentionForward(out, att, q, k, v, B, T, H, G, D);
      return dot(out, r);
    };
    loss();
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    attentionBackward(dq, dk, dv, r, att, q, k, v, B, T, H, G, D);
    expect(worstRatio(dq, numericGrad(loss, q))).toBeLessThanOrEqual(1);
    expect(worstRatio(dk, numericGrad(loss, k))).toBeLessThanOrEqual(1);
    expect(worstRatio(dv, numericGrad(loss, v))).toBeLessThanOrEqual(1);
    const [dq2, dk2, dv2] = [dq.slice(), dk.slice(), dv.slice()];
    attentionBackward(dq2, dk2, dv2, r, att, q, k, v, B, T, H, G, D);
    for (const [twice, once] of [[dq2, dq], [dk2, dk], [dv2, dv]]) {
      expect(worstRatio(twice, once.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    }
  });
});
