/**
 * The named places where a gpt layer differs from a llama layer (src/model/config.ts); everything
 * else (the attention core, the tensor-parallel pairs, the residual stream, the head's loss) is
 * the same code. Each function here dispatches on `ctx.family` and makes only KernelCalls.
 *
 *   norm     llama: RMSNorm (weight);  gpt: LayerNorm (weight and bias), which also saves the mean
 *   mlp      llama: SwiGLU, down(silu(gate(x)) ⊙ up(x));  gpt: fc_out(gelu(fc_in(x) + b) ) with
 *            GELU's tanh approximation, as GPT-2 and Megatron-LM compute it
 *   biases   gpt only: the column-parallel layers add theirs to their output shard; the
 *            row-parallel ones (o_proj, fc_out) add theirs once, after the exit collective
 *            (`addBias` is a no-op for an absent bias, so the llama layer calls it too)
 *   position llama: RoPE on q and k inside each layer;  gpt: a learned table added to the
 *            embedding (src/model/embedding.ts), so `ctx.rope` is null
 *
 * Legend: N = B·T rows, rows = N/tp under SP else N, C hidden, Fl = F/tp.
 */
import type { Floats } from "../kernels/types.js";
import { rowChunk } from "../parallel/tensor.js";
import type { LayerActivations, LayerWeightGradInputs } from "./activations.js";
import type { LayerContext, LayerWeights } from "./layer.js";

/** A norm's parameters: LayerNorm has a bias, RMSNorm none. */
export interface NormWeights {
  weight: Floats;
  bias?: Floats;
}

/** What a norm's forward saves per row: RMSNorm rstd, LayerNorm mean and rstd. */
export interface NormStats {
  mean: Floats;
  rstd: Floats;
}

/** out[rows,C] = norm(x[rows,C]); saves s. */
export function normForward(ctx: LayerContext, out: Floats, s: NormStats, x: Floats, w: NormWeights, rows: number): void {
  const { C } = ctx.dims;
  const eps = ctx.config.rmsNormEps;
  if (ctx.family === "gpt") ctx.ops.layernormForward(out, s.mean, s.rstd, x, w.weight, w.bias!, rows, C, eps);
  else ctx.ops.rmsnormForward(out, s.rstd, x, w.weight, rows, C, eps);
}

/** dStream += ∂L/∂x through the norm, from dout: the residual's backward add fused into the norm's. */
export function normBackwardIntoStream(ctx: LayerContext, dStream: Floats, dout: Floats, x: Floats, w: NormWeights, s: NormStats, rows: number): void {
  const { C } = ctx.dims;
  if (ctx.family === "gpt") ctx.ops.layernormBackwardIntoStream(dStream, dout, x, w.weight, s.mean, s.rstd, rows, C);
  else ctx.ops.rmsnormBackwardIntoStream(dStream, dout, x, w.weight, s.rstd, rows, C);
}

/** dX += ∂L/∂x through the norm (no residual). */
export function normBackwardInput(ctx: LayerContext, dX: Floats, dout: Floats, x: Floats, w: NormWeights, s: NormStats, rows: number): void {
  const { C } = ctx.dims;
  if (ctx.family === "gpt") ctx.ops.layernormBackward(dX, null, null, dout, x, w.weight, s.mean, s.rstd, rows, C);
  else ctx.ops.rmsnormBackward(dX, null, dout, x, w.weight, s.rstd, rows, C);
}

/** g += the norm's weight (and bias) gradients from dout. */
export function normBackwardWeight(ctx: LayerContext, g: NormWeights, dout: Floats, x: Floats, w: NormWeights, s: NormStats, rows: number): void {
  const { C } = ctx.dims;
  if (ctx.family === "gpt") ctx.ops.layernormBackward(null, g.weight, g.bias!, dout, x, w.weight, s.mean, s.rstd, rows, C);
  else ctx.ops.rmsnormBackward(null, g.weight, dout, x, w.weight, s.rstd, rows, C);
}

/** out[N,O] += bias, when the layer has one. */
export function addBias(ctx: LayerContext, out: Floats, bias: Floats | undefined, N: number, O: number): void {
  if (bias) ctx.ops.biasForward(out, bias, N, O);
}

