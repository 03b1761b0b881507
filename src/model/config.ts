/**
 * The shape of a decoder-only transformer. The scenario module produces objects of exactly this shape.
 *
 * Two families share everything but a few named places (src/model/family.ts):
 *   llama  RMSNorm, rotary position embedding (RoPE), grouped-query attention, SwiGLU MLP, no biases;
 *   gpt    LayerNorm with bias, learned absolute position embeddings, multi-head attention
 *          (numKvHeads = numHeads), GELU MLP (tanh approximation), biases on every linear layer
 *          (GPT-2, Radford et al. 2019; Megatron-LM's GPT, Shoeybi et al. 2019).
 * Either family may tie the LM head to the input embedding (`tieEmbeddings`).
 *
 * Legend: V vocabSize, C hiddenSize, F intermediateSize, L numLayers, H numHeads, G numKvHeads,
 * D = C/H head size.
 */
import { InputError } from "../errors.js";

export type ModelFamily = "llama" | "gpt";
export const MODEL_FAMILIES: readonly ModelFamily[] = ["llama", "gpt"];

export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Maximum sequence length (RoPE tables cover positions 0..seqLen−1). */
  seqLen: number;
  /** RoPE base (llama only). */
  ropeTheta: number;
  /** The norms' ε: RMSNorm's for llama, LayerNorm's for gpt. */
  rmsNormEps: number;
  /** Absent: llama. */
  family?: ModelFamily;
  /** The LM head is the input embedding matrix (one tensor, one gradient). Absent: untied. */
  tieEmbeddings?: boolean;
}

/** The numeric fields of a ModelConfig (sizes and constants). */
export type ModelNumberField = { [K in keyof ModelConfig]-?: NonNullable<ModelConfig[K]> extends number ? K : never }[keyof ModelConfig];

export function familyOf(config: ModelConfig): ModelFamily {
  return config.family ?? "llama";
}

export function isGpt(config: ModelConfig): boolean {
  return familyOf(config) === "gpt";
}

export function tiesEmbeddings(config: ModelConfig): boolean {
  return config.tieEmbeddings === true;
}

/** D = hiddenSize / numHeads (as Hugging Face Llama's default head_dim). */
export function headDim(config: ModelConfig): number {
  return config.hiddenSize / config.numHeads;
}

/** Throws InputError (field `model.<name>`) unless the config describes a buildable model. */
export function validateModelConfig(config: ModelConfig): void {
  const positiveInts: ModelNumberField[] = [
    "vocabSize",
    "hiddenSize",
    "intermediateSize",
    "numLayers",
    "numHeads",
    "numKvHeads",
    "seqLen",
  ];
  for (const key of positiveInts) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) throw new InputError(`model.${key}`, `must be a positive integer, got ${v}`);
  }
  const { hiddenSize: C, numHeads: H, numKvHeads: G } = config;
  if (C % H !== 0) throw new InputError("model.hiddenSize", `must be divisible by model.numHeads (${C} % ${H} ≠ 0)`);
  if (isGpt(config) && G !== H) {
    throw new InputError("model.numKvHeads", `must equal model.numHeads = ${H} for model.family gpt (multi-head attention), got ${G}`);
  }
  if (!isGpt(config) && headDim(config) % 2 !== 0) {
    throw new InputError("model.hiddenSize", `hiddenSize / numHeads is the head dimension and must be even for rotary embedding (got ${headDim(config)})`);
  }
  if (H % G !== 0) throw new InputError("model.numHeads", `must be divisible by model.numKvHeads (${H} % ${G} ≠ 0)`);
  if (!(config.ropeTheta > 0)) throw new InputError("model.ropeTheta", `must be positive, got ${config.ropeTheta}`);
  if (!(config.rmsNormEps > 0)) throw new InputError("model.rmsNormEps", `must be positive, got ${config.rmsNormEps}`);
}

/**
 * The model section of a scenario as a ModelConfig: without `initStd`, which only seeds the
 * initialisation, `attention` and `attentionPattern`, which pick a kernel and change no weight,
 * and `dropout`, which changes no weight either.
 */
export function modelConfigOf(scenario: { model: ModelConfig & { initStd: number; attention?: string; attentionPattern?: unknown; dropout?: number } }): ModelConfig {
  const { initStd: _seed, attention: _kernel, attentionPattern: _pattern, dropout: _dropout, ...config } = scenario.model;
  return config;
}
