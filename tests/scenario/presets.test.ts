import { describe, expect, it } from "vitest";
import { buildLayout } from "../../src/model/layout.js";
import { MODEL_PRESETS, PRESET_NAMES, type PresetName } from "../../src/model/presets.js";
import { bundledScenarioPath, loadScenario, validateScenario } from "../../src/scenario/load.js";
import { modelConfigOf } from "../../src/model/config.js";
import { inputErrorOf } from "./helpers.js";

/** A scenario around `model`, in shapes mode unless told otherwise (presets do not fit this host in real mode). */
const around = (model: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  mode: "shapes",
  model,
  training: { steps: 1, globalBatch: 8, optimizer: { lr: 1e-4 } },
  ...extra,
});

/** The one-line message validating `raw` fails with. */
const failure = (raw: unknown): string => inputErrorOf(() => validateScenario(raw));

/**
 * Parameter counts as the Hugging Face hub shows them for each model's safetensors weights
 * (Llama 2 70B is "70B" by name, 69.0 B by count; Llama 3.1 405B is 405.9 B); the GPT models by
 * the size Korthikanti et al. 2022, Table 3 names them with.
 */
const PUBLISHED: Record<PresetName, number> = {
  "llama-2-7b": 6.74e9,
  "llama-2-13b": 13.0e9,
  "llama-2-70b": 69.0e9,
  "llama-3-8b": 8.03e9,
  "llama-3-70b": 70.6e9,
  "llama-3.1-405b": 405.9e9,
  "gpt3-175b": 175e9,
  "megatron-22b": 22e9,
  "mt-nlg-530b": 530e9,
  "megatron-1t": 1e12,
};

describe("model presets", () => {
  it("names the six published Llama models and the four GPTs of Korthikanti et al. 2022", () => {
    expect(PRESET_NAMES).toEqual([
      "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "llama-3.1-405b",
      "gpt3-175b", "megatron-22b", "mt-nlg-530b", "megatron-1t",
    ]);
  });

  it.each(PRESET_NAMES)("%s validates to its published shape and parameter count (within 1 %%)", (name) => {
    const s = validateScenario(around({ preset: name }));
    expect(modelConfigOf(s)).toEqual(MODEL_PRESETS[name]);
    expect(s.model.initStd).toBe(0.02);
    const params = buildLayout(modelConfigOf(s)).totalSize;
    expect(Math.abs(params / PUBLISHED[name] - 1)).toBeLessThan(0.01);
  });

  it("counts Llama 3 70B and Llama 3.1 405B to the parameter", () => {
    // Embedding and LM head V·C each, per layer 2·C·C + 2·C·(G·D) + 3·C·F + 2·C, and the final norm C.
    expect(buildLayout(MODEL_PRESETS["llama-3-70b"]).totalSize).toBe(70_553_706_496);
    expect(buildLayout(MODEL_PRESETS["llama-3.1-405b"]).totalSize).toBe(405_853_388_800);
  });

  it("lets fields written beside the preset override it", () => {
    const s = validateScenario(around({ preset: "llama-3-70b", seqLen: 2048, initStd: 0.01 }));
    expect(s.model).toEqual({ ...MODEL_PRESETS["llama-3-70b"], seqLen: 2048, initStd: 0.01, attention: "naive", attentionPattern: { kind: "causal" }, dropout: 0 });
  });

  it("checks the overridden model like explicit fields", () => {
    expect(failure(around({ preset: "llama-3-8b", numHeads: 24 }))).toMatch(/^model\.hiddenSize: must be divisible by model\.numHeads/);
    expect(failure(around({ preset: "llama-3-8b", vocabSize: 100 }))).toMatch(/^model\.vocabSize: must be at least 256/);
    expect(failure(around({ preset: "llama-3-8b", layers: 3 }))).toBe("model.layers: unknown key");
  });

  it.each([
    ["an unknown preset", { preset: "llama-4-1t" }, "model.preset: unknown preset 'llama-4-1t' (known: llama-2-7b, llama-2-13b, llama-2-70b, llama-3-8b, llama-3-70b, llama-3.1-405b, gpt3-175b, megatron-22b, mt-nlg-530b, megatron-1t)"],
    ["a preset that is not a name", { preset: 7 }, "model.preset: must be the name of a preset (known: llama-2-7b"],
    ["a preset and a config file together", { preset: "llama-2-7b", hfConfig: "config.json" }, "model.hfConfig: cannot be combined with model.preset"],
  ])("rejects %s with a one-line message", (_what, model, expected) => {
    const message = failure(around(model));
    expect(message.startsWith(expected)).toBe(true);
    expect(message).not.toContain("\n");
  });

  it("still requires the explicit fields without a preset", () => {
    expect(failure(around({ hiddenSize: 16 }))).toBe("model.intermediateSize: is required");
  });
});

describe("scenario mode", () => {
  it("defaults to real mode; a bundled scenario gains only the new fields' defaults", () => {
    const s = loadScenario(bundledScenarioPath("default.yaml"));
    expect(s.mode).toBe("real");
    expect(Object.keys(s).sort()).toEqual(["hardware", "mode", "model", "name", "parallel", "training"]);
    expect(s.model).toEqual({ vocabSize: 256, hiddenSize: 64, intermediateSize: 176, numLayers: 4, numHeads: 4, numKvHeads: 2, seqLen: 64, ropeTheta: 10000, rmsNormEps: 1e-5, initStd: 0.02, attention: "naive", attentionPattern: { kind: "causal" }, dropout: 0 });
    expect(s.training.recompute).toBe("none");
  });

  it("accepts shapes and refuses anything else", () => {
    expect(validateScenario(around({ preset: "llama-2-7b" })).mode).toBe("shapes");
    expect(failure(around({ preset: "llama-2-7b" }, { mode: "fake" }))).toBe("mode: must be real or shapes");
  });

  it("keeps the byte vocabulary rule in shapes mode", () => {
    const model = { vocabSize: 128, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, seqLen: 8 };
    expect(failure(around(model))).toMatch(/^model\.vocabSize: must be at least 256/);
  });
});
