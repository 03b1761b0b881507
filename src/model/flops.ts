/**
 * FLOPs of a stage (or the whole model) for one micro-batch of B sequences of length T, summed
 * from the kernels' counts in src/kernels/flops.ts: a pure function of shapes, so the real and the
 * analytic mode charge the same simulated time.
 */
import {
  attentionFlops,
  crossEntropyFlops,
  embeddingFlops,
  linearFlops,
  residualFlops,
  rmsnormFlops,
  ropeFlops,
  swigluFlops,
  sumFlops,
} from "../kernels/flops.js";
import type { KernelFlops } from "../kernels/types.js";
import { headDim, type ModelConfig } from "./config.js";
import { fullModelPart, type StagePart } from "./layout.js";

/** One transformer layer's FLOPs. */
export function layerFlops(config: ModelConfig, B: number, T: number): KernelFlops {
  const N = B * T;
  const C = config.hiddenSize, H = config.numHeads, G = config.numKvHeads, F = config.intermediateSize;
  const D = headDim(config);
  return sumFlops(
    rmsnormFlops(N, C),
    linearFlops(N, C, H * D),
    linearFlops(N, C, G * D),
    linearFlops(N, C, G * D),
    ropeFlops(B, T, H, D),
    ropeFlops(B, T, G, D),
    attentionFlops(B, T, H, D),
    linearFlops(N, H * D, C),
    residualFlops(N * C),
    rmsnormFlops(N, C),
    linearFlops(N, C, F),
    linearFlops(N, C, F),
    swigluFlops(N, F),
    linearFlops(N, F, C),
    residualFlops(N * C),
  );
}

/** The embedding lookup's FLOPs (a gather: forward free, backward a scatter-add). */
export function embedFlops(config: ModelConfig, B: number, T: number): KernelFlops {
  return embeddingFlops(B * T, config.hiddenSize);
}

/** Final norm, LM head and cross-entropy. */
export function headFlops(config: ModelConfig, B: number, T: number): KernelFlops {
  const N = B * T;
  const C = config.hiddenSize, V = config.vocabSize;
  return sumFlops(rmsnormFlops(N, C), linearFlops(N, C, V), crossEntropyFlops(N, V));
}

/** FLOPs of `part` (default: whole model) for a micro-batch [B,T]. */
export function modelFlops(config: ModelConfig, part: StagePart = fullModelPart(config), B: number, T: number): KernelFlops {
  const parts: KernelFlops[] = [];
  if (part.hasEmbedding) parts.push(embedFlops(config, B, T));
  const layer = layerFlops(config, B, T);
  for (let l = 0; l < part.numLayers; l++) parts.push(layer);
  if (part.hasHead) parts.push(headFlops(config, B, T));
  return sumFlops(...parts);
}
