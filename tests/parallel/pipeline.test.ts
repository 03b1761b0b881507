import { describe, expect, it } from "vitest";
import { simulateWithTimeline, validateScenario } from "../../src/index.js";
import type { RunOutput } from "../../src/run/results.js";
import { expectEquivalent } from "./equivalence.js";

const STEPS = 10;
const GLOBAL_BATCH = 8;
const SEQ = 8;
const HIDDEN = 16;

/** 8 layers, so 2 and 4 pipeline ranks with 2 chunks each still get whole layers. */
function scenario(m: number, parallel: object, hardware: object = {}) {
  return validateScenario({
    name: "pp-test",
    model: { hiddenSize: HIDDEN, intermediateSize: 48, numLayers: 8, numHeads: 4, numKvHeads: 2, seqLen: SEQ },
    training: { steps: STEPS, globalBatch: GLOBAL_BATCH, microBatches: m, optimizer: { lr: 1e-2, warmupSteps: 2 } },
    parallel,
    hardware,
  });
}

const runs = new Map<string, Promise<RunOutput>>();
/** Each layout is simulated once and shared by the tests that look at it (worker start-up dominates). */
const run = (m: number, parallel: object, hardware: object = {}): Promise<RunOutput> => {
  const key = JSON.stringify([m, parallel, hardware]);
  if (!runs.has(key)) runs.set(key, simulateWithTimeline(scenario(m, parallel, hardware), { captureGradients: true }));
  return runs.get(key)!;
};

const cases: [string, number, number][] = [];
for (const kind of ["gpipe", "1f1b", "zb-h1", "interleaved"]) {
  for (const p of [2, 4]) {
    for (const m of [1, 4, 8]) if (kind !== "interleaved" || m % p === 0) cases.push([kind, p, m]);
  }
}

describe("pipeline parallelism", () => {
  it.each(cases)("%s with pp %i and %i micro-batches trains like one device", async (schedule, pp, m) => {
    const out = await run(m, { pp, schedule });
    expectEquivalent(out, await run(m, {}));
    // Only the last stage computes the loss; every stage reports its share of the step's time.
    expect(out.result.devices).toHaveLength(pp);
  });

  it.each([2, 4])("interleaved on one pipeline rank (pp 1, %i micro-batches) hands each chunk's output to the next chunk locally and trains like one device", async (m) => {
    const out = await run(m, { pp: 1, schedule: "interleaved", virtualStages: 2 });
    expectEquivalent(out, await run(m, {}));
    // No message: the chunks share the rank.
    expect(out.result.devices[0].bytesByKind["pp-act"] ?? 0).toBe(0);
  });

  it.each([2, 4])("1F1B holds min(p − r, m) micro-batches on rank r and GPipe holds m (pp %i)", async (pp) => {
    for (const m of [1, 4, 8]) {
      const oneF = await run(m, { pp, schedule: "1f1b" });
      oneF.result.devices.forEach((d, r) => expect(d.peakStashed, `1F1B rank ${r}, m ${m}`).toBe(Math.min(pp - r, m)));
      const gpipe = await run(m, { pp, schedule: "gpipe" });
      gpipe.result.devices.forEach((d, r) => expect(d.peakStashed, `GPipe rank ${r}, m ${m}`).toBe(m));
      // Activation memory follows the stash: GPipe allocates m sets where 1F1B on rank 0 allocates min(p, m).
      expect(gpipe.result.devices[0].memory.activations).toBeGreaterThanOrEqual(oneF.result.devices[0].memory.activations);
    }
  });

  it.each([
    ["1f1b", 4, 1],
    ["1f1b", 4, 4],
    ["interleaved", 2, 4],
  ])("%s pp %i m %i: pp-act + pp-grad per step per stage boundary = 2·m·b·s·h·4 (per chunk boundary when interleaved)", async (schedule, pp, m) => {
    const out = await run(m, { pp, schedule });
    const b = GLOBAL_BATCH / m;
    const v = out.result.scenario.parallel.virtualStages;
    // Stage boundaries: p·v − 1 between consecutive stages; each carries b·s·h floats per micro-batch each way.
    const boundaries = pp * v - 1;
    const perBoundary = 2 * m * b * SEQ * HIDDEN * 4;
    const kinds = out.result.communication.bytesByKind;
    expect((kinds["pp-act"] + kinds["pp-grad"]) / STEPS).toBe(boundaries * perBoundary);
    expect(kinds["pp-act"]).toBe(kinds["pp-grad"]);
  });

  it("the idle time each rank reports equals the idle time on its simulated timeline", async () => {
    const out = await run(4, { pp: 4, schedule: "1f1b" }, { profile: "unit" });
    const makespans = out.result.devices.map((d) => {
      const idle = out.timeline.filter((e) => e.rank === d.rank && e.stream === "compute" && e.kind === "idle").reduce((s, e) => s + (e.end - e.start), 0);
      expect(idle).toBeGreaterThan(0);
      // The same intervals summed in the same order: equal up to double round-off.
      expect(Math.abs(d.idleSeconds - idle) / idle).toBeLessThan(1e-12);
      // With free links all waiting is idle.
      expect(d.commSeconds).toBe(0);
      // The clock keeps compute + comm + idle = makespan for every device.
      expect(d.makespanSeconds).toBeCloseTo(d.computeSeconds + d.commSeconds + d.idleSeconds, 6);
      return d.makespanSeconds;
    });
    expect(Math.max(...makespans)).toBe(out.result.simulated.stepSeconds * STEPS);
  });
});

describe("pipeline messages larger than a channel", () => {
  it.each(["1f1b", "zb-h1", "interleaved"])("%s with 32 KiB activations through 4 KiB channels neither deadlocks nor changes the result", async (schedule) => {
    // 4 rows × 8 tokens × hidden 256 × 4 bytes = 32 KiB per micro-batch, eight times the channel.
    const s = validateScenario({
      name: "big-messages",
      model: { hiddenSize: 256, intermediateSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 8 },
      training: { steps: 2, globalBatch: 8, microBatches: 2, optimizer: { lr: 1e-3 } },
      parallel: { pp: 2, schedule },
    });
    const small = await simulateWithTimeline(s, { channelBytes: 4096, captureGradients: true });
    const roomy = await simulateWithTimeline(s, { captureGradients: true });
    expect(small.result.losses).toEqual(roomy.result.losses);
    expect(small.result.devices).toEqual(roomy.result.devices);
  });
});
