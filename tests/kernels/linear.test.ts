import { describe, it, expect } from "vitest";
import { linearBackward, linearBackwardInput, linearBackwardWeight, linearForward } from "../../src/kernels/linear.js";
import { dot, maxAbs, numericGrad, randn, worstRatio } from "./gradcheck.js";

function naive(inp: Float64Array, w: Float64Array, N: number, K: number, O: number): Float64Array {
  const out = new Float64Array(N * O);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += inp[n * K + k] * w[o * K + k];
    out[n * O + o] = s;
  }
  return out;
}

// Odd sizes exercise the remainder loops; multiples of 4 the unrolled ones.
const SHAPES: [number, number, number][] = [[5, 7, 6], [8, 9, 12], [1, 3, 1], [7, 4, 5]];

describe("linear", () => {
  for (const [N, K, O] of SHAPES) {
    it(`forward equals inp·weightᵀ and backward matches finite differences (N=${N}, K=${K}, O=${O})`, () => {
      const inp = randn(N * K, 1, "inp");
      const w = randn(O * K, 1, "w");
      const r = randn(N * O, 1, "r");
      const out = new Float64Array(N * O);
      linearForward(out, inp, w, N, K, O);
      expect(worstRatio(out, naive(inp, w, N, K, O), 1e-12, 1e-12)).toBeLessThanOrEqual(1);

      const loss = (): number => {
        linearForward(out, inp, w, N, K, O);
        return dot(out, r);
      };
      const dinp = new Float64Array(N * K);
      const dw = new Float64Array(O * K);
      linearBackward(dinp, dw, r, inp, w, N, K, O);
      expect(maxAbs(dinp)).toBeGreaterThan(0.1);
      expect(worstRatio(dinp, numericGrad(loss, inp))).toBeLessThanOrEqual(1);
      expect(worstRatio(dw, numericGrad(loss, w))).toBeLessThanOrEqual(1);
    });
  }

  it("accumulates, splits into input and weight halves, and accepts a null dinp", () => {
    const [N, K, O] = [6, 5, 7];
    const inp = randn(N * K, 2, "inp");
    const w = randn(O * K, 2, "w");
    const r = randn(N * O, 2, "r");
    const dinp1 = new Float64Array(N * K);
    const dw1 = new Float64Array(O * K);
    linearBackward(dinp1, dw1, r, inp, w, N, K, O);
    const dinp2 = new Float64Array(N * K);
    const dw2 = new Float64Array(O * K);
    linearBackwardInput(dinp2, r, w, N, K, O);
    linearBackwardWeight(dw2, r, inp, N, K, O);
    expect(Array.from(dinp2)).toEqual(Array.from(dinp1));
    expect(Array.from(dw2)).toEqual(Array.from(dw1));
    linearBackward(dinp2, dw2, r, inp, w, N, K, O);
    expect(worstRatio(dinp2, dinp1.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    expect(worstRatio(dw2, dw1.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    const dw3 = new Float64Array(O * K);
    linearBackward(null, dw3, r, inp, w, N, K, O);
    expect(Array.from(dw3)).toEqual(Array.from(dw1));
  });
  // The float32 path (WebAssembly, float32 accumulation) is held to its round-off bound in
  // tests/wasm/linear.test.ts; the double-accumulating JavaScript kernel is checked there too.
});
