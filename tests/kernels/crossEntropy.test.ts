import { describe, it, expect } from "vitest";
import { crossEntropyBackward, crossEntropyForward } from "../../src/kernels/crossEntropy.js";
import { InputError } from "../../src/errors.js";
import { numericGrad, randInts, randn, worstRatio } from "./gradcheck.js";

describe("crossEntropy", () => {
  const [N, V] = [6, 11];

  it("forward gives −log softmax at the target and the softmax probabilities", () => {
    const logits = randn(N * V, 1, "logits", 4);
    logits[3] += 800; // large logits must not overflow
    const targets = randInts(N, V, 1, "targets");
    const losses = new Float64Array(N);
    const probs = new Float64Array(N * V);
    crossEntropyForward(losses, probs, logits, targets, N, V);
    for (let n = 0; n < N; n++) {
      const row = logits.subarray(n * V, n * V + V);
      const m = Math.max(...row);
      const z = row.reduce((s, x) => s + Math.exp(x - m), 0);
      expect(losses[n]).toBeCloseTo(-(row[targets[n]] - m - Math.log(z)), 10);
      let sum = 0;
      for (let i = 0; i < V; i++) {
        expect(probs[n * V + i]).toBeCloseTo(Math.exp(row[i] - m) / z, 14);
        sum += probs[n * V + i];
      }
      expect(sum).toBeCloseTo(1, 14);
    }
  });

  it("backward is scale·(probs − onehot): finite differences, accumulation, in-place probs", () => {
    const logits = randn(N * V, 2, "logits", 2);
    const targets = randInts(N, V, 2, "targets");
    const scale = 1 / 7;
    const losses = new Float64Array(N);
    const probs = new Float64Array(N * V);
    const loss = (): number => {
      crossEntropyForward(losses, probs, logits, targets, N, V);
      return scale * losses.reduce((a, b) => a + b, 0);
    };
    loss();
    const dlogits = new Float64Array(N * V);
    crossEntropyBackward(dlogits, probs, targets, scale, N, V);
    expect(worstRatio(dlogits, numericGrad(loss, logits))).toBeLessThanOrEqual(1);
    const twice = dlogits.slice();
    crossEntropyBackward(twice, probs, targets, scale, N, V);
    expect(worstRatio(twice, dlogits.map((x) => 2 * x), 1e-14, 1e-14)).toBeLessThanOrEqual(1);
    const inPlace = logits.slice();
    const losses2 = new Float64Array(N);
    crossEntropyForward(losses2, inPlace, inPlace, targets, N, V);
    expect(Array.from(losses2)).toEqual(Array.from(losses));
    expect(Array.from(inPlace)).toEqual(Array.from(probs));
  });

  it("rejects a target outside the vocabulary", () => {
    expect(() =>
      crossEntropyForward(new Float64Array(1), new Float64Array(V), new Float64Array(V), Int32Array.from([V]), 1, V),
    ).toThrow(InputError);
  });
});
