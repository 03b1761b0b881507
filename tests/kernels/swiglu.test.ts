import { describe, it, expect } from "vitest";
import { swigluBackward, swigluForward } from "../../src/kernels/swiglu.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("swiglu", () => {
  const n = 40;

  it("computes silu(gate)·up", () => {
    const gate = randn(n, 1, "gate", 3);
    const up = randn(n, 1, "up");
    const out = new Float64Array(n);
    swigluForward(out, gate, up, n);
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo((gate[i] * up[i]) / (1 + Math.exp(-gate[i])), 14);
  });

  it("backward matches finite differences and accumulates", () => {
    const gate = randn(n, 2, "gate", 3);
    const up = randn(n, 2, "up");
    const r = randn(n, 2, "r");
    const out = new Float64Array(n);
    const loss = (): number => {
      swigluForward(out, gate, up, n);
      return dot(out, r);
    };
    const dgate = new Float64Array(n);
    const dup = new Float64Array(n);
    swigluBackward(dgate, dup, r, gate, up, n);
    expect(worstRatio(dgate, numericGrad(loss, gate))).toBeLessThanOrEqual(1);
    expect(worstRatio(dup, numericGrad(loss, up))).toBeLessThanOrEqual(1);
    const dgate2 = dgate.slice();
    const dup2 = dup.slice();
    swigluBackward(dgate2, dup2, r, gate, up, n);
    expect(worstRatio(dgate2, dgate.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    expect(worstRatio(dup2, dup.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
  });
});
