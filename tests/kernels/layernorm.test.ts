import { describe, it, expect } from "vitest";
import { layernormBackward, layernormForward } from "../../src/kernels/layernorm.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("layernorm", () => {
  const [N, C, eps] = [7, 9, 1e-5];

  it("gives each row mean 0 and variance var/(var+eps) before the weight and bias", () => {
    const inp = randn(N * C, 1, "inp", 3).map((x) => x + 2);
    const ones = new Float64Array(C).fill(1);
    const zeros = new Float64Array(C);
    const out = new Float64Array(N * C);
    const [mean, rstd] = [new Float64Array(N), new Float64Array(N)];
    layernormForward(out, mean, rstd, inp, ones, zeros, N, C, eps);
    for (let n = 0; n < N; n++) {
      const row = inp.subarray(n * C, (n + 1) * C);
      const m = row.reduce((a, b) => a + b, 0) / C;
      const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / C;
      const y = out.subarray(n * C, (n + 1) * C);
      const ym = y.reduce((a, b) => a + b, 0) / C;
      expect(ym).toBeCloseTo(0, 12);
      expect(y.reduce((a, b) => a + b * b, 0) / C).toBeCloseTo(v / (v + eps), 12);
      expect(mean[n]).toBeCloseTo(m, 12);
      expect(rstd[n]).toBeCloseTo(1 / Math.sqrt(v + eps), 12);
    }
  });

  it("backward matches finite differences for input, weight and bias, accumulates, and splits", () => {
    const inp = randn(N * C, 2, "inp");
    const w = randn(C, 2, "w");
    const b = randn(C, 2, "b");
    const r = randn(N * C, 2, "r");
    const out = new Float64Array(N * C);
    const [mean, rstd] = [new Float64Array(N), new Float64Array(N)];
    const loss = (): number => {
      layernormForward(out, mean, rstd, inp, w, b, N, C, eps);
      return dot(out, r);
    };
    loss();
    const [dinp, dw, db] = [new Float64Array(N * C), new Float64Array(C), new Float64Array(C)];
    layernormBackward(dinp, dw, db, r, inp, w, mean, rstd, N, C);
    expect(worstRatio(dinp, numericGrad(loss, inp))).toBeLessThanOrEqual(1);
    expect(worstRatio(dw, numericGrad(loss, w))).toBeLessThanOrEqual(1);
    expect(worstRatio(db, numericGrad(loss, b))).toBeLessThanOrEqual(1);
    // Accumulation: a second call adds the same gradients (doubling is exact in floating point).
    const [dinp2, dw2, db2] = [dinp.slice(), dw.slice(), db.slice()];
    layernormBackward(dinp2, dw2, db2, r, inp, w, mean, rstd, N, C);
    expect(Array.from(dinp2)).toEqual(Array.from(dinp).map((x) => 2 * x));
    expect(Array.from(dw2)).toEqual(Array.from(dw).map((x) => 2 * x));
    expect(Array.from(db2)).toEqual(Array.from(db).map((x) => 2 * x));
    // The input half and the parameter half alone give the same numbers as both together.
    const [onlyIn, onlyW, onlyB] = [new Float64Array(N * C), new Float64Array(C), new Float64Array(C)];
    layernormBackward(onlyIn, null, null, r, inp, w, mean, rstd, N, C);
    layernormBackward(null, onlyW, onlyB, r, inp, w, mean, rstd, N, C);
    expect(Array.from(onlyIn)).toEqual(Array.from(dinp));
    expect(Array.from(onlyW)).toEqual(Array.from(dw));
    expect(Array.from(onlyB)).toEqual(Array.from(db));
  });
});