/** dbias += Σ_n dout, when the layer has a bias. */
export function biasGrad(ctx: LayerContext, dbias: Floats | undefined, dout: Floats, N: number, O: number): void {
  if (dbias) ctx.ops.biasBackward(dbias, dout, N, O);
}

/** ws.full [N,C] = this rank's partial sums of the MLP output, from the gathered norm output ln2 [N,C]. */
export function mlpForward(ctx: LayerContext, w: LayerWeights, a: LayerActivations, ln2: Floats): void {
  const { ops, ws } = ctx;
  const { N, C, Fl } = ctx.dims;
  if (ctx.family === "gpt") {
    ops.linearForward(a.up, ln2, w["mlp.fc_in.weight"], N, C, Fl);
    addBias(ctx, a.up, w["mlp.fc_in.bias"], N, Fl);
    ops.geluForward(a.act, a.up, N, Fl);
    ops.linearForward(ws.full, a.act, w["mlp.fc_out.weight"], N, Fl, C);
    return;
  }
  ops.linearForward(a.gate, ln2, w["mlp.gate_proj.weight"], N, C, Fl);
  ops.linearForward(a.up, ln2, w["mlp.up_proj.weight"], N, C, Fl);
  ops.swigluForward(a.act, a.gate, a.up, N, Fl);
  ops.linearForward(ws.full, a.act, w["mlp.down_proj.weight"], N, Fl, C);
}

/** ws.full [N,C] = this rank's partial input gradient of the MLP, from gi.dDown [N,C]; leaves gi.dgate/gi.dup. */
export function mlpBackwardInput(ctx: LayerContext, w: LayerWeights, a: LayerActivations, gi: LayerWeightGradInputs): void {
  const { ops, ws } = ctx;
  const { N, C, Fl } = ctx.dims;
  const gpt = ctx.family === "gpt";
  ws.dact.fill(0);
  ops.linearBackwardInput(ws.dact, gi.dDown, w[gpt ? "mlp.fc_out.weight" : "mlp.down_proj.weight"], N, Fl, C);
  gi.dup.fill(0);
  ws.full.fill(0);
  if (gpt) {
    ops.geluBackward(gi.dup, ws.dact, a.up, N, Fl);
    ops.linearBackwardInput(ws.full, gi.dup, w["mlp.fc_in.weight"], N, C, Fl);
    return;
  }
  gi.dgate.fill(0);
  ops.swigluBackward(gi.dgate, gi.dup, ws.dact, a.gate, a.up, N, Fl);
  ops.linearBackwardInput(ws.full, gi.dgate, w["mlp.gate_proj.weight"], N, C, Fl);
  ops.linearBackwardInput(ws.full, gi.dup, w["mlp.up_proj.weight"], N, C, Fl);
}

/** g += the MLP's weight (and bias) gradients; ln2 [N,C] is the gathered norm output. */
export function mlpBackwardWeight(ctx: LayerContext, g: LayerWeights, a: LayerActivations, gi: LayerWeightGradInputs, ln2: Floats): void {
  const { ops, tp, sp } = ctx;
  const { N, rows, C, Fl } = ctx.dims;
  if (ctx.family === "gpt") {
    ops.linearBackwardWeight(g["mlp.fc_out.weight"], gi.dDown, a.act, N, Fl, C);
    // fc_out's bias was added after the exit, on this rank's rows.
    biasGrad(ctx, g["mlp.fc_out.bias"], rowChunk(gi.dDown, tp, sp), rows, C);
    ops.linearBackwardWeight(g["mlp.fc_in.weight"], gi.dup, ln2, N, C, Fl);
    biasGrad(ctx, g["mlp.fc_in.bias"], gi.dup, N, Fl);
    return;
  }
  ops.linearBackwardWeight(g["mlp.down_proj.weight"], gi.dDown, a.act, N, Fl, C);
  ops.linearBackwardWeight(g["mlp.gate_proj.weight"], gi.dgate, ln2, N, C, Fl);
  ops.linearBackwardWeight(g["mlp.up_proj.weight"], gi.dup, ln2, N, C, Fl);
}
