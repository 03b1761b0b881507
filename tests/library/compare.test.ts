import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compare, InputError, simulate, validateScenario, type CompareResult, type RunResult, type Scenario } from "../../src/index.js";

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

  it("simulate() refuses a --save folder it could not write before it trains", async () => {
    // 1,000,000 steps would take far longer than the test's limit: the refusal comes first.
    const endless = { ...base({}), training: { ...base({}).training, steps: 1_000_000 } };
    const file = join(mkdtempSync(join(tmpdir(), "parasim-library-")), "file.txt");
    writeFileSync(file, "a file");
    await expect(simulate(endless, { save: "/proc/x" })).rejects.toThrow("--save: cannot create /proc/x: /proc is not a writable folder (ENOENT)");
    await expect(simulate(endless, { save: file })).rejects.toThrow(InputError);
    await expect(simulate(endless, { save: file })).rejects.toThrow(`--save: ${file} is a file, not a folder`);
  });

  it("simulate() of a scenario equals its run inside compare()", async () => {
    const alone = await simulate(base({ dp: 2 }));
    const [inCompare] = (await compare([base({ dp: 2 })])).runs;
    expect(inCompare.losses).toEqual(alone.losses);
    expect(inCompare.devices).toEqual(alone.devices);
  });
});
