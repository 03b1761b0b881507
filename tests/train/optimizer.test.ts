import { describe, expect, it } from "vitest";
import { validateScenario } from "../../src/scenario/load.js";
import { AdamW, clipFactor, sumOfSquares } from "../../src/train/optimizer.js";
import { learningRate } from "../../src/train/schedule.js";

const opt = validateScenario({
  model: { hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, seqLen: 8 },
  training: { steps: 20, globalBatch: 2, optimizer: { lr: 1e-2, warmupSteps: 4, minLr: 1e-3, weightDecay: 0.1, beta1: 0.9, beta2: 0.99 } },
}).training.optimizer;

describe("learning-rate schedule", () => {
  it("warms up linearly, peaks, and decays by cosine to the floor at the last step", () => {
    expect(learningRate(opt, 0, 20)).toBeCloseTo(opt.lr / 4, 15);
    expect(learningRate(opt, 3, 20)).toBeCloseTo(opt.lr, 15);
    expect(learningRate(opt, 4, 20)).toBeCloseTo(opt.lr, 15);
    expect(learningRate(opt, 19, 20)).toBeCloseTo(opt.minLr, 15);
    // Halfway through the decay the cosine is at zero: the midpoint of lr and minLr.
    const mid = 4 + 15 / 2;
    expect(learningRate(opt, mid, 20)).toBeCloseTo((opt.lr + opt.minLr) / 2, 12);
    for (let s = 5; s < 20; s++) expect(learningRate(opt, s, 20)).toBeLessThan(learningRate(opt, s - 1, 20));
  });
});

describe("AdamW", () => {
  it("matches the closed form of the first two steps, with decoupled decay only where asked", () => {
    const params = Float32Array.of(1, -2);
    const adam = new AdamW(opt, 2, [
      { offset: 0, size: 1, decay: true },
      { offset: 1, size: 1, decay: false },
    ]);
    const lr = 0.01;
    adam.step(params, Float32Array.of(0.5, 0.5), lr);
    // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) = lr·sign(g), plus decay on param 0.
    expect(params[0]).toBeCloseTo(1 * (1 - lr * 0.1) - lr, 6);
    expect(params[1]).toBeCloseTo(-2 - lr, 6);
    const p0 = params[0];
    adam.step(params, Float32Array.of(-0.25, 0.5), lr);
    const m1 = 0.1 * 0.5;
    const v1 = 0.01 * 0.25;
    const m2 = 0.9 * m1 + 0.1 * -0.25;
    const v2 = 0.99 * v1 + 0.01 * 0.0625;
    const update = (m2 / (1 - 0.81)) / (Math.sqrt(v2 / (1 - 0.99 * 0.99)) + opt.eps);
    expect(params[0]).toBeCloseTo(p0 * (1 - lr * 0.1) - lr * update, 6);
    expect(adam.stateBytes()).toBe(2 * 2 * 4);
  });
});

describe("gradient clipping", () => {
  it("scales to the maximum norm only when above it", () => {
    const g = Float32Array.of(3, 4);
    const norm = Math.sqrt(sumOfSquares(g));
    expect(norm).toBe(5);
    expect(clipFactor(norm, 10)).toBe(1);
    expect(clipFactor(norm, 0)).toBe(1);
    expect(norm * clipFactor(norm, 1)).toBeCloseTo(1, 6);
  });
});
