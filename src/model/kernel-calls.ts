/**
 * The kernels as the model calls them. Every call first charges its own cost function
 * (src/kernels/cost.ts: launches with FLOPs, bytes and GEMM shapes; the FLOPs are
 * src/kernels/flops.ts' counts) to the pending compute, then runs the kernel, so a layer reads as
 * a flat list of kernel calls and what a model charges is, by construction, the sum of its
 * kernels' costs: there is no second formula to keep in step. With `computes = false` the same
 * calls charge the same costs and compute nothing (the buffers may then be empty): that is how
 * src/model/flops.ts counts a model's FLOPs, by running it.
 *
 * Charges accumulate in a Charger and reach the device (ModelHooks.compute) just before the next
 * collective, so simulated time puts compute and communication in execution order. The device
 * prices the launches with its roofline (src/sim/roofline.ts); bytes are counted at the element
 * width of the dtype activations are stored in (4 for fp32, 2 for bf16 and fp16).
 */
import { attentionBackward, attentionForward } from "../kernels/attention.js";
import { flashAttentionBackward, flashAttentionForward } from "../kernels/flash-attention.js";
import { sparseAttentionBackward, sparseAttentionForward } from "../kernels/sparse-attention.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import {
  attentionCost,
  biasCost,
  biasDropoutAddCost,
  crossEntropyCost,
  dropoutCost,
  embeddingCost,
  flashAttentionCost,
  geluCost,
  layernormCost,
  linearCost,
  residualCost,
  rmsnormCost,
  ropeCost,
  sparseAttentionCost,
  swigluCost,
} from "../kernels/cost.js";
import { biasBackward, biasForward, positionEmbeddingBackward, positionEmbeddingForward } from "../kernels/bias.js";
import { geluBackward, geluForward } from "../kernels/gelu.js";
import { layernormBackward, layernormForward } from "../kernels/layernorm.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { residualForward } from "../kernels/residual.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { ropeBackward, ropeForward, type RopeTables } from "../kernels/rope.js";
import { swigluBackward, swigluForward } from "../kernels/swiglu.js";
import { DTYPE_BYTES, storeAs, type Dtype } from "../kernels/round.js";
import type { Floats } from "../kernels/types.js";
import type { Charger } from "./charger.js";
import { invariant } from "../errors.js";
import {
  vocabCrossEntropyBackward,
  vocabCrossEntropyFinish,
  vocabCrossEntropyStats,
  vocabEmbeddingBackward,
  vocabEmbeddingForward,
} from "../parallel/tp-vocab.js";

// The charging seam lives in charger.ts; the model imports it from here with the kernels.
export { Charger, chargingTpComm, type ModelHooks } from "./charger.js";

/** The dtypes kernel outputs are stored in: activations and their gradients, and weight gradients. */
export interface StoreDtypes {
  activations: Dtype;
  grads: Dtype;
}

const FP32_STORE: StoreDtypes = { activations: "fp32", grads: "fp32" };

/**
 * Each method: the kernel of the same name (same arguments, same order: outputs, saved buffers,
 * inputs, dimensions), preceded by its charge. Legend as in src/kernels: N rows, K input and O
 * output features, C hidden, B batch, T time, H/G query/kv heads, D head size, F intermediate.
 *
 * Mixed precision: each kernel runs as a fused GPU kernel does, accumulating in float32 or wider,
 * and stores what it writes (src/kernels/round.ts): activations and their gradients in
 * `store.activations`, weight gradients in `store.grads`. Statistics (the norms' mean and rstd,
 * flash's log-sum-exp, the cross-entropy's probabilities and losses) stay float32, as Megatron-LM's.
 */
export class KernelCalls {
  /** Bytes per element of activations and weights, for the kernels' memory traffic. */
  private readonly e: number;
  /** Bytes per element of the weight gradients the backward accumulates into. */
  private readonly g: number;
  constructor(
    private readonly charge: Charger,
    /** False: charge only (shapes-only runs and FLOP counting). */
    readonly computes = true,
    private readonly store: StoreDtypes = FP32_STORE,
  ) {
    this.e = DTYPE_BYTES[store.activations];
    this.g = DTYPE_BYTES[store.grads];
  }

