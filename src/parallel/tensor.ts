/**
 * Tensor parallelism (Megatron-LM, Shoeybi et al. 2019) and sequence parallelism (Korthikanti
 * et al. 2022): the communication the model needs, behind a small interface.
 *
 * The model never sees Comm: it talks to a `TpComm` (size, index, three collectives). The
 * adapter `tpCommFrom(comm, group)` implements it over Comm; `serialTpComm()` is the size-1
 * group (every collective a no-op), which makes the tp model equal the single-device one bit for
 * bit.
 *
 * Conjugate pairs. Every buffer handed to them is a full activation [N,C] (N = B·T rows). Without
 * sequence parallelism every rank holds all N rows; with it, rank i's rows are chunk i of the
 * buffer (rows [i·N/tp, (i+1)·N/tp), the ring chunks of src/comm/ledger.ts), and the collectives
 * return the rows this rank keeps:
 *   copyToTp           f: identity forward,   all-reduce of the input gradient backward
 *   reduceFromTp       g: all-reduce forward, identity backward
 *   gatherFromSp         all-gather forward,  reduce-scatter backward   (replaces f under SP)
 *   reduceScatterToSp    reduce-scatter forward, all-gather backward    (replaces g under SP)
 * A reduce-scatter plus an all-gather move the same bytes as one all-reduce (a ring all-reduce
 * is exactly those two phases; Patarasuk & Yuan 2009), so sequence parallelism keeps the volume
 * and divides the row-wise work and the residual-stream activations by tp. Which tensors sit
 * between an enter and an exit is the plan of src/parallel/tp-plan.ts.
 *
 * Ledger kinds (per micro-batch; E bytes per element of the model's dtype; N = B·T; h = C):
 *   tp-act    per layer: 2 all-reduces of N·h forward (after o_proj, after down_proj) and 2 in
 *             backward (input gradients of the copies before q/k/v and before gate/up); under SP
 *             each becomes a reduce-scatter + an all-gather of N·h (4 + 4 per layer), and the
 *             weight-gradient pass all-gathers the two norm outputs again (N·h each; Megatron-LM
 *             keeps only their sequence shards, src/model/layer.ts): 4 + 6 per layer.
 *   tp-embed  vocabulary-parallel embedding: each rank looks up the tokens of its vocab range,
 *             zeros elsewhere; forward 1 all-reduce of N·h, backward nothing (the output
 *             gradient is replicated). SP: forward reduce-scatter of N·h, backward all-gather of N·h.
 *   tp-head   the copy before lm_head: backward 1 all-reduce of N·h (the gradient of the final
 *             norm's output). SP: forward all-gather of N·h, backward reduce-scatter of N·h and
 *             the final norm's output all-gathered again for the lm_head's weight gradient.
 *   tp-loss   vocabulary-parallel cross-entropy, logits never gathered: forward 1 all-gather of
 *             3·N·tp float64 values (each rank's chunk: its N row maxima, N sums of
 *             exp(logit − local max), N target logits or 0); then every rank has the global
 *             max, the sum of exps and the target logit of every row. Backward: nothing.
 *   tp-norm   SP only, once per step (syncTpNormGrads): 1 all-reduce of the replicated
 *             gradients of the stage (tpReplicatedElements): llama's RMSNorm weights,
 *             (2·layers + [has head]) · h elements; gpt's LayerNorm weights and biases and
 *             row-parallel biases, (6·layers + 2·[has head]) · h, plus the position table
 *             seqLen · h on the first stage.
 * `tpTraffic()` lists exactly these collectives; tests compare the ledger to it.
 */
import { normalizeGroup, type Comm, type GroupLike } from "../comm/comm.js";
import { invariant } from "../errors.js";
import type { Floats } from "../kernels/types.js";
import type { Layout, StagePart, TensorSpec } from "../model/layout.js";
import { sumOfSquares } from "../train/optimizer.js";
import { isTpReplicated } from "./tp-plan.js";

export const TP_ACT = "tp-act";
export const TP_EMBED = "tp-embed";
export const TP_HEAD = "tp-head";
export const TP_LOSS = "tp-loss";
export const TP_NORM = "tp-norm";

/** What the model needs from its tensor-parallel group. Buffers are reduced in place. */
export interface TpComm {
  readonly size: number;
  /** This rank's position in the group (= its tp index, = the chunk it keeps). */
  readonly index: number;
  allReduce(buf: Floats, kind: string): void;
  /** Ring reduce-scatter: returns chunk `index` of buf (reduced); other chunks are clobbered. */
  reduceScatter(buf: Floats, kind: string): Floats;
  /** Ring all-gather: chunk `index` of buf is the input, every chunk is filled. */
  allGather(buf: Floats, kind: string): void;
}

