/**
 * The kernels as the model calls them. Every call first charges its own cost function
 * (src/kernels/flops.ts) to the pending compute, then runs the kernel, so a layer reads as a flat
 * list of kernel calls and the FLOPs a model charges are, by construction, the sum of its
 * kernels' costs: there is no second formula to keep in step. With `computes = false` the same
 * calls charge the same costs and compute nothing (the buffers may then be empty): that is how
 * src/model/flops.ts counts a model's FLOPs, by running it.
 *
 * Charges accumulate in a Charger and reach the device (ModelHooks.compute) just before the next
 * collective, so simulated time puts compute and communication in execution order.
 */
import { attentionBackward, attentionForward } from "../kernels/attention.js";
import { flashAttentionBackward, flashAttentionForward } from "../kernels/flash-attention.js";
import { sparseAttentionBackward, sparseAttentionForward } from "../kernels/sparse-attention.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import {
  attentionFlops,
  crossEntropyFlops,
  embeddingFlops,
  flashAttentionFlops,
  linearFlops,
  sparseAttentionFlops,
  residualFlops,
  rmsnormFlops,
  ropeFlops,
  swigluFlops,
} from "../kernels/flops.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { residualForward } from "../kernels/residual.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { ropeBackward, ropeForward, type RopeTables } from "../kernels/rope.js";
import { swigluBackward, swigluForward } from "../kernels/swiglu.js";
import { storeAs, type Dtype } from "../kernels/round.js";
import type { Floats } from "../kernels/types.js";
import type { TpComm } from "../parallel/tensor.js";
import {
  vocabCrossEntropyBackward,
  vocabCrossEntropyFinish,
  vocabCrossEntropyStats,
  vocabEmbeddingBackward,
  vocabEmbeddingForward,
} from "../parallel/tp-vocab.js";

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
 * Mixed precision: each kernel runs as one fused kernel does on a GPU, accumulating in float32 or
 * wider, and what it writes is then stored in its dtype (src/kernels/round.ts): activations,
 * probabilities and activation gradients in `store.activations`, weight gradients in
 * `store.grads`. The norms' rstd, flash attention's log-sum-exp and the cross-entropy's
 * probabilities and losses are statistics kept in float32, as Megatron-LM's fused kernels keep them.
 */
export class KernelCalls {
  constructor(
    private readonly charge: Charger,
    /** False: charge only (shapes-only runs and FLOP counting). */
    readonly computes = true,
    private readonly store: StoreDtypes = FP32_STORE,
  ) {}

  /** Stores kernel outputs that are activations or activation gradients. */
  private act(...bufs: (Floats | null)[]): void {
    for (const b of bufs) if (b) storeAs(this.store.activations, b);
  }

  /** Stores a weight gradient. */
  private grad(buf: Floats | null): void {
    if (buf) storeAs(this.store.grads, buf);
  }

