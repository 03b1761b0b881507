/**
 * One decoder layer (Hugging Face LlamaDecoderLayer, or a GPT-2 block) on one tensor-parallel rank
 * (Megatron-LM, Shoeybi et al. 2019, with optional sequence parallelism, Korthikanti et al.
 * 2022): forward, input-gradient pass and weight-gradient pass, as free functions over the
 * layer's weights and saved activations. With a size-1 group (tp = 1) it is the single-device
 * layer: every collective is the identity and the local sizes are the full ones.
 *
 * Legend: B batch, T time, N = B·T rows, rows = N/tp under SP else N, C hidden, Hl/Gl query/kv
 * heads of this rank, D head size, Fl = F/tp.
 *
 *   x[rows] → RMSNorm → enter → q/k/v (column-parallel) → RoPE → attention (local heads) →
 *   o_proj (row-parallel, partial sums) → exit → + x = res1[rows] → RMSNorm → enter →
 *   gate/up (column-parallel) → SwiGLU → down_proj (row-parallel) → exit → + res1 = y[rows]
 *
 * A gpt layer is the same layer with LayerNorms, biases, no RoPE and a GELU MLP (fc_in → GELU →
 * fc_out); those differences are the named functions of src/model/family.ts.
 *
 * enter/exit are copyToTp/reduceFromTp, or gatherFromSp/reduceScatterToSp under SP
 * (src/parallel/tensor.ts). Query head j of rank r is global head r·Hl + j and reads kv head
 * ⌊(r·Hl + j)/(H/G)⌋ = r·Gl + ⌊j/(Hl/Gl)⌋, a local kv head, so attention needs no communication.
 *
 * Compute: each kernel call charges its own cost (src/model/kernel-calls.ts); the work between two
 * collectives reaches the clock just before the collective, labelled `L<i>:attn` or `L<i>:mlp`
 * (`L<i>:W` for weight gradients), so simulated time puts compute and collectives in execution order.
 */
import type { RopeTables } from "../kernels/rope.js";
import type { ModelFamily } from "./config.js";
import { addBias, biasGrad, mlpBackwardInput, mlpBackwardWeight, mlpForward, normBackwardIntoStream, normBackwardWeight, normForward, type NormWeights } from "./family.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import type { Floats } from "../kernels/types.js";
import { rowChunk, TP_ACT, type Conjugate, type TpComm } from "../parallel/tensor.js";
import type { LayerActivations, LayerWeightGradInputs } from "./activations.js";
import type { ModelConfig } from "./config.js";
import type { ModelDims } from "./dims.js";
import type { Charger } from "./charger.js";
import type { KernelCalls } from "./kernel-calls.js";
import type { LayerTensor } from "./layout.js";

/** A layer's tensors by name suffix; only its family's tensors are present (a llama layer has no biases). */
export type LayerWeights = Record<LayerTensor, Floats>;

function norm1(w: LayerWeights): NormWeights {
  return { weight: w["input_layernorm.weight"], bias: w["input_layernorm.bias"] };
}

function norm2(w: LayerWeights): NormWeights {
  return { weight: w["post_attention_layernorm.weight"], bias: w["post_attention_layernorm.bias"] };
}

