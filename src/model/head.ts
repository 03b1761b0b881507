/**
 * The head of the model on one tensor-parallel rank (tp = 1: the single device): final
 * norm (RMSNorm, or LayerNorm for gpt) on this rank's rows → enter (copyToTp, or gatherFromSp under sequence parallelism) →
 * lm_head (this rank's vocabulary shard) → vocabulary-parallel cross-entropy
 * (src/parallel/tp-vocab.ts: one all-gather of per-row statistics, the logits are never gathered).
 *
 * With tied embeddings `lmHead` is the embedding matrix (or its copy on a last pipeline stage).
 *
 * Legend: N = B·T rows, rows = N/tp under SP else N, C hidden, V vocab, Vl = V/tp.
 *
 * Each kernel call charges its cost on ctx.charge (the whole cross-entropy before its statistics
 * all-gather); the caller begins and flushes the `head` unit.
 */
import type { Floats } from "../kernels/types.js";
import { TP_HEAD, TP_LOSS } from "../parallel/tensor.js";
import type { HeadActivations, WeightGradInputs } from "./activations.js";
import { normBackwardInput, normBackwardWeight, normForward, type NormWeights } from "./family.js";
import { gatheredNormOutput, type LayerContext } from "./layer.js";

/** model.norm.weight [C] (and model.norm.bias for gpt) and this rank's lm_head.weight rows [Vl,C]. */
export interface HeadWeights {
  norm: NormWeights;
  lmHead: Floats;
}

/** Head inputs of the weight step: dlogits [N,Vl], dlnf [rows,C]. */
export type HeadGradInputs = Pick<WeightGradInputs, "dlogits" | "dlnf">;

/**
 * Mean cross-entropy over the N rows of x [rows,C] against targets; saves what the backward needs
 * in h. `stats` is the gathered loss statistics buffer (3N float64 per tp rank).
 */
export function headForward(
  ctx: LayerContext,
  w: HeadWeights,
  h: HeadActivations,
  x: Floats,
  targets: Int32Array,
  stats: Float64Array,
): number {
  const { tp, config, ops } = ctx;
  const { N, rows, C, Vl } = ctx.dims;
  normForward(ctx, h.lnf, { mean: h.meanf, rstd: h.rstdf }, x, w.norm, rows);
  ops.linearForward(h.logits, gatheredNormOutput(ctx, h.lnf, TP_HEAD), w.lmHead, N, C, Vl);
  const mine = stats.subarray(tp.index * 3 * N, (tp.index + 1) * 3 * N);
  ops.crossEntropyStats(mine, h.logits, targets, N, config.vocabSize, tp.index * Vl, Vl);
  tp.allGather(stats, TP_LOSS);
  ops.crossEntropyFinish(h.losses, h.probs, h.logits, stats, N, Vl, tp.size);
  if (!ops.computes) return NaN; // a model on meta arrays has no loss to report
  let sum = 0;
  for (let n = 0; n < N; n++) sum += h.losses[n];
  return sum / N;
}

/** dX [rows,C] (overwritten) = ∂L/∂x for per-token loss weight gradScale; leaves the weight-step inputs in gi. */
export function headBackwardInput(
  ctx: LayerContext,
  w: HeadWeights,
  h: HeadActivations,
  x: Floats,
  targets: Int32Array,
  dX: Floats,
  gi: HeadGradInputs,
  gradScale: number,
): void {
  const { tp, ws, ops } = ctx;
  const { N, rows, C, Vl } = ctx.dims;
  gi.dlogits.fill(0);
  ops.crossEntropyBackward(gi.dlogits, h.probs, targets, gradScale, N, tp.index * Vl, Vl);
  ws.full.fill(0);
  ops.linearBackwardInput(ws.full, gi.dlogits, w.lmHead, N, C, Vl);
  gi.dlnf.set(ctx.enter.backward(tp, ws.full, TP_HEAD));
  dX.fill(0);
  normBackwardInput(ctx, dX, gi.dlnf, x, w.norm, { mean: h.meanf, rstd: h.rstdf }, rows);
}

/** g += ∂L/∂w for the final norm (partial under SP) and the lm_head shard; under SP the final norm's output is all-gathered again first. */
export function headBackwardWeight(ctx: LayerContext, w: HeadWeights, g: HeadWeights, h: HeadActivations, x: Floats, gi: HeadGradInputs): void {
  const { N, rows, C, Vl } = ctx.dims;
  ctx.ops.linearBackwardWeight(g.lmHead, gi.dlogits, gatheredNormOutput(ctx, h.lnf, TP_HEAD), N, C, Vl);
  normBackwardWeight(ctx, g.norm, gi.dlnf, x, w.norm, { mean: h.meanf, rstd: h.rstdf }, rows);
}
