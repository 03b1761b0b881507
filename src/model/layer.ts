/**
 * One Llama decoder layer (Hugging Face LlamaDecoderLayer): forward, input-gradient pass and
 * weight-gradient pass, as free functions over the layer's weights and saved activations.
 *
 * Legend: B batch, T time, N = B·T rows, C hidden, H heads, G kv heads, D head size,
 * F intermediate.
 *
 * x → RMSNorm → q/k/v projections → RoPE on q, k → causal GQA attention → o_proj → + x = res1;
 * res1 → RMSNorm → down(silu(gate(·)) ⊙ up(·)) → + res1 = y.
 */
import { attentionBackward, attentionForward } from "../kernels/attention.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { residualForward } from "../kernels/residual.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { ropeBackward, ropeForward, type RopeTables } from "../kernels/rope.js";
import { swigluBackward, swigluForward } from "../kernels/swiglu.js";
import type { Floats } from "../kernels/types.js";
import type { LayerActivations, LayerWeightGradInputs } from "./activations.js";
import type { ModelConfig } from "./config.js";
import type { LayerTensor } from "./layout.js";

export type LayerWeights = Record<LayerTensor, Floats>;

/** Shapes, RoPE tables and scratch buffers shared by every layer of a model. */
export interface LayerContext {
  config: ModelConfig;
  B: number;
  T: number;
  N: number;
  D: number;
  rope: RopeTables;
  /** Scratch: projC [N,C], dact [N,F], dattOut [N,H·D], dq [N,H·D], dk [N,G·D]. */
  ws: Record<"projC" | "dact" | "dattOut" | "dq" | "dk", Floats>;
}

/** y = layer(x); saves what the backward needs in a. */
export function layerForward(ctx: LayerContext, w: LayerWeights, a: LayerActivations, x: Floats, y: Floats): void {
  const { B, T, N, D, config } = ctx;
  const C = config.hiddenSize, H = config.numHeads, G = config.numKvHeads, F = config.intermediateSize;
  const projC = ctx.ws.projC;
  rmsnormForward(a.ln1, a.rstd1, x, w["input_layernorm.weight"], N, C, config.rmsNormEps);
  linearForward(a.q, a.ln1, w["self_attn.q_proj.weight"], N, C, H * D);
  linearForward(a.k, a.ln1, w["self_attn.k_proj.weight"], N, C, G * D);
  linearForward(a.v, a.ln1, w["self_attn.v_proj.weight"], N, C, G * D);
  ropeForward(a.q, a.q, ctx.rope, B, T, H, D);
  ropeForward(a.k, a.k, ctx.rope, B, T, G, D);
  attentionForward(a.attOut, a.att, a.q, a.k, a.v, B, T, H, G, D);
  linearForward(projC, a.attOut, w["self_attn.o_proj.weight"], N, H * D, C);
  residualForward(a.res1, x, projC, N * C);
  rmsnormForward(a.ln2, a.rstd2, a.res1, w["post_attention_layernorm.weight"], N, C, config.rmsNormEps);
  linearForward(a.gate, a.ln2, w["mlp.gate_proj.weight"], N, C, F);
  linearForward(a.up, a.ln2, w["mlp.up_proj.weight"], N, C, F);
  swigluForward(a.act, a.gate, a.up, N * F);
  linearForward(projC, a.act, w["mlp.down_proj.weight"], N, F, C);
  residualForward(y, a.res1, projC, N * C);
}

/**
 * Input gradients: dX = ∂L/∂x (overwritten) from dY = ∂L/∂y (clobbered). The upstream
 * gradients of the layer's weights are left in gi for layerBackwardWeight.
 */
