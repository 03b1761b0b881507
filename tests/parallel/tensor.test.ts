import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { RunOutput } from "../../src/run/results.js";
import { expectEquivalent } from "./equivalence.js";

const STEPS = 10;
const [B_GLOBAL, M, SEQ, HIDDEN, LAYERS] = [8, 2, 8, 16, 2];

function scenario(parallel: object) {
  return validateScenario({
    name: "tp-test",
    model: { hiddenSize: HIDDEN, intermediateSize: 48, numLayers: LAYERS, numHeads: 4, numKvHeads: 4, seqLen: SEQ },
    training: { steps: STEPS, globalBatch: B_GLOBAL, microBatches: M, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel,
  });
}

const runs = new Map<string, Promise<RunOutput>>();
const run = (parallel: object): Promise<RunOutput> => {
  const key = JSON.stringify(parallel);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(parallel), { captureGradients: true }));
  return runs.get(key)!;
};

describe("tensor parallelism in training runs", () => {
  it.each([
    ["tp 2", { tp: 2 }],
    ["tp 4", { tp: 4 }],
    ["tp 2 with sequence parallelism", { tp: 2, sequenceParallel: true }],
    ["tp 4 with sequence parallelism", { tp: 4, sequenceParallel: true }],
    ["tp 2 × dp 2", { tp: 2, dp: 2 }],
  ])("%s trains like one device", async (_name, parallel) => {
    expectEquivalent(await run(parallel), await run({}));
  });

  it.each([
    [2, false],
    [4, false],
    [2, true],
    [4, true],
  ])("tp %i (sequence parallel: %s): 2 forward + 2 backward all-reduces of b·s·h per layer per micro-batch (SP: and 2 re-gathers), plus the documented embedding and loss traffic", async (n, sequenceParallel) => {
    const out = await run({ tp: n, sequenceParallel });
    const b = B_GLOBAL / M;
    const S = b * SEQ * HIDDEN * 4; // one b·s·h float32 activation
    const ring = (2 * (n - 1)) / n; // all-reduce bytes per rank, or reduce-scatter + all-gather
    // SP keeps the norm outputs' shards and all-gathers them again for the weight gradients: (n−1)/n each
    const regather = sequenceParallel ? (n - 1) / n : 0;
    const microBatches = STEPS * M;
    for (const d of out.result.devices) {
      const k = d.bytesByKind;
      expect(k["tp-act"]).toBe(microBatches * LAYERS * (4 * ring + 2 * regather) * S);
      // Embedding: one all-reduce of the vocab-parallel lookups (SP: reduce-scatter forward, all-gather backward).
      expect(k["tp-embed"]).toBe(microBatches * ring * S);
      // Head: the final norm's input gradient (SP: all-gather forward, reduce-scatter backward, and its output gathered again).
      expect(k["tp-head"]).toBe(microBatches * (ring + regather) * S);
      // Loss: an all-gather of 3 float64 statistics per token and rank; the logits never move.
      expect(k["tp-loss"]).toBe(microBatches * ((n - 1) / n) * 3 * b * SEQ * n * 8);
    }
  });

  it.each([2, 4])("tp %i: parameter bytes per rank are 1/tp of the unsharded ones apart from the norms", async (n) => {
    const single = (await run({})).result.devices[0].memory.parameters;
    const norms = (2 * LAYERS + 1) * HIDDEN * 4;
    for (const d of (await run({ tp: n })).result.devices) {
      expect(d.memory.parameters).toBe((single - norms) / n + norms);
      expect(d.memory.gradients).toBe(d.memory.parameters);
    }
  });

  it("sequence parallelism keeps less activation memory than plain tensor parallelism", async () => {
    const plain = (await run({ tp: 2 })).result.devices[0].memory.activations;
    const sp = (await run({ tp: 2, sequenceParallel: true })).result.devices[0].memory.activations;
    expect(sp).toBeLessThan(plain);
  });
});

describe("3D parallelism", () => {
  it("dp × tp × pp = 2 × 2 × 2 trains like one device, with every schedule", async () => {
    const reference = await simulateWithTimeline(scenario3d({}), { captureGradients: true });
    for (const schedule of ["1f1b", "gpipe", "zb-h1", "interleaved"]) {
      const out = await simulateWithTimeline(scenario3d({ dp: 2, tp: 2, pp: 2, schedule }), { captureGradients: true });
      expect(out.result.worldSize).toBe(8);
      expectEquivalent(out, reference);
    }
  });
});

/** Four layers and two micro-batches per replica, so the interleaved schedule fits 2 × 2 chunks. */
function scenario3d(parallel: object) {
  return validateScenario({
    name: "3d-test",
    model: { hiddenSize: HIDDEN, intermediateSize: 48, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: SEQ },
    training: { steps: STEPS, globalBatch: B_GLOBAL, microBatches: 2, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel,
  });
}
