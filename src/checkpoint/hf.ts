/**
 * Checkpoints in Hugging Face Llama form: a folder with `config.json` (LlamaConfig field names)
 * and `model.safetensors` (Llama tensor names and shapes), so `transformers` can load what parasim
 * writes and parasim can start from it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../errors.js";
import type { ModelConfig } from "../model/config.js";
import { readSafetensors, writeSafetensors, type NamedTensor } from "./safetensors.js";

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "model.safetensors";

/** The LlamaConfig fields parasim writes, named as transformers names them. */
export function toHfConfig(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.hiddenSize / config.numHeads,
    hidden_act: "silu",
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    max_position_embeddings: config.seqLen,
    tie_word_embeddings: false,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: "float32",
  };
}

export function fromHfConfig(hf: Record<string, unknown>, where: string): ModelConfig {
  const field = (name: string, fallback?: number): number => {
    const v = hf[name] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new InputError(`${where}.${name}`, "must be a number");
    return v;
  };
  if (hf.tie_word_embeddings === true) throw new InputError(`${where}.tie_word_embeddings`, "must be false: parasim's LM head is untied");
  const numHeads = field("num_attention_heads");
  return {
    vocabSize: field("vocab_size"),
    hiddenSize: field("hidden_size"),
    intermediateSize: field("intermediate_size"),
    numLayers: field("num_hidden_layers"),
    numHeads,
    numKvHeads: field("num_key_value_heads", numHeads),
    seqLen: field("max_position_embeddings"),
    ropeTheta: field("rope_theta", 10000),
    rmsNormEps: field("rms_norm_eps", 1e-6),
  };
}

export function writeCheckpoint(dir: string, config: ModelConfig, tensors: NamedTensor[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CONFIG_FILE), JSON.stringify(toHfConfig(config), null, 2) + "\n");
  writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: "pt", producer: "parasim" });
}

export interface Checkpoint {
  config: ModelConfig;
  tensors: Map<string, NamedTensor>;
}

export function readCheckpoint(dir: string): Checkpoint {
  const configPath = join(dir, CONFIG_FILE);
  if (!existsSync(configPath)) throw new InputError("checkpoint", `${dir} has no ${CONFIG_FILE}`);
  let hf: Record<string, unknown>;
  try {
    hf = JSON.parse(readFileSync(configPath, "utf8"));
  } catch {
    throw new InputError("checkpoint", `${configPath} is not valid JSON`);
  }
  return { config: fromHfConfig(hf, CONFIG_FILE), tensors: readSafetensors(join(dir, WEIGHTS_FILE)) };
}

/**
 * Checks that a checkpoint holds the tensors `expected` lists, with the same shapes, and names the
 * first one that differs; with `exact`, also that it holds no others.
 */
export function checkTensorsMatch(tensors: Map<string, NamedTensor>, expected: { name: string; shape: number[] }[], exact = true): void {
  for (const e of expected) {
    const t = tensors.get(e.name);
    if (!t) throw new InputError("checkpoint", `missing tensor ${e.name}`);
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new InputError("checkpoint", `${e.name} has shape [${t.shape}] but the scenario's model needs [${e.shape}]`);
    }
  }
  if (!exact) return;
  const known = new Set(expected.map((e) => e.name));
  for (const name of tensors.keys()) {
    if (!known.has(name)) throw new InputError("checkpoint", `unexpected tensor ${name} for the scenario's model`);
  }
}

/** Checks that a checkpoint's config describes the scenario's model, naming the first field that differs. */
export function checkConfigMatches(checkpoint: ModelConfig, scenario: ModelConfig): void {
  const hfNames: Record<keyof ModelConfig, string> = {
    vocabSize: "vocab_size",
    hiddenSize: "hidden_size",
    intermediateSize: "intermediate_size",
    numLayers: "num_hidden_layers",
    numHeads: "num_attention_heads",
    numKvHeads: "num_key_value_heads",
    seqLen: "max_position_embeddings",
    ropeTheta: "rope_theta",
    rmsNormEps: "rms_norm_eps",
  };
  for (const key of Object.keys(hfNames) as (keyof ModelConfig)[]) {
    if (checkpoint[key] !== scenario[key]) {
      throw new InputError("checkpoint", `${CONFIG_FILE} has ${hfNames[key]} = ${checkpoint[key]} but the scenario's model.${key} is ${scenario[key]}`);
    }
  }
}
