import { describe, it, expect } from "vitest";
import {
  attentionFlops,
  ELEMENTWISE_FLOPS,
  linearFlops,
  rmsnormFlops,
  sumFlops,
} from "../../src/kernels/flops.js";

describe("flops", () => {
  it("counts a linear layer as 2·N·K·O per matmul, backward twice the forward", () => {
    const f = linearFlops(6, 10, 7);
    expect(f).toEqual({ forward: 840, backwardInput: 840, backwardWeight: 840 });
  });

  it("counts attention over the causal pairs only", () => {
    const [B, T, H, D] = [2, 5, 4, 6];
    // Enumerate the pairs the kernel computes (t2 ≤ t) instead of using T(T+1)/2.
    let pairs = 0;
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let t2 = 0; t2 <= t; t2++) pairs++;
    const f = attentionFlops(B, T, H, D);
    expect(f.forward).toBe(pairs * (4 * D + ELEMENTWISE_FLOPS.softmaxForward));
    expect(f.backwardInput).toBe(pairs * (8 * D + ELEMENTWISE_FLOPS.softmaxBackward));
    expect(f.backwardWeight).toBe(0);
  });

  it("sums parts field by field", () => {
    const s = sumFlops(linearFlops(1, 2, 3), rmsnormFlops(4, 5));
    expect(s.forward).toBe(12 + 4 * 20);
    expect(s.backwardInput).toBe(12 + 6 * 20);
    expect(s.backwardWeight).toBe(12 + 3 * 20);
  });
});
