import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCheckpoint, simulate, validateScenario } from "../../src/index.js";
import { readTrainingState } from "../../src/checkpoint/training-state.js";
import { relativeErrors } from "../parallel/equivalence.js";

const STEPS = 8;
const K = 3;

function scenario(parallel: object, checkpointEvery?: number, change: { model?: object; training?: object } = {}) {
  return validateScenario({
    name: "resume-test",
    model: { hiddenSize: 16, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8, ...change.model },
    // Warm-up and cosine decay, so a resumed run that lost the schedule's position would differ.
    training: { steps: STEPS, globalBatch: 6, microBatches: 1, checkpointEvery, optimizer: { lr: 1e-2, warmupSteps: 2, minLr: 1e-3 }, ...change.training },
    parallel,
  });
}

const tempDir = () => mkdtempSync(join(tmpdir(), "parasim-resume-"));

/** Runs with a checkpoint every K steps and stops as if killed once step K begins: the step-K checkpoint stays. */
async function interruptedAtK(parallel: object, change: { training?: object } = {}): Promise<string> {
  const dir = join(tempDir(), "ckpt");
  const stop = new Error("stopped on purpose");
  await expect(
    simulate(scenario(parallel, K, change), {
      save: dir,
      onStep: (s) => {
        if (s.step === K) throw stop;
      },
    }),
  ).rejects.toBe(stop);
  return dir;
}

/** An uninterrupted run, saved at the end. */
async function uninterrupted(parallel: object, change: { training?: object } = {}) {
  const dir = join(tempDir(), "ckpt");
  const result = await simulate(scenario(parallel, undefined, change), { save: dir });
  return { result, dir };
}