/** TpComm over a Comm and the rank's tp group (e.g. `buildMesh(shape).groupOf(rank, "tp")`). */
export function tpCommFrom(comm: Comm, group: GroupLike): TpComm {
  const g = normalizeGroup(group);
  const index = g.ranks.indexOf(comm.rank);
  if (index < 0) throw new RangeError(`rank ${comm.rank} is not in tp group ${g.id}`);
  return {
    size: g.ranks.length,
    index,
    allReduce: (buf, kind) => void comm.allReduce(buf, g, kind),
    reduceScatter: (buf, kind) => comm.reduceScatter(buf, g, kind).chunk,
    allGather: (buf, kind) => void comm.allGather(buf, g, kind),
  };
}

/** The group of one: every collective is the identity. */
export function serialTpComm(): TpComm {
  return { size: 1, index: 0, allReduce() {}, reduceScatter: (buf) => buf, allGather() {} };
}

/** Rows [index·rows, (index+1)·rows) of a full [N,C] buffer: what this rank keeps under SP. */
export function rowChunk(buf: Floats, tp: TpComm, sp: boolean): Floats {
  if (!sp) return buf;
  const len = buf.length / tp.size;
  return buf.subarray(tp.index * len, (tp.index + 1) * len);
}

/** A conjugate pair: what happens at one point of the layer in forward and in backward. */
export interface Conjugate {
  readonly name: string;
  /** Returns the rows this rank holds afterwards (a view of buf). */
  forward(tp: TpComm, buf: Floats, kind: string): Floats;
  backward(tp: TpComm, buf: Floats, kind: string): Floats;
}

/** f: identity forward; backward all-reduces the input gradient (the partial sums of every rank). */
export const copyToTp: Conjugate = {
  name: "copyToTp",
  forward: (_tp, buf) => buf,
  backward(tp, buf, kind) {
    tp.allReduce(buf, kind);
    return buf;
  },
};

/** g: forward all-reduces the partial outputs of a row-parallel layer; identity backward. */
export const reduceFromTp: Conjugate = {
  name: "reduceFromTp",
  forward(tp, buf, kind) {
    tp.allReduce(buf, kind);
    return buf;
  },
  backward: (_tp, buf) => buf,
};

/** SP's f: all-gather the sequence shards forward; reduce-scatter the gradient backward. */
export const gatherFromSp: Conjugate = {
  name: "gatherFromSp",
  forward(tp, buf, kind) {
    tp.allGather(buf, kind);
    return buf;
  },
  backward: (tp, buf, kind) => tp.reduceScatter(buf, kind),
};

/** SP's g: reduce-scatter the partial outputs forward; all-gather the gradient backward. */
export const reduceScatterToSp: Conjugate = {
  name: "reduceScatterToSp",
  forward: (tp, buf, kind) => tp.reduceScatter(buf, kind),
  backward(tp, buf, kind) {
    tp.allGather(buf, kind);
    return buf;
  },
};

/** The pair entering a tp region (before column-parallel layers) and the pair leaving it (after row-parallel ones). */
export function tpPairs(sequenceParallel: boolean): { enter: Conjugate; exit: Conjugate } {
  return sequenceParallel ? { enter: gatherFromSp, exit: reduceScatterToSp } : { enter: copyToTp, exit: reduceFromTp };
}

/**
 * Sums the replicated gradients (the plan's RMSNorm weights) over the tp group, in one coalesced
 * all-reduce (kind tp-norm). Needed with sequence parallelism, where each rank's norm gradients
 * come from its own rows only; call once per step after the last backward and before clipping,
 * the optimizer and checkpointing (in any order with the dp gradient sync: both are sums).
 * Without sequence parallelism the norm gradients are identical on every rank already and this
 * does nothing.
 */
export function syncTpNormGrads(layout: Layout, grads: Floats, tp: TpComm, sequenceParallel: boolean): void {
  if (!sequenceParallel || tp.size === 1) return;
  invariant(layout.tp?.size === tp.size && layout.tp.index === tp.index, "syncTpNormGrads needs the layout of this tp rank");
  const reps = layout.tensors.filter((t) => isTpReplicated(t.name));
  if (reps.length === 0) return;
  const buf = new (grads.constructor as new (n: number) => Floats)(reps.reduce((a, t) => a + t.size, 0));
  let o = 0;
  for (const t of reps) {
    buf.set(grads.subarray(t.offset, t.offset + t.size), o);
    o += t.size;
  }
  tp.allReduce(buf, TP_NORM);
  o = 0;
  for (const t of reps) {
    grads.set(buf.subarray(o, o + t.size), t.offset);
    o += t.size;
  }
}

