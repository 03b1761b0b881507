/**
 * FLOPs of a stage (or the whole model) on one tensor-parallel rank for one micro-batch of B
 * sequences of length T, counted by running the model itself on meta arrays (src/kernels/meta.ts),
 * where every kernel call charges its cost and computes nothing (src/model/kernel-calls.ts). There is no second formula: what this returns is, by
 * construction, what a real run charges the clock. tp = 1 (the default) is the single device.
 *
 * The count is the same on every tp rank (the embedding is charged as the single device's
 * lookup, see KernelCalls.embeddingForward), so it runs rank 0 with collectives that do nothing.
 */
import { metaFloats } from "../kernels/meta.js";
import type { KernelFlops } from "../kernels/types.js";
import type { TpComm } from "../parallel/tensor.js";
import type { ModelConfig } from "./config.js";
import { buildLayout, fullModelPart, type StagePart } from "./layout.js";
import { LlamaModel } from "./model.js";

/** A tp group of `size` whose collectives move nothing (the buffers of a counting run are meta arrays). */
function silentTpComm(size: number): TpComm {
  return { size, index: 0, allReduce() {}, reduceScatter: (buf) => buf.subarray(0, buf.length / size), allGather() {} };
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
  const layout = buildLayout(config, part, tp > 1 ? { size: tp, index: 0 } : undefined);
  const meta = metaFloats(layout.totalSize);
  const model = new LlamaModel(config, layout, meta, meta, B, T, silentTpComm(tp), { sequenceParallel });
  let counted = 0;
  model.hooks = { compute: (_label, flops) => (counted += flops), gradsReady() {} };
  const take = (): number => {
    const flops = counted;
    counted = 0;
    return flops;
  };
  const N = B * T;
  const acts = model.acts;
  model.stageForward(acts, part.hasEmbedding ? new Int32Array(N) : acts.hidden[0], new Int32Array(N));
  const forward = take();
  model.stageBackward(acts, part.hasHead ? null : metaFloats(acts.output.length), 1, true);
  const backwardInput = take();
  model.stageBackwardWeights(acts);
  return { forward, backwardInput, backwardWeight: take() };
}

/** One transformer layer's FLOPs on one tp rank. */
export function layerFlops(config: ModelConfig, B: number, T: number, tp = 1, sequenceParallel = false): KernelFlops {
  return modelFlops(config, { firstLayer: 0, numLayers: 1, hasEmbedding: false, hasHead: false }, B, T, tp, sequenceParallel);
}