/** Shapes, pairs, RoPE tables, scratch and the charger shared by every layer of a model. */
export interface LayerContext {
  config: ModelConfig;
  family: ModelFamily;
  B: number;
  T: number;
  dims: ModelDims;
  sp: boolean;
  /** A charging TpComm (see chargingTpComm). */
  tp: TpComm;
  enter: Conjugate;
  exit: Conjugate;
  /** RoPE tables (llama); null for gpt, whose positions are learned and added to the embedding. */
  rope: RopeTables | null;
  /**
   * Scratch: full [N,C] (partial sums), dact [N,Fl], dattOut and dq [N,Hl·D], dk [N,Gl·D], and
   * under SP ln [N,C], where a norm output is gathered for the column-parallel layers that read it.
   */
  ws: Record<"full" | "dact" | "dattOut" | "dq" | "dk" | "ln", Floats>;
  charge: Charger;
  /** The kernels, each charging its cost on `charge`. */
  ops: KernelCalls;
  /** Selective recomputation: the attention probabilities are recomputed before their backward. */
  recomputeAttention: boolean;
  /** Flash attention (Dao et al. 2022) instead of the naive kernel that keeps the probabilities. */
  flash: boolean;
  /** A block-sparse pattern for the naive kernel (Child et al. 2019); null: plain causal. */
  pattern: SparsePattern | null;
  /**
   * Megatron-LM's dropouts are charged (model.dropout > 0; shapes mode only): on the naive
   * kernel's probabilities, and in a fused bias-dropout-add on each branch before its residual add.
   */
  dropout: boolean;
}

/** The naive kernel's forward (sparse when the model has a pattern): out and the probabilities. */
function attentionProbabilities(ctx: LayerContext, out: Floats, a: LayerActivations): void {
  const { B, T, ops, pattern } = ctx;
  const { D, Hl, Gl } = ctx.dims;
  if (pattern) ops.sparseAttentionForward(out, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D, pattern);
  else ops.attentionForward(out, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D);
  // Megatron-LM drops probabilities between the softmax and the product with V (its CoreAttention).
  if (ctx.dropout) ops.dropoutForward(a.att.length);
}

/**
 * stream = residual + branch (+ bias): the residual add that closes a branch. With dropout it is
 * Megatron-LM's fused bias-dropout-add, one kernel.
 */
function closeBranch(ctx: LayerContext, stream: Floats, residual: Floats, branch: Floats, bias: Floats | undefined): void {
  const { rows, C } = ctx.dims;
  if (ctx.dropout) {
    ctx.ops.biasDropoutAdd(rows, C, bias !== undefined);
    return;
  }
  addBias(ctx, branch, bias, rows, C);
  ctx.ops.residualForward(stream, residual, branch, rows * C);
}

/** The branch's output gradient (this rank's rows of `full`) from the stream's: through the dropout when there is one. */
function openBranch(ctx: LayerContext, full: Floats, dStream: Floats): void {
  if (ctx.dropout) ctx.ops.dropoutBackward(ctx.dims.rows * ctx.dims.C);
  rowChunk(full, ctx.tp, ctx.sp).set(dStream);
}

/**
 * A norm output `saved` [rows,C] as the column-parallel layers read it, [N,C]: `saved` itself
 * without SP (every rank holds every row); under SP its rows all-gathered into ws.ln. Megatron-LM's
 * sequence parallelism keeps only the shard and gathers it again for the weight gradients, so the
 * weight-gradient passes call this a second time: an all-gather per norm output in backward.
 */
export function gatheredNormOutput(ctx: LayerContext, saved: Floats, kind: string): Floats {
  if (!ctx.sp) return saved;
  rowChunk(ctx.ws.ln, ctx.tp, true).set(saved);
  return ctx.enter.forward(ctx.tp, ctx.ws.ln, kind);
}

