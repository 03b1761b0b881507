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
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new InputError("model.numHeads", `must divide hiddenSize ${config.hiddenSize}, got ${config.numHeads}`);
  }
  if (headDim(config) % 2 !== 0) {
    throw new InputError("model.numHeads", `head size hiddenSize/numHeads must be even for RoPE, got ${headDim(config)}`);
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new InputError("model.numKvHeads", `must divide numHeads ${config.numHeads}, got ${config.numKvHeads}`);
  }
  if (!(config.ropeTheta > 0)) throw new InputError("model.ropeTheta", `must be positive, got ${config.ropeTheta}`);
  if (!(config.rmsNormEps > 0)) throw new InputError("model.rmsNormEps", `must be positive, got ${config.rmsNormEps}`);
}
