/**
 * The stated limits at their edges: a scenario exactly at a limit validates, one past it is
 * refused naming the field. Shapes mode is used where the edge would otherwise allocate.
 */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/limits.js";
import { modelConfigOf } from "../../src/model/config.js";
import { modelFlopsPerToken } from "../../src/run/utilisation.js";
import { expandVariations } from "../../src/run/vary.js";
import { checkRealModeBuffers } from "../../src/scenario/limits.js";
import { validateScenario } from "../../src/scenario/load.js";
import { scheduleCommandOutput } from "../../src/schedule/report.js";
import { inputErrorOf } from "./helpers.js";

const base = (mode: string, model: object, training: object, parallel: object = {}) => ({
  mode,
  model: { vocabSize: 256, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 16, ...model },
  training: { steps: 1, globalBatch: 8, microBatches: 1, optimizer: { lr: 1e-3 }, ...training },
  parallel,
});

describe("stated limits", () => {
  it("a step's tokens: globalBatch·seqLen up to 2^31 − 1", () => {
    expect(LIMITS.typedArrayElements).toBe(2 ** 31 - 1);
    expect(validateScenario(base("shapes", { seqLen: 1 }, { globalBatch: 2 ** 31 - 1 })).training.globalBatch).toBe(2 ** 31 - 1);
    expect(inputErrorOf(() => validateScenario(base("shapes", { seqLen: 2 }, { globalBatch: 2 ** 30 })))).toBe(
      "training.globalBatch: globalBatch·seqLen = 2,147,483,648 tokens per step; a step's tokens are held in one typed array of at most 2,147,483,647 elements",
    );
  });

  it("schedule cells: pp·microBatches·virtualStages up to 100,000", () => {
    const at = validateScenario(base("shapes", {}, { globalBatch: 100_000, microBatches: 50_000 }, { pp: 2 }));
    expect(at.training.microBatches).toBe(50_000);
    expect(inputErrorOf(() => validateScenario(base("shapes", {}, { globalBatch: 100_001, microBatches: 100_001 })))).toBe(
      "training.microBatches: pp·microBatches·virtualStages = 100,001 schedule cells; parasim schedules at most 100,000",
    );
  });

  it("layers: up to 1024", () => {
    expect(validateScenario(base("shapes", { numLayers: 1024 }, {})).model.numLayers).toBe(1024);
    expect(inputErrorOf(() => validateScenario(base("shapes", { numLayers: 1025 }, {})))).toBe("model.numLayers: must be at most 1024, parasim's limit on layers");
  });

  it("real-mode devices: up to 64; shapes mode is not bound by it here", () => {
    expect(validateScenario(base("real", {}, { globalBatch: 64 }, { dp: 64 })).parallel.dp).toBe(64);
    expect(inputErrorOf(() => validateScenario(base("real", {}, { globalBatch: 128 }, { dp: 128 })))).toBe(
      "parallel: dp·tp·pp = 128 devices; real mode starts a worker per device, at most 64 — use mode: shapes",
    );
    expect(validateScenario(base("shapes", {}, { globalBatch: 128 }, { dp: 128 })).parallel.dp).toBe(128);
  });

  it("real-mode buffers: attention probabilities B·H·T·T within one typed array", () => {
    // B = 1, H = 4, T = 32768: 4·2^30 elements. Validated in shapes mode, then checked as real mode (the host check is separate).
    const s = validateScenario(base("shapes", { seqLen: 32768 }, { globalBatch: 1 }));
    expect(inputErrorOf(() => checkRealModeBuffers({ ...s, mode: "real" }))).toBe(
      "model.seqLen: real mode needs a buffer of 4,294,967,296 elements (attention probabilities B·H·T·T of one micro-batch on one tp rank); a typed array holds at most 2,147,483,647 — use mode: shapes",
    );
    const fits = validateScenario(base("shapes", { seqLen: 16384 }, { globalBatch: 1 }));
    expect(() => checkRealModeBuffers({ ...fits, mode: "real" })).not.toThrow();
  });

  it("the schedule command: pp·microbatches·virtual up to 10,000, naming the largest option", () => {
    expect(scheduleCommandOutput({ kind: "gpipe", p: 1, m: 10_000, json: true })).toContain("makespan");
    expect(inputErrorOf(() => scheduleCommandOutput({ kind: "gpipe", p: 1, m: 10_001 }))).toBe(
      "--microbatches: --pp·--microbatches·--virtual = 10,001 schedule cells; parasim schedule draws at most 10,000",
    );
    expect(inputErrorOf(() => scheduleCommandOutput({ kind: "gpipe", p: 10_001, m: 1 })).startsWith("--pp: ")).toBe(true);
  });

  it("layer passes: steps·microBatches·numLayers, times dp·tp in real mode, up to 2,000,000", () => {
    expect(LIMITS.layerPasses).toBe(2_000_000);
    // 2 layers, 1 micro-batch: 1,000,000 steps are exactly the limit.
    expect(validateScenario(base("shapes", {}, { steps: 1_000_000 })).training.steps).toBe(1_000_000);
    expect(inputErrorOf(() => validateScenario(base("shapes", {}, { steps: 1_000_001 })))).toBe(
      "training.steps: 1,000,001 steps × 2 layer passes (microBatches·numLayers) = 2,000,002; a run does at most 2,000,000 (about half an hour of host time) — simulate fewer steps",
    );
    // Real mode, dp 4 × tp 2: each of the 8 ranks is a worker doing its own pass, 16 per step.
    expect(validateScenario(base("real", {}, { steps: 125_000 }, { dp: 4, tp: 2 })).training.steps).toBe(125_000);
    expect(inputErrorOf(() => validateScenario(base("real", {}, { steps: 125_001 }, { dp: 4, tp: 2 })))).toBe(
      "training.steps: 125,001 steps × 16 layer passes (microBatches·numLayers·dp·tp) = 2,000,016; a run does at most 2,000,000 (about half an hour of host time) — simulate fewer steps",
    );
    // One step alone past the limit (50,000 micro-batches of 64 layers): the per-step field is named.
    expect(inputErrorOf(() => validateScenario(base("shapes", { numLayers: 64 }, { globalBatch: 50_000, microBatches: 50_000 })))).toMatch(/^training\.microBatches: 1 steps × 3,200,000 layer passes/);
  });

  it("real-mode arithmetic: the run's model FLOPs up to 10^13", () => {
    expect(LIMITS.realModeFlops).toBe(1e13);
    const perStep = modelFlopsPerToken(modelConfigOf(validateScenario(base("real", {}, {})))) * 8 * 16;
    const steps = Math.floor(LIMITS.realModeFlops / perStep);
    // The arithmetic binds before the layer passes do: steps·2 passes stay under 2,000,000.
    expect(steps * 2).toBeLessThan(LIMITS.layerPasses);
    expect(validateScenario(base("real", {}, { steps })).training.steps).toBe(steps);
    expect(inputErrorOf(() => validateScenario(base("real", {}, { steps: steps + 1 })))).toMatch(
      new RegExp(`^training\\.steps: ${(steps + 1).toLocaleString("en-US")} steps × [\\d.]+ MFLOP = 10\\.0 TFLOP of real arithmetic; real mode computes at most 10\\.0 TFLOP in a run`),
    );
    // Shapes mode computes nothing: the same run is accepted.
    expect(validateScenario(base("shapes", {}, { steps: steps + 1 })).training.steps).toBe(steps + 1);
  });

  it("--vary: a product up to 10,000 layouts", () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const raw = base("shapes", {}, {});
    expect(expandVariations(raw, ".", [{ path: "training.seed", values: values(10) }], 16).runs).toHaveLength(10);
    const over = [{ path: "training.seed", values: values(101) }, { path: "training.steps", values: values(100) }];
    expect(inputErrorOf(() => expandVariations(raw, ".", over, 16))).toBe("--vary: expands to 10,100 layouts (the product of the value counts); at most 10,000");
  });
});
