/**
 * The shape of a Llama-style model. The scenario module produces objects of exactly this shape.
 *
 * Legend: V vocabSize, C hiddenSize, F intermediateSize, L numLayers, H numHeads, G numKvHeads,
 * D = C/H head size.
 */
import { InputError } from "../errors.js";

export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Maximum sequence length (RoPE tables cover positions 0..seqLen−1). */
  seqLen: number;
  ropeTheta: number;
  rmsNormEps: number;
}

/** D = hiddenSize / numHeads (as Hugging Face Llama's default head_dim). */
export function headDim(config: ModelConfig): number {
  return config.hiddenSize / config.numHeads;
}

/** Throws InputError (field `model.<name>`) unless the config describes a buildable model. */
export function validateModelConfig(config: ModelConfig): void {
  const positiveInts: (keyof ModelConfig)[] = [
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
  if (headDim(config) % 2 !== 0) {
    throw new InputError("model.hiddenSize", `hiddenSize / numHeads is the head dimension and must be even for rotary embedding (got ${headDim(config)})`);
  }
  if (H % G !== 0) throw new InputError("model.numHeads", `must be divisible by model.numKvHeads (${H} % ${G} ≠ 0)`);
  if (!(config.ropeTheta > 0)) throw new InputError("model.ropeTheta", `must be positive, got ${config.ropeTheta}`);
  if (!(config.rmsNormEps > 0)) throw new InputError("model.rmsNormEps", `must be positive, got ${config.rmsNormEps}`);
}

/**
 * The model section of a scenario as a ModelConfig: without `initStd`, which only seeds the
 * initialisation, and `attention` and `attentionPattern`, which pick a kernel and change no weight.
 */
export function modelConfigOf(scenario: { model: ModelConfig & { initStd: number; attention?: string; attentionPattern?: unknown } }): ModelConfig {
  const { initStd: _seed, attention: _kernel, attentionPattern: _pattern, ...config } = scenario.model;
  return config;
}
