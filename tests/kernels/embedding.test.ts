import { describe, it, expect } from "vitest";
import { embeddingBackward } from "../../src/kernels/embedding.js";
import { dot, numericGrad, randn, worstRatio } from "./gradcheck.js";

describe("embedding", () => {
  const [N, C, V] = [10, 6, 7];
  // Repeated tokens (3 and 0) check that the scatter-add sums rows.
  const tokens = Int32Array.from([3, 0, 3, 6, 1, 3, 0, 2, 5, 3]);

  it("backward scatter-adds: finite differences of the row gather, accumulation", () => {
    const table = randn(V * C, 1, "table");
    const r = randn(N * C, 1, "r");
    // The forward (a row gather; the model's is vocabEmbeddingForward, tested in tests/parallel/tp-vocab.test.ts).
    const loss = (): number => {
      const out = new Float64Array(N * C);
      for (let n = 0; n < N; n++) out.set(table.subarray(tokens[n] * C, tokens[n] * C + C), n * C);
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
});
