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
 * size the KernelCalls was given (the cost dtype's width, 4 for fp32).
 */
import { attentionBackward, attentionForward } from "../kernels/attention.js";
import { flashAttentionBackward, flashAttentionForward } from "../kernels/flash-attention.js";
import { sparseAttentionBackward, sparseAttentionForward } from "../kernels/sparse-attention.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import {
  attentionCost,
  biasCost,
  crossEntropyCost,
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
import type { Floats } from "../kernels/types.js";
import type { TpComm } from "../parallel/tensor.js";
import type { Launch } from "../sim/roofline.js";
import {
  vocabCrossEntropyBackward,
  vocabCrossEntropyFinish,
  vocabCrossEntropyStats,
  vocabEmbeddingBackward,
  vocabEmbeddingForward,
} from "../parallel/tp-vocab.js";

/**
 * Observers of the model's work, for the simulated clock and for data-parallel gradient buckets.
 * `compute` is called with the FLOPs done since the previous call and the kernel launches that
 * did them (before each collective and at the end of each unit: the embedding, a layer's
 * attention or MLP block, the head), so a device can charge time in the order the work happens;
 * `gradsReady` after the weight gradients of a unit are complete, with the tensor names.
 */
export interface ModelHooks {
  compute(label: string, flops: number, launches: readonly Launch[]): void;
  gradsReady(names: string[]): void;
}

/**
 * Accumulates the launches done since the last collective and charges them just before the next
 * one (or at `flush`), under the current label.
 */
export class Charger {
  private pending = 0;
  private launches: Launch[] = [];
  private label = "";
  constructor(private readonly hooks: () => ModelHooks) {}

  begin(label: string): void {
    this.flush();
    this.label = label;
  }

  /** Adds kernel launches (src/kernels/cost.ts). */
  add(launches: readonly Launch[]): void {
    for (const l of launches) {
      this.pending += l.flops;
      this.launches.push(l);
    }
  }

  flush(): void {
    if (this.pending > 0) this.hooks().compute(this.label, this.pending, this.launches);
    this.pending = 0;
    this.launches = [];
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

/**
 * Each method: the kernel of the same name (same arguments, same order: outputs, saved buffers,
 * inputs, dimensions), preceded by its charge. Legend as in src/kernels: N rows, K input and O
 * output features, C hidden, B batch, T time, H/G query/kv heads, D head size, F intermediate.
 */
export class KernelCalls {
  constructor(
    private readonly charge: Charger,
    /** False: charge only (shapes-only runs and FLOP counting). */
    readonly computes = true,
    /** Bytes per element of activations and weights (the cost dtype's width). */
    private readonly e = 4,
  ) {}

  linearForward(out: Floats, inp: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e).forward);
    if (this.computes) linearForward(out, inp, weight, N, K, O);
  }

  linearBackwardInput(dinp: Floats, dout: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e).backwardInput);
    if (this.computes) linearBackwardInput(dinp, dout, weight, N, K, O);
  }

  linearBackwardWeight(dweight: Floats, dout: Floats, inp: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearCost(N, K, O, this.e).backwardWeight);
    if (this.computes) linearBackwardWeight(dweight, dout, inp, N, K, O);
  }

  rmsnormForward(out: Floats, rstd: Floats, inp: Floats, weight: Floats, N: number, C: number, eps: number): void {
    this.charge.add(rmsnormCost(N, C, this.e).forward);
    if (this.computes) rmsnormForward(out, rstd, inp, weight, N, C, eps);
  }

  /** Either gradient may be null; each one computed is charged. */
  rmsnormBackward(dinp: Floats | null, dweight: Floats | null, dout: Floats, inp: Floats, weight: Floats, rstd: Floats, N: number, C: number): void {
    const cost = rmsnormCost(N, C, this.e);
    if (dinp) this.charge.add(cost.backwardInput);
    if (dweight) this.charge.add(cost.backwardWeight);
    if (this.computes) rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, N, C);
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
    if (this.computes) layernormForward(out, mean, rstd, inp, weight, bias, N, C, eps);
  }

  /** The input gradient (dinp, may be null) and the weight and bias gradients (both null or both set); each one computed is charged. */
  layernormBackward(
    dinp: Floats | null, dweight: Floats | null, dbias: Floats | null, dout: Floats, inp: Floats, weight: Floats, mean: Floats, rstd: Floats,
    N: number, C: number,
  ): void {
    const cost = layernormCost(N, C, this.e);
    if (dinp) this.charge.add(cost.backwardInput);
    if (dweight) this.charge.add(cost.backwardWeight);
    if (this.computes) layernormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  }

  /** As rmsnormBackwardIntoStream, for LayerNorm. */
  layernormBackwardIntoStream(dStream: Floats, dout: Floats, inp: Floats, weight: Floats, mean: Floats, rstd: Floats, N: number, C: number): void {
    this.charge.add(residualCost(N * C, this.e).backwardInput);
    this.layernormBackward(dStream, null, null, dout, inp, weight, mean, rstd, N, C);
  }

  /** out[N,O] += bias. */
  biasForward(out: Floats, bias: Floats, N: number, O: number): void {
    this.charge.add(biasCost(N, O, this.e).forward);
    if (this.computes) biasForward(out, bias, N, O);
  }

  biasBackward(dbias: Floats, dout: Floats, N: number, O: number): void {
    this.charge.add(biasCost(N, O, this.e).backwardWeight);
    if (this.computes) biasBackward(dbias, dout, N, O);
  }

  /** out[rows,C] += the position table's row of each row's position (rows from firstRow of a [B·T,C] activation). */
  positionEmbeddingForward(out: Floats, table: Floats, firstRow: number, rows: number, T: number, C: number): void {
    this.charge.add(biasCost(rows, C, this.e).forward);
    if (this.computes) positionEmbeddingForward(out, table, firstRow, rows, T, C);
  }

  positionEmbeddingBackward(dtable: Floats, dout: Floats, firstRow: number, rows: number, T: number, C: number): void {
    this.charge.add(biasCost(rows, C, this.e).backwardWeight);
    if (this.computes) positionEmbeddingBackward(dtable, dout, firstRow, rows, T, C);
  }

  /** GELU (tanh approximation) over [N,F]. */
  geluForward(out: Floats, inp: Floats, N: number, F: number): void {
    this.charge.add(geluCost(N, F, this.e).forward);
    if (this.computes) geluForward(out, inp, N * F);
  }

  geluBackward(dinp: Floats, dout: Floats, inp: Floats, N: number, F: number): void {
    this.charge.add(geluCost(N, F, this.e).backwardInput);
    if (this.computes) geluBackward(dinp, dout, inp, N * F);
  }

  residualForward(out: Floats, a: Floats, b: Floats, n: number): void {
    this.charge.add(residualCost(n, this.e).forward);
    if (this.computes) residualForward(out, a, b, n);
  }

  ropeForward(out: Floats, inp: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeCost(B, T, NH, D, this.e).forward);
    if (this.computes) ropeForward(out, inp, tables, B, T, NH, D);
  }

  ropeBackward(dinp: Floats, dout: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeCost(B, T, NH, D, this.e).backwardInput);
    if (this.computes) ropeBackward(dinp, dout, tables, B, T, NH, D);
  }

  attentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(attentionCost(B, T, H, G, D, this.e).forward);
    if (this.computes) attentionForward(out, att, q, k, v, B, T, H, G, D);
  }

  attentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(attentionCost(B, T, H, G, D, this.e).backwardInput);
    if (this.computes) attentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D);
  }

  /** Flash attention: the same output as attentionForward; keeps each row's log-sum-exp instead of the probabilities. */
  flashAttentionForward(out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(flashAttentionCost(B, T, H, G, D, this.e).forward);
    if (this.computes) flashAttentionForward(out, lse, q, k, v, B, T, H, G, D);
  }

  /** Recomputes the probabilities from q, k and lse, block by block, and accumulates dq, dk, dv. */
  flashAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(flashAttentionCost(B, T, H, G, D, this.e).backwardInput);
    if (this.computes) flashAttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, G, D);
  }

  /** Block-sparse causal attention (Child et al. 2019): only the pattern's blocks are computed and charged. */
  sparseAttentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern): void {
    this.charge.add(sparseAttentionCost(B, T, H, G, D, pattern, this.e).forward);
    if (this.computes) sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern);
  }

  sparseAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern,
  ): void {
    this.charge.add(sparseAttentionCost(B, T, H, G, D, pattern, this.e).backwardInput);
    if (this.computes) sparseAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, pattern);
  }

  /** SwiGLU over [N,F] (gate and up). */
  swigluForward(out: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluCost(N, F, this.e).forward);
    if (this.computes) swigluForward(out, gate, up, N * F);
  }

  swigluBackward(dgate: Floats, dup: Floats, dout: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluCost(N, F, this.e).backwardInput);
    if (this.computes) swigluBackward(dgate, dup, dout, gate, up, N * F);
  }

  /**
   * The vocabulary-parallel embedding lookup (this rank's rows [vStart, vStart+Vl) of V). It is
   * charged as the single device's lookup over all N rows, since which rows fall in a rank's
   * range depends on the data and the clock must not.
   */
  embeddingForward(out: Floats, tokens: Int32Array, table: Floats, N: number, C: number, V: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingCost(N, C, this.e).forward);
    if (this.computes) vocabEmbeddingForward(out, tokens, table, N, C, V, vStart, Vl);
  }

  /** The embedding's weight gradient (a scatter-add), charged over all N rows as the forward is. */
  embeddingBackward(dtable: Floats, dout: Floats, tokens: Int32Array, N: number, C: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingCost(N, C, this.e).backwardWeight);
    if (this.computes) vocabEmbeddingBackward(dtable, dout, tokens, N, C, vStart, Vl);
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
    if (this.computes) vocabCrossEntropyBackward(dlogits, probs, targets, scale, N, vStart, Vl);
  }
}
