/**
 * One Llama decoder layer (Hugging Face LlamaDecoderLayer) on one tensor-parallel rank
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
 * enter/exit are copyToTp/reduceFromTp, or gatherFromSp/reduceScatterToSp under SP
 * (src/parallel/tensor.ts). Query head j of rank r is global head r·Hl + j and reads kv head
 * ⌊(r·Hl + j)/(H/G)⌋ = r·Gl + ⌊j/(Hl/Gl)⌋, a local kv head, so attention needs no communication.
 *
 * Compute hooks: the work between two collectives is charged (hooks.compute) just before the
 * collective, labelled `L<i>:attn` or `L<i>:mlp` (`L<i>:W` for weight gradients), so simulated
 * time puts compute and collectives in execution order.
 */
import { attentionBackward, attentionForward } from "../kernels/attention.js";
import { attentionFlops, linearFlops, residualFlops, rmsnormFlops, ropeFlops, swigluFlops } from "../kernels/flops.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { residualForward } from "../kernels/residual.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { ropeBackward, ropeForward, type RopeTables } from "../kernels/rope.js";
import { swigluBackward, swigluForward } from "../kernels/swiglu.js";
import type { Floats } from "../kernels/types.js";
import { rowChunk, TP_ACT, type Conjugate, type TpComm } from "../parallel/tensor.js";
import type { LayerActivations, LayerWeightGradInputs } from "./activations.js";
import type { ModelConfig } from "./config.js";
import type { ModelDims } from "./flops.js";
import type { LayerTensor } from "./layout.js";

export type LayerWeights = Record<LayerTensor, Floats>;

/**
 * Observers of the model's work, for the simulated clock and for data-parallel gradient buckets.
 * `compute` is called with the FLOPs done since the previous call (before each collective and at
 * the end of each unit: the embedding, a layer's attention or MLP block, the head), so a device
 * can charge time in the order the work happens; `gradsReady` after the weight gradients of a
 * unit are complete, with the tensor names.
 */
export interface ModelHooks {
  compute(label: string, flops: number): void;
  gradsReady(names: string[]): void;
}

/**
 * Accumulates the FLOPs done since the last collective and charges them just before the next
 * one (or at `flush`), under the current label.
 */
export class Charger {
  private pending = 0;
  private label = "";
  constructor(private readonly hooks: () => ModelHooks) {}

  begin(label: string): void {
    this.flush();
    this.label = label;
  }

  add(flops: number): void {
    this.pending += flops;
  }

  flush(): void {
    if (this.pending > 0) this.hooks().compute(this.label, this.pending);
    this.pending = 0;
  }
}

/** A TpComm that charges the pending compute before every collective. */
export function chargingTpComm(tp: TpComm, charge: Charger): TpComm {
  if (tp.size === 1) return tp;
  return {
    size: tp.size,
    index: tp.index,
    allReduce(buf, kind) {
      charge.flush();
      tp.allReduce(buf, kind);
    },
    reduceScatter(buf, kind) {
      charge.flush();
      return tp.reduceScatter(buf, kind);
    },
    allGather(buf, kind) {
      charge.flush();
      tp.allGather(buf, kind);
    },
  };
}

/** Shapes, pairs, RoPE tables, scratch and the charger shared by every layer of a model. */
export interface LayerContext {
  config: ModelConfig;
  B: number;
  T: number;
  dims: ModelDims;
  sp: boolean;
  /** A charging TpComm (see chargingTpComm). */
  tp: TpComm;
  enter: Conjugate;
  exit: Conjugate;
  rope: RopeTables;
  /** Scratch: full [N,C] (partial sums), dact [N,Fl], dattOut and dq [N,Hl·D], dk [N,Gl·D]. */
  ws: Record<"full" | "dact" | "dattOut" | "dq" | "dk", Floats>;
  charge: Charger;
  /** Weight-gradient FLOPs of one layer (charged as one unit). */
  layerWeightFlops: number;
}

