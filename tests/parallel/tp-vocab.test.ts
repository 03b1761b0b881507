// Single-thread tests of the vocabulary-parallel kernels the model uses at every tp (tp = 1 is
// the single device): the embedding lookup and the cross-entropy, with the all-gather of the
// loss statistics done by hand. Finite differences in Float64 (tests/kernels/gradcheck.ts).
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import {
  vocabCrossEntropyBackward,
  vocabCrossEntropyFinish,
  vocabCrossEntropyStats,
  vocabEmbeddingBackward,
  vocabEmbeddingForward,
} from "../../src/parallel/tp-vocab.js";
import { dot, numericGrad, randInts, randn, worstRatio } from "../kernels/gradcheck.js";

const [N, C, V] = [10, 6, 12];

describe("vocabulary-parallel embedding", () => {
  const tokens = Int32Array.from([3, 0, 3, 11, 1, 3, 0, 7, 5, 3]);

  for (const tp of [1, 2, 3]) {
    it(`tp = ${tp}: the ranks' lookups sum to the full gather exactly; each rank's backward matches finite differences`, () => {
      const table = randn(V * C, 1, "table");
      const r = randn(N * C, 1, "r");
      const Vl = V / tp;
      const sum = new Float64Array(N * C);
      for (let rank = 0; rank < tp; rank++) {
        const shard = table.subarray(rank * Vl * C, (rank + 1) * Vl * C);
        const out = new Float64Array(N * C);
        vocabEmbeddingForward(out, tokens, shard, N, C, V, rank * Vl, Vl);
        for (let i = 0; i < out.length; i++) sum[i] += out[i];
        const loss = (): number => {
          vocabEmbeddingForward(out, tokens, shard, N, C, V, rank * Vl, Vl);
          return dot(out, r);
        };
        const dshard = new Float64Array(Vl * C);
        vocabEmbeddingBackward(dshard, r, tokens, N, C, rank * Vl, Vl);
        expect(worstRatio(dshard, numericGrad(loss, shard))).toBeLessThanOrEqual(1);
        const twice = dshard.slice();
        vocabEmbeddingBackward(twice, r, tokens, N, C, rank * Vl, Vl);
        expect(worstRatio(twice, dshard.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
      }
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) expect(sum[n * C + c]).toBe(table[tokens[n] * C + c]);
      }
    });
  }

  it("rejects a token outside the vocabulary", () => {
    const out = new Float64Array(C);
    expect(() => vocabEmbeddingForward(out, Int32Array.from([V]), new Float64Array(V * C), 1, C, V, 0, V)).toThrow(InputError);
    expect(() => vocabEmbeddingForward(out, Int32Array.from([-1]), new Float64Array(V * C), 1, C, V, 0, V)).toThrow(InputError);
  });
});

/** Every rank's stats, "all-gathered" into one buffer, then each rank's losses and probs slice. */
function crossEntropy(logits: Float64Array, targets: Int32Array, tp: number) {
  const Vl = V / tp;
  const local = (r: number) => {
    const l = new Float64Array(N * Vl);
    for (let n = 0; n < N; n++) l.set(logits.subarray(n * V + r * Vl, n * V + (r + 1) * Vl), n * Vl);
    return l;
  };
  const shards = Array.from({ length: tp }, (_, r) => local(r));
  const all = new Float64Array(3 * N * tp);
  shards.forEach((l, r) => vocabCrossEntropyStats(all.subarray(r * 3 * N, (r + 1) * 3 * N), l, targets, N, V, r * Vl, Vl));
  return shards.map((l) => {
    const losses = new Float64Array(N);
    const probs = new Float64Array(N * Vl);
    vocabCrossEntropyFinish(losses, probs, l, all, N, Vl, tp);
    return { losses, probs };
  });
}

describe("vocabulary-parallel cross-entropy", () => {
  for (const tp of [1, 2, 3]) {
    it(`tp = ${tp}: every rank gets −log softmax at the target and its slice of the softmax`, () => {
      const logits = randn(N * V, 4, "logits");
      logits[3] += 800; // large logits must not overflow
      const targets = randInts(N, V, 1, "targets");
      const Vl = V / tp;
      crossEntropy(logits, targets, tp).forEach(({ losses, probs }, r) => {
        for (let n = 0; n < N; n++) {
          const row = logits.subarray(n * V, n * V + V);
          const m = Math.max(...row);
          const z = row.reduce((s, x) => s + Math.exp(x - m), 0);
          expect(losses[n]).toBeCloseTo(-(row[targets[n]] - m - Math.log(z)), 10);
          for (let i = 0; i < Vl; i++) expect(probs[n * Vl + i]).toBeCloseTo(Math.exp(row[r * Vl + i] - m) / z, 14);
        }
      });
    });

    it(`tp = ${tp}: the backward scale·(p − onehot) on each slice matches finite differences and accumulates`, () => {
      const logits = randn(N * V, 2, "logits");
      const targets = randInts(N, V, 2, "targets");
      const scale = 1 / 7;
      const Vl = V / tp;
      const loss = (): number => scale * crossEntropy(logits, targets, tp)[0].losses.reduce((a, b) => a + b, 0);
      const numeric = numericGrad(loss, logits);
      crossEntropy(logits, targets, tp).forEach(({ probs }, r) => {
        const dlogits = new Float64Array(N * Vl);
        vocabCrossEntropyBackward(dlogits, probs, targets, scale, N, r * Vl, Vl);
        const expected = new Float64Array(N * Vl);
        for (let n = 0; n < N; n++) expected.set(numeric.subarray(n * V + r * Vl, n * V + (r + 1) * Vl), n * Vl);
        expect(worstRatio(dlogits, expected)).toBeLessThanOrEqual(1);
        const twice = dlogits.slice();
        vocabCrossEntropyBackward(twice, probs, targets, scale, N, r * Vl, Vl);
        expect(worstRatio(twice, dlogits.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
      });
    });
  }

  it("rejects a target outside the vocabulary", () => {
    expect(() => vocabCrossEntropyStats(new Float64Array(3), new Float64Array(V), Int32Array.from([V]), 1, V, 0, V)).toThrow(InputError);
  });
});