/**
 * This rank's share of the squared global gradient norm: its shards in full, the replicated
 * tensors (`isTpReplicated`) only on tp index 0, a tied copy never (its original counts). Summed (all-reduced) over the tp group it gives
 * the squared norm of the single-device gradient, for global-norm clipping.
 *
 * `layout`: the rank's tensors (in layout order, tiling the flat buffer) and its tp index (none:
 * index 0). `range`: only the elements [offset, offset + size) of `grads` count (a ZeRO-1 shard);
 * default the whole buffer. On tp index 0 every element of the range counts and is summed in one
 * pass; elsewhere each sharded tensor's part of the range is summed on its own, in layout order.
 */
export function tpGradSquares(
  layout: { readonly tensors: readonly Pick<TensorSpec, "name" | "offset" | "size" | "tiedTo">[]; readonly tp?: { readonly index: number } },
  grads: Float32Array,
  range: { offset: number; size: number } = { offset: 0, size: grads.length },
): number {
  const { offset, size } = range;
  const first = (layout.tp?.index ?? 0) === 0;
  if (first && !layout.tensors.some((t) => t.tiedTo !== undefined)) return sumOfSquares(grads, offset, size);
  let sum = 0;
  for (const t of layout.tensors) {
    if (t.tiedTo !== undefined || (!first && isTpReplicated(t.name))) continue;
    const a = Math.max(t.offset, offset);
    const b = Math.min(t.offset + t.size, offset + size);
    if (b > a) sum += sumOfSquares(grads, a, b - a);
  }
  return sum;
}

/** One collective of the documented tp traffic. */
export interface TpCollective {
  kind: string;
  op: "all-reduce" | "reduce-scatter" | "all-gather";
  /** Elements of the full buffer. */
  length: number;
  bytesPerElement: number;
  phase: "forward" | "backward" | "step";
}

/** Elements of a stage's tp-replicated tensors (see tp-norm in the header); `model` absent: llama. */
export function tpReplicatedElements(part: StagePart, hidden: number, model?: { family?: string; seqLen: number }): number {
  if (model?.family !== "gpt") return (2 * part.numLayers + (part.hasHead ? 1 : 0)) * hidden;
  return (6 * part.numLayers + (part.hasHead ? 2 : 0) + (part.hasEmbedding ? model.seqLen : 0)) * hidden;
}

/**
 * Every tp collective of one micro-batch's forward and backward on a stage (phase forward /
 * backward), plus the once-per-step norm sync (phase step), in issue order within each phase.
 * E = bytes per element of the model's dtype (the loss statistics are float64: 8 bytes).
 */
export function tpTraffic(
  part: StagePart,
  hidden: number,
  B: number,
  T: number,
  tp: number,
  sequenceParallel: boolean,
  E: number,
  model?: { family?: string; seqLen: number },
): TpCollective[] {
  if (tp === 1) return [];
  const Nh = B * T * hidden;
  const out: TpCollective[] = [];
  const c = (kind: string, op: TpCollective["op"], length: number, phase: TpCollective["phase"], e = E): void => {
    out.push({ kind, op, length, bytesPerElement: e, phase });
  };
  const sp = sequenceParallel;
  // forward
  if (part.hasEmbedding) c(TP_EMBED, sp ? "reduce-scatter" : "all-reduce", Nh, "forward");
  for (let l = 0; l < part.numLayers; l++) {
    for (let k = 0; k < 2; k++) {
      if (sp) c(TP_ACT, "all-gather", Nh, "forward");
      c(TP_ACT, sp ? "reduce-scatter" : "all-reduce", Nh, "forward");
    }
  }
  if (part.hasHead) {
    if (sp) c(TP_HEAD, "all-gather", Nh, "forward");
    c(TP_LOSS, "all-gather", 3 * B * T * tp, "forward", 8);
  }
  // backward (under SP the head's weight gradient gathers the final norm's output again)
  if (part.hasHead) c(TP_HEAD, sp ? "reduce-scatter" : "all-reduce", Nh, "backward");
  if (part.hasHead && sp) c(TP_HEAD, "all-gather", Nh, "backward");
  for (let l = 0; l < part.numLayers; l++) {
    for (let k = 0; k < 2; k++) {
      if (sp) c(TP_ACT, "all-gather", Nh, "backward");
      c(TP_ACT, sp ? "reduce-scatter" : "all-reduce", Nh, "backward");
    }
    if (sp) for (let k = 0; k < 2; k++) c(TP_ACT, "all-gather", Nh, "backward");
  }
  if (part.hasEmbedding && sp) c(TP_EMBED, "all-gather", Nh, "backward");
  const norms = tpReplicatedElements(part, hidden, model);
  if (sp && norms > 0) c(TP_NORM, "all-reduce", norms, "step");
  return out;
}
