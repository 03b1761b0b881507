/**
 * The input embedding on one tensor-parallel rank: the vocabulary-parallel token lookup
 * (src/parallel/tp-vocab.ts) whose partial rows are summed over tp (reduce-scattered under
 * sequence parallelism), then, for gpt, the learned absolute position embedding added to this
 * rank's rows. The position table is replicated: without SP every rank adds it to every row and
 * computes the same gradient; with SP each rank handles its rows and the gradients are summed
 * with the other replicated ones (tp-norm, src/parallel/tensor.ts).
 *
 * Legend: N = B·T rows, rows = N/tp under SP else N, C hidden, V vocab, Vl = V/tp, T time.
 */
import type { Floats } from "../kernels/types.js";
import { rowChunk, TP_EMBED } from "../parallel/tensor.js";
import type { Activations, WeightGradInputs } from "./activations.js";
import type { LayerContext } from "./layer.js";

/** This rank's rows [Vl,C] of model.embed_tokens.weight, and model.embed_positions.weight [seqLen,C] (gpt). */
export interface EmbeddingWeights {
  table: Floats;
  positions?: Floats;
}

/** The first row (of the micro-batch's N) this rank's [rows] of the residual stream start at. */
function firstRow(ctx: LayerContext): number {
  return ctx.sp ? ctx.tp.index * ctx.dims.rows : 0;
}

/** acts.hidden[0] = embedding of `tokens` (this rank's rows); keeps the tokens for the weight gradient. */
export function embeddingForward(ctx: LayerContext, w: EmbeddingWeights, acts: Activations, tokens: Int32Array): void {
  const { B, T, tp, ops, ws } = ctx;
  const { C, Vl, rows } = ctx.dims;
  const N = B * T;
  acts.tokens.set(tokens);
  ops.embeddingForward(ws.full, tokens, w.table, N, C, ctx.config.vocabSize, tp.index * Vl, Vl);
  const hidden = acts.hidden[0];
  hidden.set(ctx.exit.forward(tp, ws.full, TP_EMBED));
  if (w.positions) ops.positionEmbeddingForward(hidden, w.positions, firstRow(ctx), rows, T, C);
  // Megatron-LM's embedding dropout, on this rank's rows (after the scatter under SP).
  if (ctx.dropout) ops.dropoutForward(rows * C);
}

/** The embedding output's gradient on every row (gathered under SP); its input gradient is none. */
export function embeddingBackwardInput(ctx: LayerContext, dHidden: Floats, gi: WeightGradInputs): void {
  ctx.charge.begin("embed");
  if (ctx.dropout) ctx.ops.dropoutBackward(ctx.dims.rows * ctx.dims.C);
  rowChunk(gi.dEmbed, ctx.tp, ctx.sp).set(dHidden);
  ctx.exit.backward(ctx.tp, gi.dEmbed, TP_EMBED);
}

/** g += the table's (this rank's vocabulary rows) and the position table's gradients. */
export function embeddingBackwardWeight(ctx: LayerContext, g: EmbeddingWeights, acts: Activations, gi: WeightGradInputs): void {
  const { B, T, tp, ops } = ctx;
  const { C, Vl, rows } = ctx.dims;
  ops.embeddingBackward(g.table, gi.dEmbed, acts.tokens, B * T, C, tp.index * Vl, Vl);
  if (g.positions) ops.positionEmbeddingBackward(g.positions, rowChunk(gi.dEmbed, tp, ctx.sp), firstRow(ctx), rows, T, C);
}