/** y[rows] = layer(x[rows]); saves what the backward needs in a. */
export function layerForward(ctx: LayerContext, w: LayerWeights, a: LayerActivations, x: Floats, y: Floats, label: string): void {
  const { B, T, config, tp, sp, enter, exit, charge, ws } = ctx;
  const { N, rows, C, D, Hl, Gl, Fl } = ctx.dims;
  const eps = config.rmsNormEps;
  charge.begin(`${label}:attn`);
  rmsnormForward(rowChunk(a.ln1, tp, sp), a.rstd1, x, w["input_layernorm.weight"], rows, C, eps);
  charge.add(rmsnormFlops(rows, C).forward);
  enter.forward(tp, a.ln1, TP_ACT);
  linearForward(a.q, a.ln1, w["self_attn.q_proj.weight"], N, C, Hl * D);
  linearForward(a.k, a.ln1, w["self_attn.k_proj.weight"], N, C, Gl * D);
  linearForward(a.v, a.ln1, w["self_attn.v_proj.weight"], N, C, Gl * D);
  ropeForward(a.q, a.q, ctx.rope, B, T, Hl, D);
  ropeForward(a.k, a.k, ctx.rope, B, T, Gl, D);
  attentionForward(a.attOut, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D);
  linearForward(ws.full, a.attOut, w["self_attn.o_proj.weight"], N, Hl * D, C);
  charge.add(
    linearFlops(N, C, Hl * D).forward + 2 * linearFlops(N, C, Gl * D).forward + ropeFlops(B, T, Hl, D).forward +
      ropeFlops(B, T, Gl, D).forward + attentionFlops(B, T, Hl, D).forward + linearFlops(N, Hl * D, C).forward,
  );
  const attn = exit.forward(tp, ws.full, TP_ACT);
  charge.begin(`${label}:mlp`);
  residualForward(a.res1, x, attn, rows * C);
  rmsnormForward(rowChunk(a.ln2, tp, sp), a.rstd2, a.res1, w["post_attention_layernorm.weight"], rows, C, eps);
  charge.add(residualFlops(rows * C).forward + rmsnormFlops(rows, C).forward);
  enter.forward(tp, a.ln2, TP_ACT);
  linearForward(a.gate, a.ln2, w["mlp.gate_proj.weight"], N, C, Fl);
  linearForward(a.up, a.ln2, w["mlp.up_proj.weight"], N, C, Fl);
  swigluForward(a.act, a.gate, a.up, N * Fl);
  linearForward(ws.full, a.act, w["mlp.down_proj.weight"], N, Fl, C);
  charge.add(2 * linearFlops(N, C, Fl).forward + swigluFlops(N, Fl).forward + linearFlops(N, Fl, C).forward);
  const mlp = exit.forward(tp, ws.full, TP_ACT);
  residualForward(y, a.res1, mlp, rows * C);
  charge.add(residualFlops(rows * C).forward);
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
  const { B, T, tp, sp, enter, exit, charge, ws } = ctx;
  const { N, rows, C, D, Hl, Gl, Fl } = ctx.dims;
  charge.begin(`${label}:mlp`);
  // MLP branch: the gradient of the down_proj output is dY on every row (gathered under SP).
  rowChunk(gi.dDown, tp, sp).set(dY);
  exit.backward(tp, gi.dDown, TP_ACT);
  ws.dact.fill(0);
  linearBackwardInput(ws.dact, gi.dDown, w["mlp.down_proj.weight"], N, Fl, C);
  gi.dgate.fill(0);
  gi.dup.fill(0);
  swigluBackward(gi.dgate, gi.dup, ws.dact, a.gate, a.up, N * Fl);
  ws.full.fill(0);
  linearBackwardInput(ws.full, gi.dgate, w["mlp.gate_proj.weight"], N, C, Fl);
  linearBackwardInput(ws.full, gi.dup, w["mlp.up_proj.weight"], N, C, Fl);
  charge.add(linearFlops(N, Fl, C).backwardInput + swigluFlops(N, Fl).backwardInput + 2 * linearFlops(N, C, Fl).backwardInput);
  gi.dln2.set(enter.backward(tp, ws.full, TP_ACT));
  const dRes1 = dY; // residual path: dRes1 = dY + the norm's input gradient
  rmsnormBackward(dRes1, null, gi.dln2, a.res1, w["post_attention_layernorm.weight"], a.rstd2, rows, C);
  charge.add(rmsnormFlops(rows, C).backwardInput + residualFlops(rows * C).backwardInput);
  // Attention branch.
  charge.begin(`${label}:attn`);
  rowChunk(gi.dRes1, tp, sp).set(dRes1);
  exit.backward(tp, gi.dRes1, TP_ACT);
  ws.dattOut.fill(0);
  linearBackwardInput(ws.dattOut, gi.dRes1, w["self_attn.o_proj.weight"], N, Hl * D, C);
  ws.dq.fill(0);
  ws.dk.fill(0);
  gi.dv.fill(0);
  attentionBackward(ws.dq, ws.dk, gi.dv, ws.dattOut, a.att, a.q, a.k, a.v, B, T, Hl, Gl, D);
  gi.dqr.fill(0);
  gi.dkr.fill(0);
  ropeBackward(gi.dqr, ws.dq, ctx.rope, B, T, Hl, D);
  ropeBackward(gi.dkr, ws.dk, ctx.rope, B, T, Gl, D);
  ws.full.fill(0);
  linearBackwardInput(ws.full, gi.dqr, w["self_attn.q_proj.weight"], N, C, Hl * D);
  linearBackwardInput(ws.full, gi.dkr, w["self_attn.k_proj.weight"], N, C, Gl * D);
  linearBackwardInput(ws.full, gi.dv, w["self_attn.v_proj.weight"], N, C, Gl * D);
  charge.add(
    linearFlops(N, Hl * D, C).backwardInput + attentionFlops(B, T, Hl, D).backwardInput + ropeFlops(B, T, Hl, D).backwardInput +
      ropeFlops(B, T, Gl, D).backwardInput + linearFlops(N, C, Hl * D).backwardInput + 2 * linearFlops(N, C, Gl * D).backwardInput,
  );
  gi.dln1.set(enter.backward(tp, ws.full, TP_ACT));
  dX.set(dRes1);
  rmsnormBackward(dX, null, gi.dln1, x, w["input_layernorm.weight"], a.rstd1, rows, C);
  charge.add(rmsnormFlops(rows, C).backwardInput + residualFlops(rows * C).backwardInput);
}

