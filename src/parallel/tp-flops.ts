/**
 * FLOPs of one tensor-parallel rank for one micro-batch [B,T], a pure function of shapes (the
 * same terms as src/model/flops.ts, with the local sizes), so the analytic mode can charge what
 * the real mode charges. With tp = 1 every function equals its single-device counterpart.
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
import { headDim, type ModelConfig } from "../model/config.js";
import { fullModelPart, type StagePart } from "../model/layout.js";

export interface TpDims {
  N: number;
  rows: number;
  C: number;
  D: number;
  Hl: number;
  Gl: number;
  Fl: number;
  Vl: number;
}

/** Local sizes of a tp rank. */
export function tpDims(config: ModelConfig, B: number, T: number, tp: number, sequenceParallel: boolean): TpDims {
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

/** One transformer layer on one tp rank. */
export function tpLayerFlops(config: ModelConfig, B: number, T: number, tp: number, sequenceParallel: boolean): KernelFlops {
  const { N, rows, C, D, Hl, Gl, Fl } = tpDims(config, B, T, tp, sequenceParallel);
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

/** Vocabulary-parallel embedding (charged as the single device's; see the header). */
export function tpEmbedFlops(config: ModelConfig, B: number, T: number): KernelFlops {
  return embeddingFlops(B * T, config.hiddenSize);
}

/** Final norm (on `rows`), the lm_head shard and the vocabulary-parallel cross-entropy. */
export function tpHeadFlops(config: ModelConfig, B: number, T: number, tp: number, sequenceParallel: boolean): KernelFlops {
  const { N, rows, C, Vl } = tpDims(config, B, T, tp, sequenceParallel);
  return sumFlops(rmsnormFlops(rows, C), linearFlops(N, C, Vl), crossEntropyFlops(N, Vl));
}

/** FLOPs of `part` on one tp rank for a micro-batch [B,T]. */
export function tpModelFlops(
  config: ModelConfig,
  part: StagePart = fullModelPart(config),
  B: number,
  T: number,
  tp: number,
  sequenceParallel: boolean,
): KernelFlops {
  const parts: KernelFlops[] = [];
  if (part.hasEmbedding) parts.push(tpEmbedFlops(config, B, T));
  const layer = tpLayerFlops(config, B, T, tp, sequenceParallel);
  for (let l = 0; l < part.numLayers; l++) parts.push(layer);
  if (part.hasHead) parts.push(tpHeadFlops(config, B, T, tp, sequenceParallel));
  return sumFlops(...parts);
}
