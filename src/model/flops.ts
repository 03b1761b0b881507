/**
 * FLOPs of a stage (or the whole model) on one tensor-parallel rank for one micro-batch of B
 * sequences of length T, summed from the kernels' counts in src/kernels/flops.ts: a pure function
 * of shapes, so the real and the analytic mode charge the same simulated time. tp = 1 (the
 * default) is the single device.
 *
 * Legend: N = B·T rows, rows = N/tp with sequence parallelism else N (the rows the norms and
 * residual adds work on), C hidden, Hl = H/tp, Gl = G/tp query and kv heads per rank, D head
 * size, Fl = F/tp, Vl = V/tp.
 *
 * The embedding is charged as the single device's (a masked lookup over all N rows; backward a
 * scatter-add of N·C), because which rows fall in a rank's vocab range depends on the data.
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

/** Local sizes of a tp rank (with tp = 1: the model's sizes). */
export interface ModelDims {
  N: number;
  rows: number;
  C: number;
  D: number;
  Hl: number;
  Gl: number;
  Fl: number;
  Vl: number;
}

export function modelDims(config: ModelConfig, B: number, T: number, tp = 1, sequenceParallel = false): ModelDims {
  const N = B * T;
  return {
    N,
    rows: sequenceParallel ? N / tp : N,
    C: config.hiddenSize,
    D: headDim(config),
    Hl: config.numHeads / tp,
    Gl: config.numKvHeads / tp,
    Fl: config.intermediateSize / tp,
    Vl: config.vocabSize / tp,
  };
}

/** One transformer layer's FLOPs on one tp rank. */
export function layerFlops(config: ModelConfig, B: number, T: number, tp = 1, sequenceParallel = false): KernelFlops {
  const { N, rows, C, D, Hl, Gl, Fl } = modelDims(config, B, T, tp, sequenceParallel);
  return sumFlops(
    rmsnormFlops(rows, C),
    linearFlops(N, C, Hl * D),
    linearFlops(N, C, Gl * D),
    linearFlops(N, C, Gl * D),
    ropeFlops(B, T, Hl, D),
    ropeFlops(B, T, Gl, D),
    attentionFlops(B, T, Hl, D),
    linearFlops(N, Hl * D, C),
    residualFlops(rows * C),
    rmsnormFlops(rows, C),
    linearFlops(N, C, Fl),
    linearFlops(N, C, Fl),
    swigluFlops(N, Fl),
    linearFlops(N, Fl, C),
    residualFlops(rows * C),
  );
}

/** The embedding lookup's FLOPs (a gather: forward free, backward a scatter-add); see the header. */
export function embedFlops(config: ModelConfig, B: number, T: number): KernelFlops {
  return embeddingFlops(B * T, config.hiddenSize);
}

/** Final norm (on `rows`), the lm_head (shard) and the (vocabulary-parallel) cross-entropy. */
export function headFlops(config: ModelConfig, B: number, T: number, tp = 1, sequenceParallel = false): KernelFlops {
  const { N, rows, C, Vl } = modelDims(config, B, T, tp, sequenceParallel);
  return sumFlops(rmsnormFlops(rows, C), linearFlops(N, C, Vl), crossEntropyFlops(N, Vl));
}

/** FLOPs of `part` (default: whole model) on one tp rank for a micro-batch [B,T]. */
export function modelFlops(
  config: ModelConfig,
  part: StagePart = fullModelPart(config),
  B: number,
  T: number,
  tp = 1,
  sequenceParallel = false,
): KernelFlops {
  const parts: KernelFlops[] = [];
  if (part.hasEmbedding) parts.push(embedFlops(config, B, T));
  const layer = layerFlops(config, B, T, tp, sequenceParallel);
  for (let l = 0; l < part.numLayers; l++) parts.push(layer);
  if (part.hasHead) parts.push(headFlops(config, B, T, tp, sequenceParallel));
  return sumFlops(...parts);
}