function bitIdentical(a: Map<string, { data: Float32Array }>, b: Map<string, { data: Float32Array }>): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [name, t] of a) expect(Buffer.from(b.get(name)!.data.buffer, b.get(name)!.data.byteOffset, b.get(name)!.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
}

describe("resumable training", () => {
  // dp 3 × pp 2 with ZeRO-1: moments sharded unevenly over three ranks, stages on two.
  const layout = { dp: 3, pp: 2, zero: 1 };

  it("a run saved at step k and resumed on the same layout gives bit-identical losses, weights and moments", async () => {
    const full = await uninterrupted(layout);
    const saved = await interruptedAtK(layout);
    const state = readTrainingState(saved);
    expect(state.step).toBe(K);
    expect(state.optimizerStep).toBe(K);
    expect(state.losses).toEqual(full.result.losses.slice(0, K));

    const end = join(tempDir(), "ckpt");
    const resumed = await simulate(scenario(layout), { resume: saved, save: end });
    expect(resumed.firstStep).toBe(K);
    expect(resumed.losses).toEqual(full.result.losses.slice(K));
    bitIdentical(readCheckpoint(full.dir).tensors, readCheckpoint(end).tensors);
    const [a, b] = [readTrainingState(full.dir), readTrainingState(end)];
    bitIdentical(a.m, b.m);
    bitIdentical(a.v, b.v);
    expect(b.losses).toEqual(full.result.losses);
  }, 120_000);

  it("fp16: the master weights and the loss scale resume too — bit-identical losses, scales, skipped steps, weights", async () => {
    // A scale that overflows at first and grows every 2 clean steps: the scaler's state at step k matters.
    const fp16 = { training: { precision: "fp16", lossScale: { initial: 2 ** 30, growthInterval: 2 } } };
    const full = await uninterrupted(layout, fp16);
    const saved = await interruptedAtK(layout, fp16);
    const state = readTrainingState(saved);
    expect(state.lossScale!.scale).toBe(full.result.lossScale![K]);
    expect(state.master).toBeDefined();
    const end = join(tempDir(), "ckpt");
    const resumed = await simulate(scenario(layout, undefined, fp16), { resume: saved, save: end });
    expect(resumed.losses).toEqual(full.result.losses.slice(K));
    expect(resumed.lossScale).toEqual(full.result.lossScale!.slice(K));
    expect(resumed.skippedSteps).toEqual(full.result.skippedSteps.filter((s) => s >= K));
    bitIdentical(readCheckpoint(full.dir).tensors, readCheckpoint(end).tensors);
    const [a, b] = [readTrainingState(full.dir), readTrainingState(end)];
    bitIdentical(a.master!, b.master!);
    bitIdentical(a.m, b.m);
    expect(b.lossScale).toEqual(a.lossScale);
  }, 120_000);

  it("a run saved on one layout resumes on another within the equivalence tolerance", async () => {
    const full = await uninterrupted(layout);
    const saved = await interruptedAtK(layout);
    const end = join(tempDir(), "ckpt");
    // tp 2 × pp 2, no ZeRO: every tensor resharded, the moments gathered from three shards split anew.
    const resumed = await simulate(scenario({ tp: 2, pp: 2 }), { resume: saved, save: end });
    // Losses: the equivalence tolerance of tests/parallel/equivalence.ts (relative 1e-4 over 10 Adam steps).
    resumed.losses.forEach((loss, i) => {
      const ref = full.result.losses[K + i];
      expect(Math.abs(loss - ref) / ref, `loss of step ${K + i}`).toBeLessThanOrEqual(1e-4);
    });
    // Weights: a gradient element differs by float32 round-off (~1e-7 relative) between layouts;
    // Adam's update m̂/√v̂ is scale-free, so it passes that relative difference on, and a step moves
    // a weight (~0.02) by at most lr = 1e-2, i.e. by ~1e-2 · 1e-7 / 0.02 = 5e-8 relative per step:
    // ~4e-7 over 8 steps; 1e-5 leaves a factor 25 for elements whose v is near eps.
    const weights = (dir: string) => new Map([...readCheckpoint(dir).tensors].map(([n, t]) => [n, t.data]));
    for (const [name, err] of relativeErrors(weights(end), weights(full.dir))) expect(err, name).toBeLessThanOrEqual(1e-5);
  }, 120_000);

  // ZeRO-3 on dp 3 × pp 2: parameters, gradients and moments all sharded unevenly, in chunks of each
  // layer; the checkpoint gathers the weights from every rank's chunks.
  const zero3 = { dp: 3, pp: 2, zero: 3 };

  it("ZeRO-3 in bf16: saved at step k and resumed on the same layout, losses, weights, master weights and moments are bit-identical", async () => {
    const bf16 = { training: { precision: "bf16" } };
    const full = await uninterrupted(zero3, bf16);
    const saved = await interruptedAtK(zero3, bf16);
    const end = join(tempDir(), "ckpt");
    const resumed = await simulate(scenario(zero3, undefined, bf16), { resume: saved, save: end });
    expect(resumed.losses).toEqual(full.result.losses.slice(K));
    bitIdentical(readCheckpoint(full.dir).tensors, readCheckpoint(end).tensors);
    const [a, b] = [readTrainingState(full.dir), readTrainingState(end)];
    bitIdentical(a.master!, b.master!);
    bitIdentical(a.m, b.m);
    bitIdentical(a.v, b.v);
  }, 120_000);

  it("ZeRO-3 saved on dp 3 × pp 2 resumes on tp 2 × dp 2 with ZeRO-2, and ZeRO-1 resumes on ZeRO-3, within the equivalence tolerance", async () => {
    const weights = (dir: string) => new Map([...readCheckpoint(dir).tensors].map(([n, t]) => [n, t.data]));
    for (const [from, to] of [[zero3, { tp: 2, dp: 2, zero: 2 }], [layout, { dp: 2, pp: 2, zero: 3 }]]) {
      const full = await uninterrupted(from);
      const saved = await interruptedAtK(from);
      const end = join(tempDir(), "ckpt");
      const resumed = await simulate(scenario(to), { resume: saved, save: end });
      // The tolerances of the layout change above, derived there.
      resumed.losses.forEach((loss, i) => expect(Math.abs(loss - full.result.losses[K + i]) / full.result.losses[K + i]).toBeLessThanOrEqual(1e-4));
      for (const [name, err] of relativeErrors(weights(end), weights(full.dir))) expect(err, name).toBeLessThanOrEqual(1e-5);
    }
  }, 240_000);

  it("refuses a folder without training state, another model, and a different data stream, naming --resume", async () => {
    const hfOnly = tempDir();
    await expect(simulate(scenario({}), { resume: hfOnly })).rejects.toThrow(/^--resume: .* holds no training state/);
    const saved = await interruptedAtK({});
    const other = scenario({}, undefined, { model: { hiddenSize: 32, intermediateSize: 64 } });
    await expect(simulate(other, { resume: saved })).rejects.toThrow(/^--resume: config.json has hidden_size = 16 but the scenario's model.hiddenSize is 32/);
    const reseeded = scenario({}, undefined, { training: { seed: 7 } });
    const longer = scenario({}, undefined, { training: { steps: STEPS + 2 } });
    await expect(simulate(longer, { resume: saved })).rejects.toThrow(/^--resume: the training state has a learning-rate schedule of steps 8 but the scenario's training.steps is 10/);
    await expect(simulate(reseeded, { resume: saved })).rejects.toThrow(/^--resume: the training state has data seed 1 but the scenario's training.seed is 7/);
    await expect(simulate(scenario({}), { resume: saved, init: saved })).rejects.toThrow(/^--resume: give --resume or --init/);
  }, 120_000);
});
