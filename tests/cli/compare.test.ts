import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareResultSchema } from "../../src/run/results-schema.js";
import { parasim, tempDir, writeTemp } from "./helpers.js";

const tiny = {
  name: "cli-compare",
  model: { hiddenSize: 16, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 8 },
  training: { steps: 3, globalBatch: 4, microBatches: 2, optimizer: { lr: 1e-2 } },
};

function expectBadInput(r: ReturnType<typeof parasim>, text: string): void {
  expect(r.status).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain(text);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("parasim compare (built CLI)", () => {
  it("runs the cross product of --vary, skips what does not fit with the reason, and writes JSON, trace and report", () => {
    const dir = tempDir();
    const files = { json: join(dir, "c.json"), trace: join(dir, "c.trace.json"), report: join(dir, "c.html") };
    const r = parasim([
      "compare", writeTemp("s.json", tiny, dir),
      "--vary", "parallel.dp=1,2,3", "--vary", "parallel.pp=1,2", "--vary", "parallel.schedule=1f1b,gpipe",
      "--json", files.json, "--trace", files.trace, "--report", files.report,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const json = compareResultSchema.parse(JSON.parse(readFileSync(files.json, "utf8")));
    // dp ∈ {1,2} × pp ∈ {1,2} × 2 schedules = 8 runs; dp = 3 does not divide the batch of 4: 4 skipped.
    expect(json.runs).toHaveLength(8);
    expect(json.skipped).toHaveLength(4);
    for (const s of json.skipped) expect(s.reason).toContain("training.globalBatch: must be divisible by parallel.dp");
    expect(new Set(json.runs.map((run) => run.worldSize))).toEqual(new Set([1, 2, 4]));
    // Every layout trains on the same global batch, so the losses agree.
    for (const run of json.runs) {
      expect(run.metrics.lossesAgree).toBe(true);
      expect(run.layout.varied["parallel.dp"]).toBe(run.layout.dp);
      expect(run.devices).toHaveLength(run.worldSize);
    }
    expect(r.stdout).toContain("dp2·tp1·pp2 gpipe");
    expect(r.stdout).toContain("skipped:");
    // The trace is trace-event JSON: every slice has ph, ts, dur, pid, tid.
    const trace = JSON.parse(readFileSync(files.trace, "utf8"));
    const slices = trace.traceEvents.filter((e: { ph: string }) => e.ph === "X");
    expect(slices.length).toBeGreaterThan(0);
    for (const e of slices) for (const key of ["ts", "dur", "pid", "tid"]) expect(typeof e[key], key).toBe("number");
    const html = readFileSync(files.report, "utf8");
    expect(html).toMatch(/^<!DOCTYPE html>/i);
    expect(html).toContain("dp2·tp1·pp2 gpipe");
  });

  it("compares scenario files side by side", () => {
    const dir = tempDir();
    const a = writeTemp("a.json", tiny, dir);
    const b = writeTemp("b.json", { ...tiny, name: "tp", parallel: { tp: 2 } }, dir);
    const out = join(dir, "c.json");
    const r = parasim(["compare", a, b, "--json", out]);
    expect(r.status, r.stderr).toBe(0);
    const json = compareResultSchema.parse(JSON.parse(readFileSync(out, "utf8")));
    expect(json.runs.map((run) => run.layout.label)).toEqual(["dp1·tp1·pp1", "dp1·tp2·pp1"]);
    expect(json.runs[1].communication.bytesByKind["tp-act"]).toBeGreaterThan(0);
  });

  it("rejects an unknown --vary path, values of the wrong type and an unreadable scenario with exit 2", () => {
    const dir = tempDir();
    const s = writeTemp("s.json", tiny, dir);
    expectBadInput(parasim(["compare", s, "--vary", "parallel.dpp=1,2"]), '--vary: unknown scenario field "parallel.dpp"');
    expectBadInput(parasim(["compare", s, "--vary", "parallel.dp=1,two"]), "--vary: parallel.dp=two: must be a positive integer");
    expectBadInput(parasim(["compare", s, "--vary", "parallel.sequenceParallel=maybe"]), "--vary: parallel.sequenceParallel=maybe: must be true or false");
    expectBadInput(parasim(["compare", s, "--vary", "parallel.dp"]), "--vary: must look like path=value1,value2");
    expectBadInput(parasim(["compare", join(dir, "missing.yaml")]), "scenario: cannot read");
  });
});

describe("parasim schedule (built CLI)", () => {
  it("prints the grid and the bubble per rank, and JSON in the documented shape", () => {
    const text = parasim(["schedule", "--kind", "1f1b", "--pp", "4", "--microbatches", "8"]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain("rank 3:");
    expect(text.stdout).toContain("makespan");
    const r = parasim(["schedule", "--kind", "gpipe", "--pp", "4", "--microbatches", "8", "--costs", "F=1,B=2,W=0", "--json"]);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(Object.keys(json).sort()).toEqual(["makespan", "ranks"]);
    // GPipe, F = 1, B = 2: bubble (p−1)/(m+p−1) = 3/11 on every rank.
    for (const rank of json.ranks) expect(rank.bubbleFraction).toBeCloseTo(3 / 11, 12);
  });

  it("rejects an unknown kind and a malformed count with exit 2", () => {
    expectBadInput(parasim(["schedule", "--kind", "2f2b", "--pp", "2", "--microbatches", "2"]), "must be one of gpipe, 1f1b, interleaved, zb-h1");
    expectBadInput(parasim(["schedule", "--kind", "1f1b", "--pp", "0", "--microbatches", "2"]), "--pp: must be a positive integer");
  });
});