  linearForward(out: Floats, inp: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearFlops(N, K, O).forward);
    if (!this.computes) return;
    linearForward(out, inp, weight, N, K, O);
    this.act(out);
  }

  linearBackwardInput(dinp: Floats, dout: Floats, weight: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearFlops(N, K, O).backwardInput);
    if (!this.computes) return;
    linearBackwardInput(dinp, dout, weight, N, K, O);
    this.act(dinp);
  }

  linearBackwardWeight(dweight: Floats, dout: Floats, inp: Floats, N: number, K: number, O: number): void {
    this.charge.add(linearFlops(N, K, O).backwardWeight);
    if (!this.computes) return;
    linearBackwardWeight(dweight, dout, inp, N, K, O);
    this.grad(dweight);
  }

  rmsnormForward(out: Floats, rstd: Floats, inp: Floats, weight: Floats, N: number, C: number, eps: number): void {
    this.charge.add(rmsnormFlops(N, C).forward);
    if (!this.computes) return;
    rmsnormForward(out, rstd, inp, weight, N, C, eps);
    this.act(out);
  }

  /** Either gradient may be null; each one computed is charged. */
  rmsnormBackward(dinp: Floats | null, dweight: Floats | null, dout: Floats, inp: Floats, weight: Floats, rstd: Floats, N: number, C: number): void {
    const cost = rmsnormFlops(N, C);
    if (dinp) this.charge.add(cost.backwardInput);
    if (dweight) this.charge.add(cost.backwardWeight);
    if (!this.computes) return;
    rmsnormBackward(dinp, dweight, dout, inp, weight, rstd, N, C);
    this.act(dinp);
    this.grad(dweight);
  }

  /**
   * dStream += the norm's input gradient: the residual connection's backward add, fused into the
   * norm's backward (which accumulates), so it costs the norm's input gradient plus one add per element.
   */
  rmsnormBackwardIntoStream(dStream: Floats, dout: Floats, inp: Floats, weight: Floats, rstd: Floats, N: number, C: number): void {
    this.charge.add(residualFlops(N * C).backwardInput);
    this.rmsnormBackward(dStream, null, dout, inp, weight, rstd, N, C);
  }

  residualForward(out: Floats, a: Floats, b: Floats, n: number): void {
    this.charge.add(residualFlops(n).forward);
    if (!this.computes) return;
    residualForward(out, a, b, n);
    this.act(out);
  }

  ropeForward(out: Floats, inp: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeFlops(B, T, NH, D).forward);
    if (!this.computes) return;
    ropeForward(out, inp, tables, B, T, NH, D);
    this.act(out);
  }

  ropeBackward(dinp: Floats, dout: Floats, tables: RopeTables, B: number, T: number, NH: number, D: number): void {
    this.charge.add(ropeFlops(B, T, NH, D).backwardInput);
    if (!this.computes) return;
    ropeBackward(dinp, dout, tables, B, T, NH, D);
    this.act(dinp);
  }

  attentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(attentionFlops(B, T, H, D).forward);
    if (!this.computes) return;
    attentionForward(out, att, q, k, v, B, T, H, G, D);
    this.act(out, att);
  }

  attentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(attentionFlops(B, T, H, D).backwardInput);
    if (!this.computes) return;
    attentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D);
    this.act(dq, dk, dv);
  }

  /** Flash attention: the same output as attentionForward; keeps each row's log-sum-exp instead of the probabilities. */
  flashAttentionForward(out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number): void {
    this.charge.add(flashAttentionFlops(B, T, H, D).forward);
    if (!this.computes) return;
    flashAttentionForward(out, lse, q, k, v, B, T, H, G, D);
    this.act(out);
  }

  /** Recomputes the probabilities from q, k and lse, block by block, and accumulates dq, dk, dv. */
  flashAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, out: Floats, lse: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number,
  ): void {
    this.charge.add(flashAttentionFlops(B, T, H, D).backwardInput);
    if (!this.computes) return;
    flashAttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, B, T, H, G, D);
    this.act(dq, dk, dv);
  }

  /** Block-sparse causal attention (Child et al. 2019): only the pattern's blocks are computed and charged. */
  sparseAttentionForward(out: Floats, att: Floats, q: Floats, k: Floats, v: Floats, B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern): void {
    this.charge.add(sparseAttentionFlops(B, T, H, D, pattern).forward);
    if (!this.computes) return;
    sparseAttentionForward(out, att, q, k, v, B, T, H, G, D, pattern);
    this.act(out, att);
  }

  sparseAttentionBackward(
    dq: Floats, dk: Floats, dv: Floats, dout: Floats, att: Floats, q: Floats, k: Floats, v: Floats,
    B: number, T: number, H: number, G: number, D: number, pattern: SparsePattern,
  ): void {
    this.charge.add(sparseAttentionFlops(B, T, H, D, pattern).backwardInput);
    if (!this.computes) return;
    sparseAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, H, G, D, pattern);
    this.act(dq, dk, dv);
  }

  /** SwiGLU over [N,F] (gate and up). */
  swigluForward(out: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluFlops(N, F).forward);
    if (!this.computes) return;
    swigluForward(out, gate, up, N * F);
    this.act(out);
  }

  swigluBackward(dgate: Floats, dup: Floats, dout: Floats, gate: Floats, up: Floats, N: number, F: number): void {
    this.charge.add(swigluFlops(N, F).backwardInput);
    if (!this.computes) return;
    swigluBackward(dgate, dup, dout, gate, up, N * F);
    this.act(dgate, dup);
  }

  /**
   * The vocabulary-parallel embedding lookup (this rank's rows [vStart, vStart+Vl) of V). It is
   * charged as the single device's lookup over all N rows, since which rows fall in a rank's
   * range depends on the data and the clock must not.
   */
  embeddingForward(out: Floats, tokens: Int32Array, table: Floats, N: number, C: number, V: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingFlops(N, C).forward);
    if (!this.computes) return;
    vocabEmbeddingForward(out, tokens, table, N, C, V, vStart, Vl);
    this.act(out);
  }

  /** The embedding's weight gradient (a scatter-add), charged over all N rows as the forward is. */
  embeddingBackward(dtable: Floats, dout: Floats, tokens: Int32Array, N: number, C: number, vStart: number, Vl: number): void {
    this.charge.add(embeddingFlops(N, C).backwardWeight);
    if (!this.computes) return;
    vocabEmbeddingBackward(dtable, dout, tokens, N, C, vStart, Vl);
    this.grad(dtable);
  }

  /**
   * The cross-entropy's per-row statistics over this rank's vocabulary slice. Charged with the
   * whole forward cross-entropy: its final normalising pass (crossEntropyFinish) runs after the
   * statistics' all-gather, but its FLOPs are in the same per-logit constant.
   */
  crossEntropyStats(mine: Float64Array, logits: Floats, targets: Int32Array, N: number, V: number, vStart: number, Vl: number): void {
    this.charge.add(crossEntropyFlops(N, Vl).forward);
    if (this.computes) vocabCrossEntropyStats(mine, logits, targets, N, V, vStart, Vl);
  }

  /** Charged in crossEntropyStats. */
  crossEntropyFinish(losses: Floats, probs: Floats, logits: Floats, all: Float64Array, N: number, Vl: number, tp: number): void {
    if (this.computes) vocabCrossEntropyFinish(losses, probs, logits, all, N, Vl, tp);
  }

  crossEntropyBackward(dlogits: Floats, probs: Floats, targets: Int32Array, scale: number, N: number, vStart: number, Vl: number): void {
    this.charge.add(crossEntropyFlops(N, Vl).backwardInput);
    if (!this.computes) return;
    vocabCrossEntropyBackward(dlogits, probs, targets, scale, N, vStart, Vl);
    this.act(dlogits);
  }
}
