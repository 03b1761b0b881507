import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { drawBatch, loadCorpus, validateScenario } from "../../src/index.js";
import { parasim, tempDir, writeTemp } from "./helpers.js";

const tinyScenario = {
  name: "cli-tiny",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 3, globalBatch: 4, optimizer: { lr: 1e-2 } },
};

/** Asserts a bad-input failure: exit 2, one line on stderr naming the field, no stack trace. */
function expectBadInput(r: ReturnType<typeof parasim>, field: string): void {
  expect(r.status).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(field);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("parasim run and eval (built CLI)", () => {
  it("run --save then eval reproduces the training loss on the batch it was trained on", () => {
    const dir = tempDir();
    const scenarioPath = writeTemp("s.json", tinyScenario, dir);
    const ckpt = join(dir, "ckpt");
    const first = parasim(["run", scenarioPath, "--save", ckpt, "--quiet"]);
    expect(first.status).toBe(0);

    // A run that starts from the checkpoint reports, as its step-0 loss, the checkpoint's loss on batch 0.
    const oneStep = writeTemp("one.json", { ...tinyScenario, training: { ...tinyScenario.training, steps: 1 } }, dir);
    const resultsPath = join(dir, "r.json");
    const second = parasim(["run", oneStep, "--init", ckpt, "--json", resultsPath, "--quiet"]);
    expect(second.status).toBe(0);
    const trainingLoss = JSON.parse(readFileSync(resultsPath, "utf8")).losses[0];

    const scenario = validateScenario(tinyScenario);
    const batch = drawBatch(loadCorpus(scenario), scenario.training.seed, 0, 4, 12);
    const sequences = Array.from({ length: 4 }, (_, r) => [...batch.inputs.subarray(r * 12, r * 12 + 12), batch.targets[r * 12 + 11]]);
    const evaluated = parasim(["eval", ckpt, "--tokens", writeTemp("tokens.json", sequences, dir)]);
    expect(evaluated.status).toBe(0);
    const { loss, tokens } = JSON.parse(evaluated.stdout);
    expect(tokens).toBe(48);
    // The same kernels on the same rows: equal up to the order of a double-precision mean.
    expect(Math.abs(loss - trainingLoss) / trainingLoss).toBeLessThan(1e-12);

    expectBadInput(parasim(["eval", ckpt, "--tokens", join(dir, "none.json")]), "--tokens: cannot read");
    expectBadInput(parasim(["eval", ckpt, "--tokens", writeTemp("t2.json", { not: "a list" }, dir)]), "--tokens: must be a JSON list");
    expectBadInput(parasim(["eval", ckpt, "--tokens", writeTemp("t3.json", [[1, 2, 3], [4, 5]], dir)]), "--tokens: sequence 1 has 2 tokens; all must have 3");
    const text = parasim(["eval", ckpt, "--text", writeTemp("t.txt", "Mapilo riri leda su. ".repeat(4), dir)]);
    expect(text.status).toBe(0);
    // 84 bytes in windows of seqLen + 1 = 13: 6 windows of 12 predictions each.
    expect(JSON.parse(text.stdout).tokens).toBe(72);
  }, 120_000);

  it("writes results JSON with the documented fields", () => {
    const dir = tempDir();
    const out = join(dir, "r.json");
    const r = parasim(["run", writeTemp("s.json", tinyScenario, dir), "--json", out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("final loss");
    const json = JSON.parse(readFileSync(out, "utf8"));
    expect(Object.keys(json).sort()).toEqual(
      ["bitsPerByte", "communication", "devices", "finalLoss", "losses", "scenario", "simulated", "utilisation", "wall", "worldSize"].sort(),
    );
    expect(json.losses).toHaveLength(3);
    expect(json.scenario.training.microBatches).toBe(1); // defaults filled in
    expect(json.devices[0]).toMatchObject({ rank: 0, coords: { dp: 0, pp: 0, tp: 0 }, bytesSent: 0 });
  });

  it("rejects bad input with exit 2 and one line naming the field", () => {
    const dir = tempDir();
    expectBadInput(parasim(["run", join(dir, "missing.yaml")]), "scenario");
    expectBadInput(parasim(["run", writeTemp("bad.yaml", "model: [1, 2\n", dir)]), "not valid YAML");
    const unknown = { ...tinyScenario, model: { ...tinyScenario.model, hiddenSzie: 3 } };
    expectBadInput(parasim(["run", writeTemp("u.json", unknown, dir)]), "model.hiddenSzie: unknown key");
    const odd = { ...tinyScenario, model: { ...tinyScenario.model, hiddenSize: 18, numHeads: 2, numKvHeads: 1 } };
    expectBadInput(parasim(["run", writeTemp("o.json", odd, dir)]), "model.hiddenSize: hiddenSize / numHeads is the head dimension and must be even");
    expectBadInput(parasim(["eval", dir, "--tokens", writeTemp("t.json", [[1, 2, 3]], dir)]), "checkpoint: ");
    expectBadInput(parasim(["eval", dir]), "--tokens");
  });

  it("rejects a checkpoint whose shapes do not match the scenario", () => {
    const dir = tempDir();
    const ckpt = join(dir, "ckpt");
    expect(parasim(["run", writeTemp("s.json", tinyScenario, dir), "--save", ckpt, "--quiet"]).status).toBe(0);
    const wider = { ...tinyScenario, model: { ...tinyScenario.model, intermediateSize: 48 } };
    const r = parasim(["run", writeTemp("w.json", wider, dir), "--init", ckpt]);
    expectBadInput(r, "checkpoint: config.json has intermediate_size = 40 but the scenario's model.intermediateSize is 48");
  });
});
