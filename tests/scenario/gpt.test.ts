import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { simulate, validateScenario } from "../../src/index.js";
import { modelConfigOf } from "../../src/model/config.js";
import { MODEL_PRESETS } from "../../src/model/presets.js";
import { inputErrorOf } from "./helpers.js";

const gpt = (model: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  model: { family: "gpt", hiddenSize: 16, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, seqLen: 8, ...model },
  training: { steps: 1, globalBatch: 2, optimizer: { lr: 1e-3 } },
  ...extra,
});

describe("model.family and model.tieEmbeddings in a scenario", () => {
  it("accepts a gpt with tied embeddings and leaves a scenario without them as it was (llama, untied)", () => {
    const s = validateScenario(gpt({ tieEmbeddings: true }));
    expect(modelConfigOf(s)).toMatchObject({ family: "gpt", tieEmbeddings: true });
    const llama = validateScenario({ ...gpt({}), model: { hiddenSize: 16, intermediateSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, seqLen: 8 } });
    expect("family" in llama.model).toBe(false);
    expect("tieEmbeddings" in llama.model).toBe(false);
  });

  it.each([
    ["an unknown family", { family: "bert" }, "model.family: must be llama or gpt"],
    ["tieEmbeddings that is not a boolean", { tieEmbeddings: "yes" }, "model.tieEmbeddings: must be true or false"],
    ["grouped-query attention in a gpt", { numKvHeads: 2 }, "model.numKvHeads: must equal model.numHeads = 4 for model.family gpt (multi-head attention), got 2"],
  ])("refuses %s with a one-line message naming the field", (_what, model, expected) => {
    expect(inputErrorOf(() => validateScenario(gpt(model)))).toBe(expected);
  });

  it("a gpt preset's fields can be overridden like a llama preset's", () => {
    const s = validateScenario({ mode: "shapes", model: { preset: "gpt3-175b", tieEmbeddings: false, numLayers: 2 }, training: { steps: 1, globalBatch: 8, optimizer: { lr: 1e-4 } } });
    expect(modelConfigOf(s)).toEqual({ ...MODEL_PRESETS["gpt3-175b"], tieEmbeddings: false, numLayers: 2 });
  });

  it.each([
    ["a tied llama", { family: "llama", numKvHeads: 2, tieEmbeddings: true }, /^--save: llama checkpoints hold untied models only; a llama with model\.tieEmbeddings cannot be saved or loaded yet$/],
  ])("refuses to save %s before the run starts", async (_what, model, expected) => {
    const run = simulate(validateScenario(gpt(model)), { save: "/tmp/parasim-never-written" });
    await expect(run).rejects.toBeInstanceOf(InputError);
    await expect(run).rejects.toThrow(expected);
  });
});
