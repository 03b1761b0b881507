/**
 * The stated limits at their edges: a scenario exactly at a limit validates, one past it is
 * refused naming the field. Shapes mode is used where the edge would otherwise allocate.
 */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/limits.js";
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

  it("--vary: a product up to 10,000 layouts", () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const raw = base("shapes", {}, {});
    expect(expandVariations(raw, ".", [{ path: "training.seed", values: values(10) }], 16).runs).toHaveLength(10);
    const over = [{ path: "training.seed", values: values(101) }, { path: "training.steps", values: values(100) }];
    expect(inputErrorOf(() => expandVariations(raw, ".", over, 16))).toBe("--vary: expands to 10,100 layouts (the product of the value counts); at most 10,000");
  });
});
