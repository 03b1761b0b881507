import { describe, it, expect } from "vitest";
import { ropeBackward, ropeForward, ropeTables } from "../../src/kernels/rope.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("rope", () => {
  const [B, T, NH, D, theta] = [2, 5, 3, 6, 10000];
  const tables = ropeTables(T, D, theta);

  it("equals the rotate-half definition x·cos + rotate_half(x)·sin", () => {
    const inp = randn(B * T * NH * D, 1, "inp");
    const out = new Float64Array(inp.length);
    ropeForward(out, inp, tables, B, T, NH, D);
    const half = D / 2;
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < NH; h++) {
      const base = ((b * T + t) * NH + h) * D;
      for (let j = 0; j < D; j++) {
        // HF: emb = cat(freqs, freqs); rotate_half(x) = cat(−x2, x1).
        const i = j % half;
        const angle = t * Math.pow(theta, (-2 * i) / D);
        const rot = j < half ? -inp[base + j + half] : inp[base + j - half];
        const expected = inp[base + j] * Math.cos(angle) + rot * Math.sin(angle);
        expect(out[base + j]).toBeCloseTo(expected, 13);
      }
    }
  });

  it("preserves each head vector's norm, is the identity at t=0, and works in place", () => {
    const inp = randn(B * T * NH * D, 2, "inp");
    const out = new Float64Array(inp.length);
    ropeForward(out, inp, tables, B, T, NH, D);
    let moved = 0;
    for (let v = 0; v < B * T * NH; v++) {
      const a = inp.subarray(v * D, v * D + D);
      const o = out.subarray(v * D, v * D + D);
      expect(Math.sqrt(dot(o, o))).toBeCloseTo(Math.sqrt(dot(a, a)), 12);
      const t = Math.floor(v / NH) % T;
      if (t === 0) expect(Array.from(o)).toEqual(Array.from(a));
      else moved += Math.abs(o[0] - a[0]);
    }
    expect(moved).toBeGreaterThan(0.1);
    const inPlace = inp.slice();
    ropeForward(inPlace, inPlace, tables, B, T, NH, D);
    expect(Array.from(inPlace)).toEqual(Array.from(out));
  });

  it("backward matches finite differences and accumulates", () => {
    const inp = randn(B * T * NH * D, 3, "inp");
    const r = randn(inp.length, 3, "r");
    const out = new Float64Array(inp.length);
    const loss = (): number => {
      ropeForward(out, inp, tables, B, T, NH, D);
      return dot(out, r);
    };
    const dinp = new Float64Array(inp.length);
    ropeBackward(dinp, r, tables, B, T, NH, D);
    expect(worstRatio(dinp, numericGrad(loss, inp))).toBeLessThanOrEqual(1);
    const twice = dinp.slice();
    ropeBackward(twice, r, tables, B, T, NH, D);
    expect(worstRatio(twice, dinp.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
  });
});
