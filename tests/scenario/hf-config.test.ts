import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { toHfConfig } from "../../src/checkpoint/hf.js";
import { modelConfigOf } from "../../src/model/config.js";
import { buildLayout } from "../../src/model/layout.js";
import { MODEL_PRESETS } from "../../src/model/presets.js";
import { loadScenario, validateScenario } from "../../src/scenario/load.js";
import { inputErrorOf } from "./helpers.js";

const training = { steps: 1, globalBatch: 8, optimizer: { lr: 1e-4 } };

/** A fresh folder with `configs/config.json` holding `config` (a value, or raw text) and a scenario file `s.json` pointing at it. */
function scenarioWithConfig(config: unknown, model: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "parasim-hf-"));
  mkdirSync(join(dir, "configs"));
  writeFileSync(join(dir, "configs", "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  const path = join(dir, "s.json");
  writeFileSync(path, JSON.stringify({ mode: "shapes", model: { hfConfig: "configs/config.json", ...model }, training }));
  return path;
}

/** Llama 3 8B's config.json as the hub has it: LlamaConfig fields parasim reads and some it ignores. */
const llama3 = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: "silu",
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 8192,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};

const failure = (path: string): string => inputErrorOf(() => loadScenario(path));

describe("model.hfConfig", () => {
  it("round-trips a config parasim writes, resolved against the scenario's folder", () => {
    const config = { ...MODEL_PRESETS["llama-2-13b"] };
    const s = loadScenario(scenarioWithConfig(toHfConfig(config)));
    expect(s.model).toEqual({ ...config, initStd: 0.02, attention: "naive", attentionPattern: { kind: "causal" }, dropout: 0 });
  });

  it("reads the hub's file for Llama 3 8B as the preset", () => {
    const s = loadScenario(scenarioWithConfig(llama3));
    expect(s.model).toEqual({ ...MODEL_PRESETS["llama-3-8b"], initStd: 0.02, attention: "naive", attentionPattern: { kind: "causal" }, dropout: 0 });
  });

  it("lets fields written beside the file override it", () => {
    const s = loadScenario(scenarioWithConfig(llama3, { seqLen: 1024, numLayers: 2 }));
    expect(s.model.seqLen).toBe(1024);
    expect(s.model.numLayers).toBe(2);
    expect(s.model.hiddenSize).toBe(4096);
  });

  it("takes an absolute path from a library caller", () => {
    const dir = mkdtempSync(join(tmpdir(), "parasim-hf-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify(llama3));
    const s = validateScenario({ mode: "shapes", model: { hfConfig: join(dir, "config.json") }, training }, "/nonexistent");
    expect(s.model.vocabSize).toBe(128256);
  });

  it.each([
    ["malformed JSON", "{ \"hidden_size\": 4096,", /^model\.hfConfig: .*config\.json is not valid JSON: /],
    ["a JSON value that is not an object", "[1, 2]", /^model\.hfConfig: .*config\.json must hold a JSON object$/],
    ["another model type", { ...llama3, model_type: "mistral" }, /^model\.hfConfig\.model_type: must be "llama" .*got "mistral"$/],
    ["another architecture", { ...llama3, architectures: ["MistralForCausalLM"] }, /^model\.hfConfig\.architectures: must include "LlamaForCausalLM", got \["MistralForCausalLM"\]$/],
    ["tied embeddings", { ...llama3, tie_word_embeddings: true }, /^model\.hfConfig\.tie_word_embeddings: must be false/],
    ["another activation", { ...llama3, hidden_act: "gelu" }, /^model\.hfConfig\.hidden_act: must be "silu"/],
    ["biased projections", { ...llama3, attention_bias: true }, /^model\.hfConfig\.attention_bias: must be false/],
    ["a head size parasim would derive differently", { ...llama3, head_dim: 64 }, /^model\.hfConfig\.head_dim: must equal hidden_size \/ num_attention_heads = 128/],
    ["a missing size", { ...llama3, hidden_size: undefined }, /^model\.hfConfig\.hidden_size: must be a positive integer, got undefined$/],
  ])("rejects %s with a one-line message naming the field", (_what, config, expected) => {
    const message = failure(scenarioWithConfig(config));
    expect(message).toMatch(expected);
    expect(message).not.toContain("\n");
  });

  it("rejects a missing file, naming the resolved path", () => {
    const dir = mkdtempSync(join(tmpdir(), "parasim-hf-"));
    const path = join(dir, "s.json");
    writeFileSync(path, JSON.stringify({ mode: "shapes", model: { hfConfig: "nowhere.json" }, training }));
    expect(failure(path)).toBe(`model.hfConfig: cannot read ${join(dir, "nowhere.json")}: ENOENT`);
  });

  it("rejects a path that is not a string", () => {
    expect(() => validateScenario({ mode: "shapes", model: { hfConfig: 3 }, training })).toThrow(/^model\.hfConfig: must be the path of a config\.json file$/);
  });
});

describe("model.hfConfig with a GPT-2 config.json", () => {
  /** openai-community/gpt2's config.json as the hub has it (the fields parasim reads, and some it ignores). */
  const gpt2 = {
    activation_function: "gelu_new", architectures: ["GPT2LMHeadModel"], attn_pdrop: 0.1, bos_token_id: 50256, embd_pdrop: 0.1,
    eos_token_id: 50256, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: "gpt2", n_ctx: 1024, n_embd: 768,
    n_head: 12, n_layer: 12, n_positions: 1024, resid_pdrop: 0.1, vocab_size: 50257,
  };

  it("reads it as a tied gpt with n_inner's default 4·n_embd, of GPT-2 small's 124,439,808 parameters", () => {
    const s = loadScenario(scenarioWithConfig(gpt2));
    expect(s.model).toMatchObject({ family: "gpt", tieEmbeddings: true, vocabSize: 50257, hiddenSize: 768, intermediateSize: 3072, numLayers: 12, numHeads: 12, numKvHeads: 12, seqLen: 1024, rmsNormEps: 1e-5 });
    expect(buildLayout(modelConfigOf(s)).totalSize).toBe(124_439_808);
  });
});