/** y[rows] = layer(x[rows]); saves what the backward needs in a. */
export function layerForward(ctx: LayerContext, w: LayerWeights, a: LayerActivations, x: Floats, y: Floats, label: string): void {
  const { B, T, tp, exit, charge, ws, ops } = ctx;
  const { N, rows, C, D, Hl, Gl } = ctx.dims;
  charge.begin(`${label}:attn`);
  normForward(ctx, a.ln1, { mean: a.mean1, rstd: a.rstd1 }, x, norm1(w), rows);
  const ln1 = gatheredNormOutput(ctx, a.ln1, TP_ACT);
  ops.linearForward(a.q, ln1, w["self_attn.q_proj.weight"], N, C, Hl * D);
  addBias(ctx, a.q, w["self_attn.q_proj.bias"], N, Hl * D);
  ops.linearForward(a.k, ln1, w["self_attn.k_proj.weight"], N, C, Gl * D);
  addBias(ctx, a.k, w["self_attn.k_proj.bias"], N, Gl * D);
  ops.linearForward(a.v, ln1, w["self_attn.v_proj.weight"], N, C, Gl * D);
  addBias(ctx, a.v, w["self_attn.v_proj.bias"], N, Gl * D);
  if (ctx.rope) {
    ops.ropeForward(a.q, a.q, ctx.rope, B, T, Hl, D);
    ops.ropeForward(a.k, a.k, ctx.rope, B, T, Gl, D);
  }
  if (ctx.flash) ops.flashAttentionForward(a.attOut, a.lse, a.q, a.k, a.v, B, T, Hl, Gl, D);
  else attentionProbabilities(ctx, a.attOut, a);
  ops.linearForward(ws.full, a.attOut, w["self_attn.o_proj.weight"], N, Hl * D, C);
  const attn = exit.forward(tp, ws.full, TP_ACT);
  charge.begin(`${label}:mlp`);
  closeBranch(ctx, a.res1, x, attn, w["self_attn.o_proj.bias"]);
  normForward(ctx, a.ln2, { mean: a.mean2, rstd: a.rstd2 }, a.res1, norm2(w), rows);
  mlpForward(ctx, w, a, gatheredNormOutput(ctx, a.ln2, TP_ACT));
  const mlp = exit.forward(tp, ws.full, TP_ACT);
  closeBranch(ctx, y, a.res1, mlp, w["mlp.fc_out.bias"]);
  charge.flush();
}

/**
 * Input gradients: dX[rows] (overwritten) from dY[rows] (clobbered); leaves the weight-step
 * inputs in gi. Charges its compute; the caller flushes.
 */
export function layerBackwardInput(
  ctx: LayerContext,
  w: LayerWeights,
  a: LayerActivations,
  x: Floats,
  dX: Floats,
  dY: Floats,
  gi: LayerWeightGradInputs,
  label: string,
): void {
  const { tp, enter, exit, charge, ws } = ctx;
  const { rows } = ctx.dims;
  charge.begin(`${label}:mlp`);
  // MLP branch: the gradient of the down_proj output is dY on every row (gathered under SP).
  openBranch(ctx, gi.dDown, dY);
  exit.backward(tp, gi.dDown, TP_ACT);
  mlpBackwardInput(ctx, w, a, gi);
  gi.dln2.set(enter.backward(tp, ws.full, TP_ACT));
  const dRes1 = dY; // residual path: dRes1 = dY + the norm's input gradient
  normBackwardIntoStream(ctx, dRes1, gi.dln2, a.res1, norm2(w), { mean: a.mean2, rstd: a.rstd2 }, rows);
  if (ctx.recomputeAttention) {
    // The probabilities were not kept; the attention output they recompute goes to dattOut's
    // scratch, which the o_proj backward overwrites next (the saved attOut is already there).
    charge.begin(`${label}:recompute`);
    attentionProbabilities(ctx, ws.dattOut, a);
  }
  charge.begin(`${label}:attn`);
  attentionBackwardInput(ctx, w, a, dRes1, gi);
  dX.set(dRes1);
  normBackwardIntoStream(ctx, dX, gi.dln1, x, norm1(w), { mean: a.mean1, rstd: a.rstd1 }, rows);
}

