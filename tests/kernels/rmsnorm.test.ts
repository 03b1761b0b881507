import { describe, it, expect } from "vitest";
import { rmsnormBackward, rmsnormForward } from "../../src/kernels/rmsnorm.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("rmsnorm", () => {
  const [N, C, eps] = [7, 9, 1e-5];

  it("normalises each row to unit RMS before the weight", () => {
    const inp = randn(N * C, 1, "inp", 3);
    const ones = new Float64Array(C).fill(1);
    const out = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    rmsnormForward(out, rstd, inp, ones, N, C, eps);
    for (let n = 0; n < N; n++) {
      let ss = 0;
      let xs = 0;
      for (let c = 0; c < C; c++) {
        ss += out[n * C + c] ** 2;
        xs += inp[n * C + c] ** 2;
      }
      // mean(y²) = mean(x²)/(mean(x²)+eps)
      expect(ss / C).toBeCloseTo(xs / C / (xs / C + eps), 12);
      expect(rstd[n]).toBeCloseTo(1 / Math.sqrt(xs / C + eps), 12);
    }
  });

  it("backward matches finite differences for input and weight, and accumulates", () => {
    const inp = randn(N * C, 2, "inp");
    const w = randn(C, 2, "w");
    const r = randn(N * C, 2, "r");
    const out = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    const loss = (): number => {
      rmsnormForward(out, rstd, inp, w, N, C, eps);
      return dot(out, r);
    };
    loss();
    const dinp = new Float64Array(N * C);
    const dw = new Float64Array(C);
    rmsnormBackward(dinp, dw, r, inp, w, rstd, N, C);
    expect(worstRatio(dinp, numericGrad(loss, inp))).toBeLessThanOrEqual(1);
    expect(worstRatio(dw, numericGrad(loss, w))).toBeLessThanOrEqual(1);
    const dinp2 = dinp.slice();
    const dw2 = dw.slice();
    rmsnormBackward(dinp2, dw2, r, inp, w, rstd, N, C);
    expect(worstRatio(dinp2, dinp.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    expect(worstRatio(dw2, dw.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    // Either half alone gives the same numbers as both together.
    const onlyIn = new Float64Array(N * C);
    const onlyW = new Float64Array(C);
    rmsnormBackward(onlyIn, null, r, inp, w, rstd, N, C);
    rmsnormBackward(null, onlyW, r, inp, w, rstd, N, C);
    expect(Array.from(onlyIn)).toEqual(Array.from(dinp));
    expect(Array.from(onlyW)).toEqual(Array.from(dw));
  });
});
