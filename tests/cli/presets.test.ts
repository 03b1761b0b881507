import { describe, expect, it } from "vitest";
import { parasim, writeTemp } from "./helpers.js";

describe("parasim run with a model preset (built CLI)", () => {
  it("refuses Llama 3.1 405B in real mode: exit 2, one line naming model.preset, no stack", () => {
    const scenario = writeTemp("s.yaml", "model: { preset: llama-3.1-405b }\ntraining: { steps: 1, globalBatch: 8, optimizer: { lr: 1.0e-4 } }\n");
    const r = parasim(["run", scenario, "--quiet"]);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^parasim: model\.preset: needs about .* of host memory in real mode .* — use mode: shapes$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });
});