/** The attention branch of layerBackwardInput: from the gradient of res1 to gi.dln1. */
function attentionBackwardInput(ctx: LayerContext, w: LayerWeights, a: LayerActivations, dRes1: Floats, gi: LayerWeightGradInputs): void {
  const { B, T, tp, enter, exit, ws, ops } = ctx;
  const { N, C, D, Hl, Gl } = ctx.dims;
  openBranch(ctx, gi.dRes1, dRes1);
  exit.backward(tp, gi.dRes1, TP_ACT);
  ws.dattOut.fill(0);
  ops.linearBackwardInput(ws.dattOut, gi.dRes1, w["self_attn.o_proj.weight"], N, Hl * D, C);
  // Without RoPE the gradients of q and k are those of the projections' outputs.
  const [dq, dk] = ctx.rope ? [ws.dq, ws.dk] : [gi.dqr, gi.dkr];
  dq.fill(0);
  dk.fill(0);
  gi.dv.fill(0);
  if (ctx.flash) ops.flashAttentionBackward(dq, dk, gi.dv, ws.dattOut, a.attOut, a.lse, a.q, a.k, a.v, B, T, Hl, Gl, D);
  else {
    // The gradient reaches the probabilities through their dropout (flash attention's is inside its kernel).
    if (ctx.dropout) ops.dropoutBackward(a.att.length);
    if (ctx.pattern) ops.sparseAttentionBackward(dq, dk, gi.dv, ws.dattOut, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D, ctx.pattern);
    else ops.attentionBackward(dq, dk, gi.dv, ws.dattOut, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D);
  }
  if (ctx.rope) {
    gi.dqr.fill(0);
    gi.dkr.fill(0);
    ops.ropeBackward(gi.dqr, ws.dq, ctx.rope, B, T, Hl, D);
    ops.ropeBackward(gi.dkr, ws.dk, ctx.rope, B, T, Gl, D);
  }
  ws.full.fill(0);
  ops.linearBackwardInput(ws.full, gi.dqr, w["self_attn.q_proj.weight"], N, C, Hl * D);
  ops.linearBackwardInput(ws.full, gi.dkr, w["self_attn.k_proj.weight"], N, C, Gl * D);
  ops.linearBackwardInput(ws.full, gi.dv, w["self_attn.v_proj.weight"], N, C, Gl * D);
  gi.dln1.set(enter.backward(tp, ws.full, TP_ACT));
}

/**
 * Weight gradients: g += ∂L/∂w (local shards; norm gradients partial under SP). Communication:
 * under SP only, the two norm outputs' all-gathers again (below).
 */
export function layerBackwardWeight(
  ctx: LayerContext,
  w: LayerWeights,
  g: LayerWeights,
  a: LayerActivations,
  x: Floats,
  gi: LayerWeightGradInputs,
): void {
  const { ops, tp, sp } = ctx;
  const { N, rows, C, D, Hl, Gl } = ctx.dims;
  // Under SP each norm output is all-gathered again, just before the weight gradients that read it.
  mlpBackwardWeight(ctx, g, a, gi, gatheredNormOutput(ctx, a.ln2, TP_ACT));
  normBackwardWeight(ctx, norm2(g), gi.dln2, a.res1, norm2(w), { mean: a.mean2, rstd: a.rstd2 }, rows);
  ops.linearBackwardWeight(g["self_attn.o_proj.weight"], gi.dRes1, a.attOut, N, Hl * D, C);
  // o_proj's bias was added after the exit, on this rank's rows.
  biasGrad(ctx, g["self_attn.o_proj.bias"], rowChunk(gi.dRes1, tp, sp), rows, C);
  const ln1 = gatheredNormOutput(ctx, a.ln1, TP_ACT);
  ops.linearBackwardWeight(g["self_attn.q_proj.weight"], gi.dqr, ln1, N, C, Hl * D);
  biasGrad(ctx, g["self_attn.q_proj.bias"], gi.dqr, N, Hl * D);
  ops.linearBackwardWeight(g["self_attn.k_proj.weight"], gi.dkr, ln1, N, C, Gl * D);
  biasGrad(ctx, g["self_attn.k_proj.bias"], gi.dkr, N, Gl * D);
  ops.linearBackwardWeight(g["self_attn.v_proj.weight"], gi.dv, ln1, N, C, Gl * D);
  biasGrad(ctx, g["self_attn.v_proj.bias"], gi.dv, N, Gl * D);
  normBackwardWeight(ctx, norm1(g), gi.dln1, x, norm1(w), { mean: a.mean1, rstd: a.rstd1 }, rows);
}
