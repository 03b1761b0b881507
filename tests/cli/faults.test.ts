import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runResultSchema } from "../../src/index.js";
import { expectBadInput, parasim, tempDir, writeTemp } from "./helpers.js";

const scenario = (faults: object, training: object = {}) => ({
  name: "cli-faults",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 10, globalBatch: 4, optimizer: { lr: 1e-2 }, ...training },
  parallel: { dp: 2 },
  faults,
});

describe("parasim run with faults (built CLI)", () => {
  it("a crash exits 1 naming the rank and the step; --resume from the last checkpoint completes the run", () => {
    const dir = tempDir();
    const path = writeTemp("crash.json", scenario({ crash: { rank: 1, step: 7 } }, { checkpointEvery: 5 }), dir);
    const ckpt = join(dir, "ckpt");
    const crashed = parasim(["run", path, "--save", ckpt, "--quiet"]);
    expect(crashed.status).toBe(1);
    expect(crashed.stderr.trim().split("\n")).toHaveLength(1);
    expect(crashed.stderr).toContain("rank 1 failed during step 7: injected crash (faults.crash)");
    expect(crashed.stderr).toContain(`the last checkpoint, of step 5, is in ${ckpt}`);
    const out = join(dir, "r.json");
    const resumed = parasim(["run", path, "--resume", ckpt, "--save", ckpt, "--json", out]);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toContain("resumed at step 5 of 10");
    const json = runResultSchema.parse(JSON.parse(readFileSync(out, "utf8")));
    expect(json.firstStep).toBe(5);
    expect(json.losses).toHaveLength(5);
  }, 120_000);

  it("reports what a straggler costs in the text report and the JSON", () => {
    const dir = tempDir();
    const out = join(dir, "r.json");
    const r = parasim(["run", writeTemp("slow.json", scenario({ slowDevice: { rank: 1, factor: 2 } }, { steps: 2 }), dir), "--json", out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/faults: rank 1 computes 2× slower\nsimulated step .* without the faults \(\+/);
    const json = runResultSchema.parse(JSON.parse(readFileSync(out, "utf8")));
    expect(json.faults!.devices[0].idleSecondsAdded).toBeGreaterThan(0);
    expect(json.faults!.stepSecondsAdded).toBeGreaterThan(0);
  }, 120_000);

  it("refuses faults out of range and factors ≤ 0 with exit 2 and one line each", () => {
    const dir = tempDir();
    const bad = (faults: object, text: string) => expectBadInput(parasim(["run", writeTemp("bad.json", scenario(faults), dir)]), text);
    bad({ slowDevice: { rank: 2, factor: 2 } }, "faults.slowDevice.0.rank: must be a rank of the run, 0 to 1");
    bad({ slowDevice: [{ rank: 0, factor: 0 }] }, "faults.slowDevice.0.factor: must be a number > 0");
    bad({ slowLink: { ranks: [0, 5], factor: 2 } }, "faults.slowLink.0.ranks.1: must be a rank of the run");
    bad({ slowLink: { node: 1, factor: 2 } }, "faults.slowLink.0.node: must be a node of the run, 0 to 0");
    bad({ slowLink: { node: 0, factor: -1 } }, "faults.slowLink.0.factor: must be a number > 0");
    bad({ slowLink: { node: 0, ranks: [1], factor: 2 } }, "faults.slowLink.0: must name either ranks: [R, ...] or node: N, not both");
    bad({ crash: { rank: 3, step: 1 } }, "faults.crash.rank: must be a rank of the run");
    bad({ crash: { rank: 1, step: 10 } }, "faults.crash.step: must be a step of the run, 0 to 9 (training.steps = 10), got 10");
    bad({ crash: [{ rank: 1, step: 1 }] }, "faults.crash: must be one { rank: R, step: S }");
  }, 120_000);
});
