import { describe, it, expect } from "vitest";
import { embeddingBackward, embeddingForward } from "../../src/kernels/embedding.js";
import { InputError } from "../../src/errors.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("embedding", () => {
  const [N, C, V] = [10, 6, 7];
  // Repeated tokens (3 and 0) check that the scatter-add sums rows.
  const tokens = Int32Array.from([3, 0, 3, 6, 1, 3, 0, 2, 5, 3]);

  it("gathers rows and its backward scatter-adds (finite differences, accumulation)", () => {
    const table = randn(V * C, 1, "table");
    const r = randn(N * C, 1, "r");
    const out = new Float64Array(N * C);
    embeddingForward(out, tokens, table, N, C, V);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) expect(out[n * C + c]).toBe(table[tokens[n] * C + c]);
    }
    const loss = (): number => {
      embeddingForward(out, tokens, table, N, C, V);
      return dot(out, r);
    };
    const dtable = new Float64Array(V * C);
    embeddingBackward(dtable, r, tokens, N, C);
    expect(worstRatio(dtable, numericGrad(loss, table))).toBeLessThanOrEqual(1);
    // Token 4 never appears: its row gets no gradient.
    for (let c = 0; c < C; c++) expect(dtable[4 * C + c]).toBe(0);
    const twice = dtable.slice();
    embeddingBackward(twice, r, tokens, N, C);
    expect(worstRatio(twice, dtable.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
  });

  it("rejects a token outside the vocabulary", () => {
    const out = new Float64Array(C);
    expect(() => embeddingForward(out, Int32Array.from([V]), new Float64Array(V * C), 1, C, V)).toThrow(InputError);
    expect(() => embeddingForward(out, Int32Array.from([-1]), new Float64Array(V * C), 1, C, V)).toThrow(InputError);
  });
});
