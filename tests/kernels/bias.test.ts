import { describe, it, expect } from "vitest";
import { biasBackward, biasForward, positionEmbeddingBackward, positionEmbeddingForward } from "../../src/kernels/bias.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("bias and position embedding", () => {
  const [N, O] = [6, 5];

  it("bias: adds the same vector to every row; its gradient matches finite differences", () => {
    const x = randn(N * O, 1, "x");
    const bias = randn(O, 1, "b");
    const r = randn(N * O, 1, "r");
    const out = new Float64Array(N * O);
    const loss = (): number => {
      out.set(x);
      biasForward(out, bias, N, O);
      return dot(out, r);
    };
    loss();
    for (let i = 0; i < N * O; i++) expect(out[i]).toBe(x[i] + bias[i % O]);
    const db = new Float64Array(O);
    biasBackward(db, r, N, O);
    expect(worstRatio(db, numericGrad(loss, bias))).toBeLessThanOrEqual(1);
  });

  it("position embedding: row r of a shard starting at firstRow gets position (firstRow + r) mod T; its gradient matches finite differences", () => {
    const [T, C, rows, firstRow] = [4, 3, 6, 5]; // rows 5..10 of a [B·T, C] activation: positions 1,2,3,0,1,2
    const table = randn(T * C, 2, "table");
    const r = randn(rows * C, 2, "r");
    const out = new Float64Array(rows * C);
    const loss = (): number => {
      out.fill(0);
      positionEmbeddingForward(out, table, firstRow, rows, T, C);
      return dot(out, r);
    };
    loss();
    const positions = [1, 2, 3, 0, 1, 2];
    positions.forEach((p, row) => {
      for (let c = 0; c < C; c++) expect(out[row * C + c]).toBe(table[p * C + c]);
    });
    const dtable = new Float64Array(T * C);
    positionEmbeddingBackward(dtable, r, firstRow, rows, T, C);
    expect(worstRatio(dtable, numericGrad(loss, table))).toBeLessThanOrEqual(1);
  });
});
