import { describe, it, expect } from "vitest";
import { geluBackward, geluForward } from "../../src/kernels/gelu.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("gelu (tanh approximation)", () => {
  it("matches the formula's known values and its limits", () => {
    const inp = Float64Array.of(0, 1, -1, 2, -8, 8);
    const out = new Float64Array(inp.length);
    geluForward(out, inp, inp.length);
    // ½·x·(1 + tanh(√(2/π)(x + 0.044715x³))) evaluated by hand: at 1, tanh(0.7978846·1.044715) = tanh(0.8335624).
    const at1 = 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715));
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo(at1, 15);
    expect(out[2]).toBeCloseTo(at1 - 1, 15); // gelu(−x) = gelu(x) − x
    expect(out[1]).toBeCloseTo(0.8411920, 6); // within 2e-4 of exact GELU's 0.8413447
    expect(Math.abs(out[4])).toBeLessThan(1e-12); // → 0 for large negative x
    expect(out[5]).toBeCloseTo(8, 12); // → x for large positive x
  });

  it("backward matches finite differences and accumulates", () => {
    const n = 40;
    const inp = randn(n, 3, "inp", 2);
    const r = randn(n, 3, "r");
    const out = new Float64Array(n);
    const loss = (): number => {
      geluForward(out, inp, n);
      return dot(out, r);
    };
    const dinp = new Float64Array(n);
    geluBackward(dinp, r, inp, n);
    expect(worstRatio(dinp, numericGrad(loss, inp))).toBeLessThanOrEqual(1);
    const twice = dinp.slice();
    geluBackward(twice, r, inp, n);
    expect(Array.from(twice)).toEqual(Array.from(dinp).map((x) => 2 * x));
  });
});
