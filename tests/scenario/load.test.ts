import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundledScenarioPath, loadScenario, validateScenario } from "../../src/scenario/load.js";
import { inputErrorOf } from "./helpers.js";

const base = () => ({
  model: { hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, seqLen: 8 },
  training: { steps: 2, globalBatch: 2, optimizer: { lr: 1e-3 } },
});

/** Validates `mutate(base())` and returns the one-line message it fails with. */
function failure(mutate: (s: any) => void): string {
  const s: any = base();
  mutate(s);
  return inputErrorOf(() => validateScenario(s));
}

describe("scenario validation", () => {
  it("fills defaults", () => {
    const s = validateScenario(base());
    expect(s.model.vocabSize).toBe(256);
    expect(s.training.microBatches).toBe(1);
    expect(s.parallel).toEqual({ dp: 1, tp: 1, pp: 1, bucketBytes: 65536, overlapGradReduce: true, schedule: "1f1b", virtualStages: 1, sequenceParallel: false, zero: 0 });
    expect(s.training.data).toEqual({ source: "synthetic" });
    expect(s.hardware.peakFlops).toBeGreaterThan(0);
  });

  it("loads the bundled default scenario", () => {
    const s = loadScenario(bundledScenarioPath("default.yaml"));
    expect(s.name).toBe("tiny");
    expect(s.model.hiddenSize).toBe(64);
  });

  it.each([
    ["unknown keys", (s: any) => (s.model.hiddenSzie = 3), "model.hiddenSzie: unknown key"],
    ["unknown top-level keys", (s: any) => (s.extra = 1), "extra: unknown key"],
    ["non-integer sizes", (s: any) => (s.model.numLayers = 1.5), "model.numLayers: must be a positive integer"],
    ["non-positive sizes", (s: any) => (s.model.seqLen = 0), "model.seqLen: must be a positive integer"],
    ["missing fields", (s: any) => delete s.model.numHeads, "model.numHeads: is required"],
    ["hidden not divisible by heads", (s: any) => (s.model.numHeads = 3), "model.hiddenSize: must be divisible by model.numHeads"],
    ["heads not divisible by kv heads", (s: any) => ((s.model.numHeads = 4), (s.model.numKvHeads = 3)), "model.numHeads: must be divisible by model.numKvHeads"],
    ["odd head dimension", (s: any) => ((s.model.hiddenSize = 18), (s.model.numHeads = 2)), "head dimension and must be even"],
    ["a vocabulary smaller than the bytes", (s: any) => (s.model.vocabSize = 100), "model.vocabSize: must be at least 256"],
    ["micro-batches that do not divide the batch", (s: any) => (s.training.microBatches = 3), "training.microBatches: must divide"],
    ["a missing data file", (s: any) => (s.training.data = { source: "text", path: "/nonexistent/corpus.txt" }), "training.data.path: file not found"],
    ["dp that does not divide the global batch", (s: any) => (s.parallel = { dp: 3 }), "training.globalBatch: must be divisible by parallel.dp"],
    ["a non-positive bucket size", (s: any) => (s.parallel = { bucketBytes: 0 }), "parallel.bucketBytes: must be a positive integer"],
    ["an unknown ZeRO stage", (s: any) => (s.parallel = { zero: 4 }), "parallel.zero: must be 0, 1, 2 or 3"],
    ["a fractional ZeRO stage", (s: any) => (s.parallel = { zero: 2.5 }), "parallel.zero: must be 0, 1, 2 or 3"],
    ["tp that does not divide the heads", (s: any) => (s.parallel = { tp: 3 }), "parallel.tp: must divide model."],
    ["tp that does not divide the intermediate size", (s: any) => ((s.model.intermediateSize = 30), (s.parallel = { tp: 4 }), (s.model.numHeads = 4), (s.model.numKvHeads = 4)), "parallel.tp: must divide model.intermediateSize"],
    ["tp that does not divide the vocabulary", (s: any) => ((s.model.vocabSize = 258), (s.parallel = { tp: 4 }), (s.model.numHeads = 4), (s.model.numKvHeads = 4)), "parallel.tp: must divide model.vocabSize"],
    ["tp above the kv heads", (s: any) => (s.parallel = { tp: 2 }), "parallel.tp: must divide model.numKvHeads"],
    ["pp larger than the layers", (s: any) => (s.parallel = { pp: 2 }), "parallel.pp: pp × virtualStages = 2 stages must not exceed model.numLayers = 1"],
    ["virtual stages that do not divide the layers per rank", (s: any) => ((s.model.numLayers = 6), (s.parallel = { pp: 2, schedule: "interleaved", virtualStages: 2 }), (s.training.microBatches = 2)), "parallel.virtualStages: must divide the layers per rank"],
    ["pp that does not divide the layers with interleaving", (s: any) => ((s.model.numLayers = 6), (s.parallel = { pp: 4, schedule: "interleaved", virtualStages: 2 }), (s.training.microBatches = 2)), "parallel.pp: must divide model.numLayers = 6 for the interleaved schedule, got 4"],
    ["interleaving with micro-batches not a multiple of pp", (s: any) => ((s.model.numLayers = 4), (s.parallel = { pp: 2, schedule: "interleaved" }), (s.training.microBatches = 1)), "training.microBatches: must be a multiple of parallel.pp"],
    ["an unknown schedule kind", (s: any) => (s.parallel = { schedule: "1f2b" }), "parallel.schedule: must be one of gpipe, 1f1b, interleaved, zb-h1"],
    ["an unknown way of moving pipeline messages", (s: any) => (s.parallel = { p2p: "async" }), "parallel.p2p: must be overlapped or blocking"],
    ["a scatter/gather that is not a boolean", (s: any) => (s.parallel = { pipelineScatterGather: "yes" }), "parallel.pipelineScatterGather: must be true or false"],
    ["layers per stage that do not add up", (s: any) => ((s.model.numLayers = 4), (s.parallel = { pp: 2, layersPerStage: [1, 2] })), "parallel.layersPerStage: must add up to model.numLayers = 4"],
    ["sequence parallelism on tokens tp does not divide", (s: any) => ((s.model.numHeads = 4), (s.model.numKvHeads = 4), (s.model.seqLen = 3), (s.training.globalBatch = 1), (s.parallel = { tp: 2, sequenceParallel: true })), "parallel.sequenceParallel: needs parallel.tp = 2 to divide"],
    ["a wrong type", (s: any) => (s.training.optimizer.lr = "fast"), "training.optimizer.lr: must be a positive number"],
  ])("rejects %s with a one-line message", (_what, mutate, expected) => {
    const message = failure(mutate);
    expect(message).toContain(expected);
    expect(message).not.toContain("\n");
  });

  it("rejects malformed YAML naming the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "parasim-"));
    const path = join(dir, "bad.yaml");
    writeFileSync(path, "model: { hiddenSize: 16\ntraining: [");
    expect(() => loadScenario(path)).toThrow(/scenario: .*bad\.yaml is not valid YAML/);
  });

  it("resolves a relative data path against the scenario's folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "parasim-"));
    writeFileSync(join(dir, "corpus.txt"), "hello world ".repeat(20));
    const s = { ...base(), training: { ...base().training, data: { source: "text", path: "corpus.txt" } } };
    writeFileSync(join(dir, "s.json"), JSON.stringify(s));
    const loaded = loadScenario(join(dir, "s.json"));
    expect(loaded.training.data).toEqual({ source: "text", path: join(dir, "corpus.txt") });
  });
});
