/**
 * Mixed precision in one trainer: which buffers hold 16-bit values, the fp32 master weights and
 * their 16-bit copy, and fp16's dynamic loss scaling (the rule of PyTorch's GradScaler).
 */
import { describe, expect, it } from "vitest";
import { validateScenario } from "../../src/index.js";
import { drawBatch } from "../../src/data/batches.js";
import { encode } from "../../src/data/tokenizer.js";
import { syntheticText } from "../../src/data/synthetic.js";
import { storeAs, type Dtype } from "../../src/kernels/round.js";
import type { Floats } from "../../src/kernels/types.js";
import { LossScaler } from "../../src/train/loss-scale.js";
import { Trainer } from "../../src/train/trainer.js";

const MODEL = { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16 };

function trainer(training: object = {}): Trainer {
  const scenario = validateScenario({ model: MODEL, training: { steps: 4, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2 }, ...training } });
  return new Trainer(scenario, 4);
}

const corpus = encode(syntheticText(1, 4096));
const batch = (step: number) => drawBatch(corpus, 1, step, 4, MODEL.seqLen);

/** How many elements of `buf` are not values of `dtype` (rounding would move them). */
function offGrid(buf: Floats, dtype: Dtype): number {
  const rounded = Float32Array.from(buf);
  storeAs(dtype, rounded);
  let n = 0;
  for (let i = 0; i < buf.length; i++) if (!Object.is(rounded[i], buf[i])) n++;
  return n;
}

describe.each(["bf16", "fp16"] as const)("%s storage in one trainer", (precision) => {
  it("computes with a 16-bit copy of fp32 master weights that start as the fp32 run's weights", () => {
    const fp32 = trainer();
    const t = trainer({ precision });
    expect(t.master).not.toBeNull();
    expect(Array.from(t.master!)).toEqual(Array.from(fp32.params));
    expect(offGrid(t.params, precision)).toBe(0);
    expect(offGrid(fp32.params, precision)).toBeGreaterThan(fp32.params.length / 2);
  });

  it("stores activations, activation gradients and weight gradients in 16 bits, statistics in fp32", () => {
    const t = trainer({ precision });
    t.accumulate(batch(0), 4 * MODEL.seqLen);
    const acts = t.model.acts;
    for (const [name, buf] of Object.entries(acts.layers[0])) {
      const statistic = name === "rstd1" || name === "rstd2" || name === "lse";
      if (!statistic) expect(offGrid(buf, precision), `layer 0 ${name}`).toBe(0);
    }
    // rstd = 1/√(mean x² + ε) is not rounded: most of its values are between 16-bit values.
    expect(offGrid(acts.layers[0].rstd1, precision)).toBeGreaterThan(0);
    expect(offGrid(acts.head!.logits, precision)).toBe(0);
    expect(offGrid(acts.head!.probs, precision)).toBeGreaterThan(0);
    expect(offGrid(acts.output, precision)).toBe(0);
    expect(offGrid(t.grads, precision)).toBe(0);
  });

  it("with gradReduceFp32 keeps the weight gradients in fp32", () => {
    const t = trainer({ precision, gradReduceFp32: true });
    t.accumulate(batch(0), 4 * MODEL.seqLen);
    expect(offGrid(t.grads, precision)).toBeGreaterThan(t.grads.length / 2);
    expect(t.stateBytes().gradients).toBe(4 * t.grads.length);
  });

  it("updates the master weights and writes their 16-bit copy; bytes per parameter: 2 + 4 + 2 (+ 8 of moments)", () => {
    const t = trainer({ precision });
    const loss = t.accumulate(batch(0), 4 * MODEL.seqLen);
    expect(Number.isFinite(loss)).toBe(true);
    const before = t.master!.slice();
    const { skipped } = t.update(0, sumSquares(t.grads));
    expect(skipped).toBe(false);
    expect(t.master!).not.toEqual(before);
    const copy = t.master!.slice();
    storeAs(precision, copy);
    expect(Array.from(t.params)).toEqual(Array.from(copy));
    const P = t.params.length;
    expect(t.stateBytes()).toEqual({ parameters: 2 * P, masterWeights: 4 * P, gradients: 2 * P });
    expect(t.optimizer.stateBytes()).toBe(8 * P);
  });
});

function sumSquares(g: Float32Array): number {
  let s = 0;
  for (const x of g) s += x * x;
  return s;
}

describe("fp16 loss scaling in one trainer", () => {
  it("scales the loss gradient by S and divides it out: the update equals that of a smaller scale", () => {
    // Powers of two: scaling is exact unless a value overflows or falls below fp16's subnormals.
    const a = trainer({ precision: "fp16", lossScale: { initial: 2 ** 10 } });
    const b = trainer({ precision: "fp16", lossScale: { initial: 2 ** 12 } });
    for (const t of [a, b]) t.accumulate(batch(0), 4 * MODEL.seqLen);
    const [ga, gb] = [sumSquares(a.grads), sumSquares(b.grads)];
    // The gradients carry the scale: 4× the scale, 16× the squared norm (to fp16 round-off, u = 2^-11).
    expect(Math.abs(gb / ga / 16 - 1)).toBeLessThan(2 ** -11);
    const [ua, ub] = [a.update(0, ga), b.update(0, gb)];
    expect(Math.abs(ub.gradNorm / ua.gradNorm - 1)).toBeLessThan(2 ** -11);
    expect([ua.lossScale, ub.lossScale]).toEqual([2 ** 10, 2 ** 12]);
    // The optimizer saw the unscaled gradients: AdamW's first moments agree to fp16 round-off, not 4× apart.
    let [diff, norm] = [0, 0];
    a.optimizer.m.forEach((x, i) => {
      diff += (x - b.optimizer.m[i]!) ** 2;
      norm += x * x;
    });
    expect(Math.sqrt(diff / norm)).toBeLessThan(2 ** -11);
  });

  it("an overflow skips the step: weights, master weights and moments unchanged, the scale backs off", () => {
    const t = trainer({ precision: "fp16", lossScale: { initial: 2 ** 40 } });
    t.accumulate(batch(0), 4 * MODEL.seqLen);
    const sum = sumSquares(t.grads);
    expect(Number.isFinite(sum)).toBe(false);
    const [params, master, m] = [t.params.slice(), t.master!.slice(), t.optimizer.m.slice()];
    const out = t.update(0, sum);
    expect(out).toMatchObject({ skipped: true, lossScale: 2 ** 40 });
    expect(t.lossScale).toBe(2 ** 39);
    expect(t.params).toEqual(params);
    expect(t.master).toEqual(master);
    expect(t.optimizer.m).toEqual(m);
    expect(t.optimizer.stepCount).toBe(0);
  });

  it("bf16 and fp32 have no loss scale", () => {
    for (const precision of ["fp32", "bf16"]) {
      const t = trainer({ precision });
      t.accumulate(batch(0), 4 * MODEL.seqLen);
      expect(t.update(0, sumSquares(t.grads))).toMatchObject({ lossScale: null, skipped: false });
    }
  });
});

describe("LossScaler", () => {
  it("backs off on every overflow and grows after growthInterval clean steps in a row", () => {
    const s = new LossScaler({ initial: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 3 });
    const seen: number[] = [];
    for (const finite of [false, false, true, true, true, true, false, true, true, true]) {
      seen.push(s.scale);
      s.update(finite);
    }
    seen.push(s.scale);
    expect(seen.map(Math.log2)).toEqual([16, 15, 14, 14, 14, 15, 15, 14, 14, 14, 15]);
  });
});
