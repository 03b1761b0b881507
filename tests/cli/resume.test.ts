import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectBadInput, parasim, tempDir, writeTemp } from "./helpers.js";

const tiny = {
  name: "cli-resume",
  model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 12 },
  training: { steps: 4, globalBatch: 4, optimizer: { lr: 1e-2 } },
};

describe("parasim run --save / --resume (built CLI)", () => {
  it("saves the training state, and refuses a folder without state, another model, and checkpointEvery without --save", () => {
    const dir = tempDir();
    const ckpt = join(dir, "ckpt");
    const every = writeTemp("every.json", { ...tiny, training: { ...tiny.training, checkpointEvery: 2 } }, dir);
    const full = join(dir, "full.json");
    expect(parasim(["run", every, "--save", ckpt, "--json", full, "--quiet"]).status).toBe(0);
    const state = JSON.parse(readFileSync(join(ckpt, "training-state.json"), "utf8"));
    expect(state).toMatchObject({ format: "parasim-training-state", version: 1, step: 4, steps: 4, optimizerStep: 4 });

    expectBadInput(parasim(["run", every]), "training.checkpointEvery: needs a folder to write to");
    const plain = writeTemp("plain.json", tiny, dir);
    expectBadInput(parasim(["run", plain, "--resume", ckpt]), "--resume: the training state is at step 4, the end of the scenario's 4 steps");
    expectBadInput(parasim(["run", plain, "--resume", tempDir()]), "holds no training state");
    const other = writeTemp("other.json", { ...tiny, model: { ...tiny.model, numLayers: 3 } }, dir);
    const longer = writeTemp("longer.json", { ...tiny, training: { ...tiny.training, steps: 8 } }, dir);
    expectBadInput(parasim(["run", other, "--resume", ckpt]), "--resume: config.json has num_hidden_layers = 2 but the scenario's model.numLayers is 3");
    expectBadInput(parasim(["run", longer, "--resume", ckpt]), "--resume: the training state has a learning-rate schedule of steps 4");
  }, 120_000);
});
