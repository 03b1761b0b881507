/**
 * Launches of the costs added for Megatron-LM's published runs (src/kernels/cost.ts) against
 * their closed forms, written out from the kernels' traffic: dropout, the fused bias-dropout-add,
 * weight gradients accumulated at the gradients' width, and the optimizer step's passes.
 */
import { describe, expect, it } from "vitest";
import { biasCost, biasDropoutAddCost, costFlops, dropoutCost, embeddingCost, layernormCost, linearCost, optimizerLaunches, residualCost, rmsnormCost } from "../../src/kernels/cost.js";
import { biasFlops, dropoutFlops, ELEMENTWISE_FLOPS, residualFlops } from "../../src/kernels/flops.js";

const bytes = (ls: readonly { bytes: number }[]) => ls.reduce((s, l) => s + l.bytes, 0);
const flops = (ls: readonly { flops: number }[]) => ls.reduce((s, l) => s + l.flops, 0);

describe("dropout", () => {
  it("reads x and writes the kept values and a 1-byte mask; its backward reads the gradient and the mask and writes the result", () => {
    const [n, e] = [3000, 2];
    const c = dropoutCost(n, e);
    expect(bytes(c.forward)).toBe(2 * n + 2 * n + n);
    expect(bytes(c.backwardInput)).toBe(2 * n + n + 2 * n);
    expect(c.backwardWeight).toEqual([]);
    expect(costFlops(c)).toEqual(dropoutFlops(n));
    expect(dropoutFlops(n).forward).toBe(ELEMENTWISE_FLOPS.dropout * n);
  });

  it("fused with the bias and the residual add (Megatron-LM's bias-dropout-add): one launch that moves less than the bias and the add apart", () => {
    const [N, C, e] = [64, 48, 2];
    const n = N * C;
    const fused = biasDropoutAddCost(N, C, true, e);
    expect(fused.forward.length).toBe(1);
    // reads x, residual (and the bias row), writes out; plus the 1-byte mask
    expect(bytes(fused.forward)).toBe(e * (3 * n + C) + n);
    expect(bytes(biasDropoutAddCost(N, C, false, e).forward)).toBe(e * 3 * n + n);
    expect(flops(fused.forward)).toBe(biasFlops(N, C).forward + dropoutFlops(n).forward + residualFlops(n).forward);
    // its backward is the dropout's on the branch's gradient
    expect(fused.backwardInput).toEqual(dropoutCost(n, e).backwardInput);
    // apart: the bias (read and write out, read the bias) then the add (read two, write one)
    const apart = bytes(biasCost(N, C, e).forward) + bytes(residualCost(n, e).forward);
    expect(apart - bytes(fused.forward)).toBe(e * 2 * n - n);
  });
});

describe("weight gradients at the gradients' width", () => {
  it("the accumulating GEMM reads and writes dW at width g; everything else keeps width e, and g = e is the old form", () => {
    const [N, K, O, e, g] = [32, 24, 40, 2, 4];
    expect(bytes(linearCost(N, K, O, e, g).backwardWeight)).toBe(e * (N * O + N * K) + 2 * g * O * K);
    expect(bytes(linearCost(N, K, O, e).backwardWeight)).toBe(e * (N * O + N * K + 2 * O * K));
    expect(linearCost(N, K, O, e, g).forward).toEqual(linearCost(N, K, O, e).forward);
    expect(linearCost(N, K, O, e, g).backwardInput).toEqual(linearCost(N, K, O, e).backwardInput);
    // norms, biases and the embedding table: their gradient rows move at width g too
    expect(bytes(rmsnormCost(N, K, e, g).backwardWeight) - bytes(rmsnormCost(N, K, e).backwardWeight)).toBe((g - e) * 2 * K);
    expect(bytes(layernormCost(N, K, e, g).backwardWeight) - bytes(layernormCost(N, K, e).backwardWeight)).toBe((g - e) * 4 * K);
    expect(bytes(biasCost(N, O, e, g).backwardWeight) - bytes(biasCost(N, O, e).backwardWeight)).toBe((g - e) * 2 * O);
    expect(bytes(embeddingCost(N, K, e, g).backwardWeight) - bytes(embeddingCost(N, K, e).backwardWeight)).toBe((g - e) * 2 * N * K);
  });
});

describe("the optimizer step", () => {
  const size = 1000;
  it("fp32: norm (reads g), clip (reads and writes g), AdamW (24 bytes of state and the gradient), zeroing (writes g)", () => {
    const ls = optimizerLaunches(size, 12, 4, 0);
    expect(ls.length).toBe(4);
    expect(bytes(ls)).toBe((4 + 8 + 28 + 4) * size);
    expect(flops(ls)).toBe((2 + 1 + 12) * size);
  });

  it("16-bit: the gradients at their width, and the rounded copy of the fp32 master weights (reads 4, writes 2)", () => {
    expect(bytes(optimizerLaunches(size, 12, 2, 2))).toBe((2 + 4 + 26 + 6 + 2) * size);
    // with fp32 gradient accumulation (gradReduceFp32)
    expect(bytes(optimizerLaunches(size, 12, 4, 2))).toBe((4 + 8 + 28 + 6 + 4) * size);
    expect(optimizerLaunches(size, 12, 2, 2).every((l) => l.gemm === undefined)).toBe(true);
  });
});
