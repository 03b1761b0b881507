import { describe, expect, it } from "vitest";
import { compare, simulate, validateScenario, type CompareResult, type RunResult, type Scenario } from "../../src/index.js";

const base = (parallel: object): Scenario =>
  validateScenario({
    name: "library",
    model: { hiddenSize: 16, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 8 },
    training: { steps: 2, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2 } },
    parallel,
  });

describe("library API", () => {
  it("compare() returns typed results for every layout, in order", async () => {
    const result: CompareResult = await compare([base({}), base({ dp: 2 }), base({ pp: 2, schedule: "gpipe" })]);
    expect(result.runs.map((r) => r.worldSize)).toEqual([1, 2, 2]);
    expect(result.runs.map((r) => r.layout.label)).toEqual(["dp1·tp1·pp1", "dp2·tp1·pp1", "dp1·tp1·pp2 gpipe"]);
    const dp: RunResult = result.runs[1];
    expect(dp.communication.bytesByKind["dp-grad"]).toBeGreaterThan(0);
    expect(result.runs[2].metrics.bubbleFraction).toBeGreaterThan(0);
    expect(result.runs[0].metrics.mfu).toBeGreaterThan(0);
    expect(result.runs.every((r) => r.metrics.lossesAgree === true)).toBe(true);
    expect(result.skipped).toEqual([]);
  });

  it("simulate() of a scenario equals its run inside compare()", async () => {
    const alone = await simulate(base({ dp: 2 }));
    const [inCompare] = (await compare([base({ dp: 2 })])).runs;
    expect(inCompare.losses).toEqual(alone.losses);
    expect(inCompare.devices).toEqual(alone.devices);
  });
});
