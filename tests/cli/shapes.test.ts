import { describe, expect, it } from "vitest";
import { parasim, writeTemp } from "./helpers.js";

const scenario = (parallel: string, extra = "", globalBatch = 64) =>
  writeTemp(
    "s.yaml",
    `mode: shapes\nmodel: { preset: llama-3-8b, seqLen: 2048 }\ntraining: { steps: 1, globalBatch: ${globalBatch}, optimizer: { lr: 1.0e-4 } }\nparallel: ${parallel}\nhardware: { profile: h100-80gb${extra} }\n`,
  );

function expectOneLine(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.status).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("parasim run in shapes mode (built CLI)", () => {
  it("runs a preset on 1,024 devices with one row per pipeline stage, human units, and no losses", () => {
    const r = parasim(["run", scenario("{ dp: 32, tp: 8, pp: 4 }")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("1024 device(s), dp 32 × tp 8 × pp 4");
    expect(r.stdout).toContain("shapes only, no losses");
    expect(r.stdout.match(/stage \d · 256 ranks/g)).toHaveLength(4);
    expect(r.stdout).not.toMatch(/\de[+-]\d/);
    const perRank = parasim(["run", scenario("{ dp: 2, tp: 8, pp: 2 }"), "--per-rank"]);
    expect(perRank.status, perRank.stderr).toBe(0);
    // 32 ranks, one row each, their own coordinates.
    expect(perRank.stdout.split("\n").filter((l) => /^\s*\d+\s/.test(l))).toHaveLength(32);
  });

  it("refuses a world above its limit, naming the limit", () => {
    expectOneLine(parasim(["run", scenario("{ dp: 4096, tp: 8, pp: 4 }", "", 4096)]), /^parasim: parallel: dp·tp·pp = 131072 ranks; shapes mode simulates at most 65536$/);
  });

  it("refuses a layout that would need more workers than it starts", () => {
    // Stages of 3 ranks on nodes of 4: a stage's ranks reach their pipeline neighbours over
    // different links, so none stands for another and every one of the 90 ranks needs a worker.
    expectOneLine(parasim(["run", scenario("{ dp: 3, pp: 30 }", ", devicesPerNode: 4", 96)]), /^parasim: parallel: .* every one of its 90 ranks is simulated; shapes mode starts at most 64 workers$/);
  });

  it("has no weights to save or start from", () => {
    expectOneLine(parasim(["run", scenario("{ tp: 8 }"), "--save", "/tmp/never"]), /^parasim: --save: a shapes-only run has no weights to save/);
  });

  it("--shapes runs a scenario written for real mode without numbers", () => {
    const real = writeTemp("r.yaml", "model: { preset: llama-3-70b, seqLen: 4096 }\ntraining: { steps: 1, globalBatch: 8, optimizer: { lr: 1.0e-4 } }\nparallel: { tp: 8 }\n");
    expect(parasim(["run", real, "--quiet"]).status).toBe(2); // real mode: far too large for this host
    const r = parasim(["run", real, "--quiet", "--shapes"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/shapes only, no losses/);
  });
});