/** Weight gradients: g += ∂L/∂w (local shards; norm gradients partial under SP). No communication. */
export function layerBackwardWeight(
  ctx: LayerContext,
  w: LayerWeights,
  g: LayerWeights,
  a: LayerActivations,
  x: Floats,
  gi: LayerWeightGradInputs,
): void {
  const { N, rows, C, D, Hl, Gl, Fl } = ctx.dims;
  linearBackwardWeight(g["mlp.down_proj.weight"], gi.dDown, a.act, N, Fl, C);
  linearBackwardWeight(g["mlp.gate_proj.weight"], gi.dgate, a.ln2, N, C, Fl);
  linearBackwardWeight(g["mlp.up_proj.weight"], gi.dup, a.ln2, N, C, Fl);
  rmsnormBackward(null, g["post_attention_layernorm.weight"], gi.dln2, a.res1, w["post_attention_layernorm.weight"], a.rstd2, rows, C);
  linearBackwardWeight(g["self_attn.o_proj.weight"], gi.dRes1, a.attOut, N, Hl * D, C);
  linearBackwardWeight(g["self_attn.q_proj.weight"], gi.dqr, a.ln1, N, C, Hl * D);
  linearBackwardWeight(g["self_attn.k_proj.weight"], gi.dkr, a.ln1, N, C, Gl * D);
  linearBackwardWeight(g["self_attn.v_proj.weight"], gi.dv, a.ln1, N, C, Gl * D);
  rmsnormBackward(null, g["input_layernorm.weight"], gi.dln1, x, w["input_layernorm.weight"], a.rstd1, rows, C);
  ctx.charge.add(ctx.layerWeightFlops);
}
