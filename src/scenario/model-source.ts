/**
 * Where a scenario's model comes from: its explicit fields, a published preset
 * (`model: { preset: llama-3-70b }`), or a Hugging Face LlamaConfig or GPT2Config file
 * (`model: { hfConfig: config.json }`). A preset or a file supplies every ModelConfig field;
 * fields written beside it override them (`model: { preset: llama-3-70b, seqLen: 8192 }`).
 * The result is the model section as if the user had written every field, so the schema
 * validates it exactly as it validates explicit fields.
 */
import { readInputFile } from "../util/inputs.js";
import { isAbsolute, resolve } from "node:path";
import { fromGpt2Config, isGpt2Config } from "../checkpoint/gpt2.js";
import { fromHfConfig } from "../checkpoint/hf.js";
import { InputError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { modelPreset, PRESET_NAMES } from "../model/presets.js";

/** The field a model's size comes from: what an error about the model being too large names. */
export type ModelSourceField = "model.preset" | "model.hfConfig" | "model.hiddenSize";

export interface ResolvedModel {
  /** The scenario with its model section spelled out field by field. */
  raw: Record<string, unknown>;
  source: ModelSourceField;
}

/**
 * Replaces `model.preset` or `model.hfConfig` by the fields they stand for (the fields written
 * beside them win). A scenario with neither is returned as it is. `baseDir` anchors a relative
 * `hfConfig` path.
 */
export function resolveModelSource(raw: Record<string, unknown>, baseDir: string): ResolvedModel {
  const model = raw.model;
  if (model === null || typeof model !== "object" || Array.isArray(model)) return { raw, source: "model.hiddenSize" };
  const { preset, hfConfig, ...overrides } = model as Record<string, unknown>;
  if (preset === undefined && hfConfig === undefined) return { raw, source: "model.hiddenSize" };
  if (preset !== undefined && hfConfig !== undefined) {
    throw new InputError("model.hfConfig", "cannot be combined with model.preset: the model comes from one of them");
  }
  const base = preset !== undefined ? presetConfig(preset) : hfConfigFile(hfConfig, baseDir);
  return { raw: { ...raw, model: { ...base, ...overrides } }, source: preset !== undefined ? "model.preset" : "model.hfConfig" };
}

function presetConfig(name: unknown): ModelConfig {
  const known = `(known: ${PRESET_NAMES.join(", ")})`;
  if (typeof name !== "string") throw new InputError("model.preset", `must be the name of a preset ${known}`);
  const config = modelPreset(name);
  if (!config) throw new InputError("model.preset", `unknown preset '${name}' ${known}`);
  return config;
}

/** The ModelConfig of a LlamaConfig file; every error names `model.hfConfig`. */
function hfConfigFile(path: unknown, baseDir: string): ModelConfig {
  if (typeof path !== "string" || path.length === 0) throw new InputError("model.hfConfig", "must be the path of a config.json file");
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  const text = readInputFile("model.hfConfig", file).toString("utf8");
  let hf: unknown;
  try {
    hf = JSON.parse(text);
  } catch (err) {
    throw new InputError("model.hfConfig", `${file} is not valid JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  if (hf === null || typeof hf !== "object" || Array.isArray(hf)) throw new InputError("model.hfConfig", `${file} must hold a JSON object`);
  if (isGpt2Config(hf as Record<string, unknown>)) return fromGpt2Config(hf as Record<string, unknown>, "model.hfConfig");
  checkLlama(hf as Record<string, unknown>);
  return fromHfConfig(hf as Record<string, unknown>, "model.hfConfig");
}

/**
 * Refuses a config of another architecture, or a Llama variant parasim's model does not
 * compute. Fields a file leaves out take LlamaConfig's defaults, which parasim matches.
 */
function checkLlama(hf: Record<string, unknown>): void {
  const where = "model.hfConfig";
  if (hf.model_type !== undefined && hf.model_type !== "llama") {
    throw new InputError(`${where}.model_type`, `must be "llama" or "gpt2", got ${JSON.stringify(hf.model_type)}`);
  }
  const arch = hf.architectures;
  if (arch !== undefined && !(Array.isArray(arch) && arch.includes("LlamaForCausalLM"))) {
    throw new InputError(`${where}.architectures`, `must include "LlamaForCausalLM", got ${JSON.stringify(arch)}`);
  }
  if (hf.hidden_act !== undefined && hf.hidden_act !== "silu") {
    throw new InputError(`${where}.hidden_act`, `must be "silu" (parasim's MLP is SwiGLU), got ${JSON.stringify(hf.hidden_act)}`);
  }
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (hf[key] === true) throw new InputError(`${where}.${key}`, "must be false: parasim's projections have no bias");
  }
  const { head_dim: headDim, hidden_size: C, num_attention_heads: H } = hf;
  if (headDim != null && typeof C === "number" && typeof H === "number" && headDim !== C / H) {
    throw new InputError(`${where}.head_dim`, `must equal hidden_size / num_attention_heads = ${C / H} (parasim derives it), got ${JSON.stringify(headDim)}`);
  }
}