  /** Stores kernel outputs that are activations or activation gradients. */
  private act(...bufs: (Floats | null)[]): void {
    for (const b of bufs) if (b) storeAs(this.store.activations, b);
  }

  /** Stores a weight gradient. */
  private grad(buf: Floats | null): void {
    if (buf) storeAs(this.store.grads, buf);
  }

  linearForward(out: Floats, inp: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e).forward);
    if (this.computes) { linearForward(out, inp, weight, N, K, O); this.act(out); }
  }

  linearBackwardInput(dinp: Floats, dout: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e).backwardInput);
    if (this.computes) { linearBackwardInput(dinp, dout, weight, N, K, O); this.act(dinp); }
  }

  linearBackwardWeight(dweight: Floats, dout: Floats, inp: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e, this.g).backwardWeight);
    if (this.computes) { linearBackwardWeight(dweight, dout, inp, N, K, O); this.grad(dweight); }
  }

  rmsnormForward(out: Floats, rstd: Floats, inp: Floats, weight: Floats, N: number, C: number, eps: number): void {
    this.charge.add(rmsnormCost(N, C, this.e).forward);
    if (this.computes) { rmsnormForward(out, rstd, inp, weight, N, C, eps); this.act(out); }
  }

  /** Either gradient may be null; each one computed is charged. */
  rmsnormBackward(dinp: Floats | null, dweight: Floats | null, dout: Floats, inp: Floats, weight: Floats, rstd: Floats, N: number, C: number): void {
    const cost = rmsnormCost(N, C, this.e, this.g);
    if (dinp) this.charge.add(cost.backwardInput);
    if (dweight) this.charge.add(cost.backwardWeight);
    if (this.computes) { rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, N, C); this.act(dinp); this.grad(dweight); }
  }

  /**
   * dStream += the norm's input gradient: the residual connection's backward add, fused into the
   * norm's backward (which accumulates), so it costs the norm's input gradient plus one add per element.
   */
  rmsnormBackwardIntoStream(dStream: Floats, dout: Floats, inp: Floats, weight: Floats, rstd: Floats, N: number, C: number): void {
    this.charge.add(residualCost(N * C, this.e).backwardInput);
    this.rmsnormBackward(dStream, null, dout, inp, weight, rstd, N, C);
  }

  layernormForward(out: Floats, mean: Floats, rstd: Floats, inp: Floats, weight: Floats, bias: Floats, N: number, C: number, eps: number): void {
    this.charge.add(layernormCost(N, C, this.e).forward);
    if (this.computes) { layernormForward(out, mean, rstd, inp, weight, bias, N, C, eps); this.act(out); }
  }

  /** The input gradient (dinp, may be null) and the weight and bias gradients (both null or both set); each one computed is charged. */
  layernormBackward(
    dinp: Floats | null, dweight: Floats | null, dbias: Floats | null, dout: Floats, inp: Floats, weight: Floats, mean: Floats, rstd: Floats,
    N: number, C: number,
  ): void {
    const cost = layernormCost(N, C, this.e, this.g);
    if (dinp) this.charge.add(cost.backwardInput);
    if (dweight) this.charge.add(cost.backwardWeight);
    if (this.computes) { layernormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C); this.act(dinp); this.grad(dweight); this.grad(dbias); }
  }

  /** As rmsnormBackwardIntoStream, for LayerNorm. */
  layernormBackwardIntoStream(dStream: Floats, dout: Floats, inp: Floats, weight: Floats, mean: Floats, rstd: Floats, N: number, C: number): void {
    this.charge.add(residualCost(N * C, this.e).backwardInput);
    this.layernormBackward(dStream, null, null, dout, inp, weight, mean, rstd, N, C);
  }

  /** out[N,O] += bias. */
  biasForward(out: Floats, bias: Floats, N: number, O: number): void {
    this.charge.add(biasCost(N, O, this.e).forward);
    if (this.computes) { biasForward(out, bias, N, O); this.act(out); }
  }

  biasBackward(dbias: Floats, dout: Floats, N: number, O: number): void {
    this.charge.add(biasCost(N, O, this.e, this.g).backwardWeight);
    if (this.computes) { biasBackward(dbias, dout, N, O); this.grad(dbias); }
  }

  /** out[rows,C] += the position table's row of each row's position (rows from firstRow of a [B·T,C] activation). */
  positionEmbeddingForward(out: Floats, table: Floats, firstRow: number, rows: number, T: number, C: number): void {
    this.charge.add(biasCost(rows, C, this.e).forward);
    if (this.computes) { positionEmbeddingForward(out, table, firstRow, rows, T, C); this.act(out); }
  }

  positionEmbeddingBackward(dtable: Floats, dout: Floats, firstRow: number, rows: number, T: number, C: number): void {
    this.charge.add(biasCost(rows, C, this.e, this.g).backwardWeight);
    if (this.computes) { positionEmbeddingBackward(dtable, dout, firstRow, rows, T, C); this.grad(dtable); }
  }

  /** GELU (tanh approximation) over [N,F]. */
  geluForward(out: Floats, inp: Floats, N: number, F: number): void {
    this.charge.add(geluCost(N, F, this.e).forward);
    if (this.computes) { geluForward(out, inp, N * F); this.act(out); }
  }

  geluBackward(dinp: Floats, dout: Floats, inp: Floats, N: number, F: number): void {
    this.charge.add(geluCost(N, F, this.e).backwardInput);
    if (this.computes) { geluBackward(dinp, dout, inp, N * F); this.act(dinp); }
  }

  residualForward(out: Floats, a: Floats, b: Floats, n: number): void {
    this.charge.add(residualCost(n, this.e).forward);
    if (this.computes) { residualForward(out, a, b, n); this.act(out); }
  }

  /**
   * Dropout over n elements (the attention probabilities, the embedding output). Charged only:
   * parasim's real kernels compute no dropout, so a model that computes never calls it (the
   * scenario refuses model.dropout in real mode).
   */
  dropoutForward(n: number): void {
    this.chargeOnly(dropoutCost(n, this.e).forward);
  }

  /** The gradient through a dropout over n elements (also the branch's gradient of a bias-dropout-add). */
  dropoutBackward(n: number): void {
    this.chargeOnly(dropoutCost(n, this.e).backwardInput);
  }

  /** out[N,C] = residual + dropout(x + bias) in one kernel (biasDropoutAddCost); charged only, as dropoutForward. */
  biasDropoutAdd(N: number, C: number, bias: boolean): void {
    this.chargeOnly(biasDropoutAddCost(N, C, bias, this.e).forward);
  }

  private chargeOnly(launches: Parameters<Charger["add"]>[0]): void {
    invariant(!this.computes, "dropout has no real-mode kernel: only shapes mode charges it");
    this.charge.add(launches);
  }

  ropeForward(out: Floats, inp: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeCost(B, T, NH, D, this.e).forward);
    if (this.computes) { ropeForward(out, inp, tables, B, T, NH, D); this.act(out); }
  }

  ropeBackward(dinp: Floats, dout: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeCost(B, T, NH, D, this.e).backwardInput);
    if (this.computes) { ropeBackward(dinp, dout, tables, B, T, NH, D); this.act(dinp); }
  }

  attentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(attentionCost(B, T, H, G, D, this.e).forward);
    if (this.computes) { attentionForward(out, att, q, k, v, B, T, H, G, D); this.act(out, att); }
  }

  attentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(attentionCost(B, T, H, G, D, this.e).backwardInput);
    if (this.computes) { attentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D); this.act(dq, dk, dv); }
  }

  /** Flash attention: the same output as attentionForward; keeps each row's log-sum-exp instead of the probabilities. */
  flashAttentionForward(out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(flashAttentionCost(B, T, H, G, D, this.e).forward);
    if (this.computes) { flashAttentionForward(out, lse, q, k, v, B, T, H, G, D); this.act(out); }
  }

  /** Recomputes the probabilities from q, k and lse, block by block, and accumulates dq, dk, dv. */
  flashAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(flashAttentionCost(B, T, H, G, D, this.e).backwardInput);
    if (this.computes) { flashAttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, G, D); this.act(dq, dk, dv); }
  }

  /** Block-sparse causal attention (Child et al. 2019): only the pattern's blocks are computed and charged. */
  sparseAttentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern): void {
    this.charge.add(sparseAttentionCost(B, T, H, G, D, pattern, this.e).forward);
    if (this.computes) { sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern); this.act(out, att); }
  }

  sparseAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern,
  ): void {
    this.charge.add(sparseAttentionCost(B, T, H, G, D, pattern, this.e).backwardInput);
    if (this.computes) { sparseAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, pattern); this.act(dq, dk, dv); }
  }

  /** SwiGLU over [N,F] (gate and up). */
  swigluForward(out: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluCost(N, F, this.e).forward);
    if (this.computes) { swigluForward(out, gate, up, N * F); this.act(out); }
  }

  swigluBackward(dgate: Floats, dup: Floats, dout: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluCost(N, F, this.e).backwardInput);
    if (this.computes) { swigluBackward(dgate, dup, dout, gate, up, N * F); this.act(dgate, dup); }
  }

  /**
   * The vocabulary-parallel embedding lookup (this rank's rows [vStart, vStart+Vl) of V). It is
   * charged as the single device's lookup over all N rows, since which rows fall in a rank's
   * range depends on the data and the clock must not.
   */
  embeddingForward(out: Floats, tokens: Int32Array, table: Floats, N: number, C: number, V: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingCost(N, C, this.e).forward);
    if (this.computes) { vocabEmbeddingForward(out, tokens, table, N, C, V, vStart, Vl); this.act(out); }
  }

  /** The embedding's weight gradient (a scatter-add), charged over all N rows as the forward is. */
  embeddingBackward(dtable: Floats, dout: Floats, tokens: Int32Array, N: number, C: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingCost(N, C, this.e, this.g).backwardWeight);
    if (this.computes) { vocabEmbeddingBackward(dtable, dout, tokens, N, C, vStart, Vl); this.grad(dtable); }
  }

  /**
   * The cross-entropy's per-row statistics over this rank's vocabulary slice. Charged with the
   * whole forward cross-entropy: its final normalising pass (crossEntropyFinish) runs after the
   * statistics' all-gather, but its FLOPs are in the same per-logit constant.
   */
  crossEntropyStats(mine: Float64Array, logits: Floats, targets: Int32Array, N: number, V: number, vStart: number, Vl: number): void {
    this.charge.add(crossEntropyCost(N, Vl, this.e).forward);
    if (this.computes) vocabCrossEntropyStats(mine, logits, targets, N, V, vStart, Vl);
  }

  /** Charged in crossEntropyStats. */
  crossEntropyFinish(losses: Floats, probs: Floats, logits: Floats, all: Float64Array, N: number, Vl: number, tp: number): void {
    if (this.computes) vocabCrossEntropyFinish(losses, probs, logits, all, N, Vl, tp);
  }

  crossEntropyBackward(dlogits: Floats, probs: Floats, targets: Int32Array, scale: number, N: number, vStart: number, Vl: number): void {
    this.charge.add(crossEntropyCost(N, Vl, this.e).backwardInput);
    if (this.computes) { vocabCrossEntropyBackward(dlogits, probs, targets, scale, N, vStart, Vl); this.act(dlogits); }
  }
}