export function layerBackwardInput(
  ctx: LayerContext,
  w: LayerWeights,
  a: LayerActivations,
  x: Floats,
  dX: Floats,
  dY: Floats,
  gi: LayerWeightGradInputs,
): void {
  const { B, T, N, D, config, ws } = ctx;
  const C = config.hiddenSize, H = config.numHeads, G = config.numKvHeads, F = config.intermediateSize;
  // MLP branch: dY flows to res1 directly and through down(swiglu(gate, up)(norm(res1))).
  gi.dDown.set(dY);
  ws.dact.fill(0);
  linearBackwardInput(ws.dact, dY, w["mlp.down_proj.weight"], N, F, C);
  gi.dgate.fill(0);
  gi.dup.fill(0);
  swigluBackward(gi.dgate, gi.dup, ws.dact, a.gate, a.up, N * F);
  gi.dln2.fill(0);
  linearBackwardInput(gi.dln2, gi.dgate, w["mlp.gate_proj.weight"], N, C, F);
  linearBackwardInput(gi.dln2, gi.dup, w["mlp.up_proj.weight"], N, C, F);
  const dRes1 = dY; // residual path: dRes1 = dY + the norm's input gradient
  rmsnormBackward(dRes1, null, gi.dln2, a.res1, w["post_attention_layernorm.weight"], a.rstd2, N, C);
  gi.dRes1.set(dRes1);
  // Attention branch.
  ws.dattOut.fill(0);
  linearBackwardInput(ws.dattOut, dRes1, w["self_attn.o_proj.weight"], N, H * D, C);
  ws.dq.fill(0);
  ws.dk.fill(0);
  gi.dv.fill(0);
  attentionBackward(ws.dq, ws.dk, gi.dv, ws.dattOut, a.att, a.q, a.k, a.v, B, T, H, G, D);
  gi.dqr.fill(0);
  gi.dkr.fill(0);
  ropeBackward(gi.dqr, ws.dq, ctx.rope, B, T, H, D);
  ropeBackward(gi.dkr, ws.dk, ctx.rope, B, T, G, D);
  gi.dln1.fill(0);
  linearBackwardInput(gi.dln1, gi.dqr, w["self_attn.q_proj.weight"], N, C, H * D);
  linearBackwardInput(gi.dln1, gi.dkr, w["self_attn.k_proj.weight"], N, C, G * D);
  linearBackwardInput(gi.dln1, gi.dv, w["self_attn.v_proj.weight"], N, C, G * D);
  dX.set(dRes1);
  rmsnormBackward(dX, null, gi.dln1, x, w["input_layernorm.weight"], a.rstd1, N, C);
}

/** Weight gradients: g += ∂L/∂w from the saved activations and gi. */
export function layerBackwardWeight(
  ctx: LayerContext,
  w: LayerWeights,
  g: LayerWeights,
  a: LayerActivations,
  x: Floats,
  gi: LayerWeightGradInputs,
): void {
  const { N, D, config } = ctx;
  const C = config.hiddenSize, H = config.numHeads, G = config.numKvHeads, F = config.intermediateSize;
  linearBackwardWeight(g["mlp.down_proj.weight"], gi.dDown, a.act, N, F, C);
  linearBackwardWeight(g["mlp.gate_proj.weight"], gi.dgate, a.ln2, N, C, F);
  linearBackwardWeight(g["mlp.up_proj.weight"], gi.dup, a.ln2, N, C, F);
  rmsnormBackward(null, g["post_attention_layernorm.weight"], gi.dln2, a.res1, w["post_attention_layernorm.weight"], a.rstd2, N, C);
  linearBackwardWeight(g["self_attn.o_proj.weight"], gi.dRes1, a.attOut, N, H * D, C);
  linearBackwardWeight(g["self_attn.q_proj.weight"], gi.dqr, a.ln1, N, C, H * D);
  linearBackwardWeight(g["self_attn.k_proj.weight"], gi.dkr, a.ln1, N, C, G * D);
  linearBackwardWeight(g["self_attn.v_proj.weight"], gi.dv, a.ln1, N, C, G * D);
  rmsnormBackward(null, g["input_layernorm.weight"], gi.dln1, x, w["input_layernorm.weight"], a.rstd1, N, C);
}
