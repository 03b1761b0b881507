/**
 * The buffers one stage (on one tensor-parallel rank) keeps for one micro-batch between its
 * forward and its backward. Allocated once per (B,T) and reused; a pipeline stage with several
 * micro-batches in flight holds one Activations per micro-batch, so activation memory is the sum
 * of the buffers' `bytes`: parasim's activation constants are derived from the buffers it keeps,
 * not from a published formula (docs/architecture.md compares them).
 *
 * Legend: N = B·T rows; rows = N/tp under sequence parallelism, else N; C hidden; Hl, Gl query
 * and kv heads per rank; D head size; Fl = F/tp; Vl = V/tp (tp = 1: the full sizes).
 *
 * What sequence parallelism shrinks: the residual stream (hidden states, res1), the norms'
 * outputs (ln1, ln2, lnf) and statistics, from N to N/tp rows. The column-parallel layers read a
 * norm output whole: it is all-gathered into the model's workspace when they do, in forward and
 * again for their weight gradients (Megatron-LM's sequence parallelism, whose activation memory
 * sbh(34/t + 5as/(ht)) per layer keeps only the shards; Korthikanti et al. 2022). Head-sharded
 * buffers (q, k, v, att, attOut, gate, up, act, logits, probs) are 1/tp with or without sequence
 * parallelism.
 */
import { metaFloats } from "../kernels/meta.js";
import { kernelFloats } from "../wasm/heap.js";
import { sparseProbabilities } from "../kernels/sparse-attention.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import type { Floats } from "../kernels/types.js";
import { familyOf, type ModelConfig, type ModelFamily } from "./config.js";
import { modelDims, type ModelDims } from "./dims.js";
import type { StagePart } from "./layout.js";

/** How much of a layer's forward its backward recomputes instead of keeping (Korthikanti et al. 2022). */
export type Recompute = "none" | "selective" | "full";

/** What an Activations set shares with its model instead of allocating, by recompute mode. */
export type RecomputedBuffers = ({ recompute: "none" } | { recompute: "selective"; att: Floats } | { recompute: "full"; layer: LayerActivations }) & {
  attention?: AttentionKernel;
  /** Probabilities the naive kernel keeps per head and sequence: T·T, or a sparse pattern's kept entries. */
  probabilities?: number;
};

/** naive attention keeps the probabilities for backward; flash keeps each row's log-sum-exp (Dao et al. 2022). */
export type AttentionKernel = "naive" | "flash";

/**
 * One layer's saved tensors from `alloc`. Naive attention keeps the probabilities (`att`, or the
 * shared buffer given, under selective recomputation); flash keeps the rows' log-sum-exp (`lse`).
 */
export function layerActivations(
  alloc: Allocator,
  dims: ModelDims,
  B: number,
  T: number,
  att?: Floats,
  attention: AttentionKernel = "naive",
  family: ModelFamily = "llama",
  probabilities = T * T,
): LayerActivations {
  const { f, stat } = alloc;
  const { N, rows, C, D, Hl, Gl, Fl } = dims;
  const flash = attention === "flash";
  const gpt = family === "gpt";
  return {
    ln1: f(rows * C),
    mean1: stat(gpt ? rows : 0),
    rstd1: stat(rows),
    q: f(N * Hl * D),
    k: f(N * Gl * D),
    v: f(N * Gl * D),
    att: flash ? f(0) : (att ?? f(B * Hl * probabilities)),
    lse: stat(flash ? B * Hl * T : 0),
    attOut: f(N * Hl * D),
    res1: f(rows * C),
    ln2: f(rows * C),
    mean2: stat(gpt ? rows : 0),
    rstd2: stat(rows),
    gate: f(gpt ? 0 : N * Fl),
    up: f(N * Fl),
    act: f(N * Fl),
  };
}

/** The buffers recomputation refills, made from the model's workspace (see RecomputedBuffers). */
export function recomputedBuffers(
  alloc: Allocator,
  dims: ModelDims,
  B: number,
  T: number,
  options: { recompute?: Recompute; attention?: AttentionKernel; attentionPattern?: SparsePattern },
  family: ModelFamily = "llama",
): RecomputedBuffers & { attention: AttentionKernel } {
  const attention = options.attention ?? "naive";
  const probabilities = sparseProbabilities(options.attentionPattern ?? { kind: "causal" }, T);
  // Flash attention keeps no probabilities, so there is nothing for selective recomputation to redo.
  const recompute = attention === "flash" && options.recompute === "selective" ? "none" : (options.recompute ?? "none");
  if (recompute === "full") return { recompute, attention, probabilities, layer: layerActivations(alloc, dims, B, T, undefined, attention, family, probabilities) };
  if (recompute === "selective") return { recompute, attention, probabilities, att: alloc.f(B * dims.Hl * probabilities) };
  return { recompute, attention, probabilities };
}

/** Saved tensors of one transformer layer. */
export interface LayerActivations {
  ln1: Floats; // [rows,C] input_layernorm output (this rank's rows under SP; gathered when read, see gatheredNormOutput)
  mean1: Floats; // [rows] LayerNorm's row means (gpt; empty for llama)
  rstd1: Floats; // [rows]
  q: Floats; // [N,Hl·D] after rope (rotated in place)
  k: Floats; // [N,Gl·D] after rope
  v: Floats; // [N,Gl·D]
  att: Floats; // [B,Hl,T,T] softmax probabilities (naive attention; a sparse pattern's kept entries only; empty with flash)
  lse: Floats; // [B,Hl,T] log-sum-exp of each row's scaled scores (flash attention; empty with naive)
  attOut: Floats; // [N,Hl·D] attention output, input of o_proj
  res1: Floats; // [rows,C] residual stream after attention
  ln2: Floats; // [rows,C] post_attention_layernorm output (as ln1)
  mean2: Floats; // [rows] (gpt; empty for llama)
  rstd2: Floats; // [rows]
  gate: Floats; // [N,Fl] (llama; empty for gpt)
  up: Floats; // [N,Fl] llama: up_proj output; gpt: fc_in output plus bias (GELU's input)
  act: Floats; // [N,Fl] silu(gate)·up or gelu(up): input of down_proj / fc_out
}

export interface HeadActivations {
  lnf: Floats; // [rows,C] final norm output (as ln1)
  meanf: Floats; // [rows] (gpt; empty for llama)
  rstdf: Floats; // [rows]
  logits: Floats; // [N,Vl]
  probs: Floats; // [N,Vl]
  losses: Floats; // [N]
}

/**
 * Where a model's buffers come from: arrays of one float type, or, for a run that charges
 * without computing, meta arrays (src/kernels/meta.ts) of the same lengths and no storage.
 * Memory is counted at the width a device would store: `bytesPerElement` for tensors (2 in 16-bit
 * precision, which real mode emulates in float32 arrays), `statBytes` for the float32 statistics.
 */
export interface BufferMaker {
  readonly bytesPerElement: number;
  readonly statBytes: number;
  make(n: number): Floats;
}

/** Arrays of `ctor`; tensors count `storedBytes` per element (default: the array's own width). */
export function arrayMaker(ctor: Float32ArrayConstructor | Float64ArrayConstructor, storedBytes: number = ctor.BYTES_PER_ELEMENT): BufferMaker {
  // float32 buffers are made where the WebAssembly kernels address them without a copy.
  const make = ctor === Float32Array ? kernelFloats : (n: number) => new ctor(n);
  return { bytesPerElement: Math.min(storedBytes, ctor.BYTES_PER_ELEMENT), statBytes: ctor.BYTES_PER_ELEMENT, make };
}

/** Meta buffers; tensors count `storedBytes` per element, statistics 4 (float32). */
export function metaMaker(storedBytes: number = Float32Array.BYTES_PER_ELEMENT): BufferMaker {
  return { bytesPerElement: storedBytes, statBytes: Float32Array.BYTES_PER_ELEMENT, make: (n) => metaFloats(n) };
}

/** Buffers for tensors (`f`) and for float32 statistics (`stat`), with the bytes they count. */
export interface Allocator {
  f(n: number): Floats;
  stat(n: number): Floats;
}

/** Makes buffers and counts their bytes. */
export function countingAllocator(maker: BufferMaker): Allocator & { bytes: () => number } {
  let bytes = 0;
  return {
    f: (n) => {
      bytes += n * maker.bytesPerElement;
      return maker.make(n);
    },
    stat: (n) => {
      bytes += n * maker.statBytes;
      return maker.make(n);
    },
    bytes: () => bytes,
  };
}

export class Activations {
  /** Token ids of the micro-batch (stages with the embedding). */
  readonly tokens: Int32Array;
  /** Next-token targets (stages with the head). */
  readonly targets: Int32Array;
  /** numLayers + 1 hidden states [rows,C]: hidden[0] is the stage input, hidden[i+1] the output of local layer i. */
  readonly hidden: Floats[];
  readonly layers: LayerActivations[];
  readonly head: HeadActivations | null;
  /** Bytes of every buffer above. */
  readonly bytes: number;

  /**
   * `recomputed`: what a layer does not keep per micro-batch (Korthikanti et al. 2022), and the
   * model's shared buffers that stand in for it. "selective": the attention probabilities are
   * recomputed in backward, every layer uses `att`; "full": only each layer's input (its hidden
   * state) is kept, every layer uses `layer`, refilled by rerunning its forward in backward.
   */
  constructor(
    config: ModelConfig,
    part: StagePart,
    B: number,
    T: number,
    maker: BufferMaker,
    tp = 1,
    sp = false,
    recomputed: RecomputedBuffers = { recompute: "none" },
  ) {
    const { N, rows, C, Vl } = modelDims(config, B, T, tp, sp);
    const family = familyOf(config);
    const alloc = countingAllocator(maker);
    const { f, stat } = alloc;
    this.tokens = new Int32Array(part.hasEmbedding ? N : 0);
    this.targets = new Int32Array(part.hasHead ? N : 0);
    this.hidden = Array.from({ length: part.numLayers + 1 }, () => f(rows * C));
    this.layers = Array.from({ length: part.numLayers }, () => {
      if (recomputed.recompute === "full") return recomputed.layer;
      const att = recomputed.recompute === "selective" ? recomputed.att : undefined;
      return layerActivations(alloc, modelDims(config, B, T, tp, sp), B, T, att, recomputed.attention, family, recomputed.probabilities);
    });
    // The cross-entropy runs in float32 on the 16-bit logits (Megatron-LM upcasts them): its probabilities and losses are float32.
    const meanf = stat(family === "gpt" ? rows : 0);
    this.head = part.hasHead ? { lnf: f(rows * C), meanf, rstdf: stat(rows), logits: f(N * Vl), probs: stat(N * Vl), losses: stat(N) } : null;
    this.bytes = alloc.bytes() + this.tokens.byteLength + this.targets.byteLength;
  }

  /** The stage's output hidden state [rows,C] (what a pipeline stage sends forward). */
  get output(): Floats {
    return this.hidden[this.hidden.length - 1];
  }
}

/** Upstream gradients one layer's weight-gradient step (W) reads, besides its saved activations. */
export interface LayerWeightGradInputs {
  dDown: Floats; // [N,C] gradient of the down_proj output (= the layer output's gradient, gathered)
  dgate: Floats; // [N,Fl] gradient of the gate_proj output (llama; empty for gpt)
  dup: Floats; // [N,Fl] gradient of the up_proj output (gpt: of the fc_in output)
  dln2: Floats; // [rows,C] gradient of the post_attention_layernorm output (reduced)
  dRes1: Floats; // [N,C] gradient of the o_proj output (= res1's gradient, gathered)
  dqr: Floats; // [N,Hl·D] gradient of the q_proj output (before rope)
  dkr: Floats; // [N,Gl·D] gradient of the k_proj output (before rope)
  dv: Floats; // [N,Gl·D] gradient of the v_proj output
  dln1: Floats; // [rows,C] gradient of the input_layernorm output (reduced)
}

/**
 * Everything the weight-gradient half of a stage backward needs, for one micro-batch. The model
 * keeps one set as workspace for an immediate backward and one per micro-batch whose weight
 * gradients are deferred (zero-bubble schedules: the W action runs after B).
 */
export class WeightGradInputs {
  readonly layers: LayerWeightGradInputs[];
  readonly dlogits: Floats; // [N,Vl] (stages with the head)
  readonly dlnf: Floats; // [rows,C] (stages with the head)
  readonly dEmbed: Floats; // [N,C] gradient of the embedding output (stages with the embedding)
  readonly bytes: number;
  /** True between a deferred backward and its weight step. */
  pending = false;

  constructor(config: ModelConfig, part: StagePart, B: number, T: number, maker: BufferMaker, tp = 1, sp = false) {
    const { N, rows, C, D, Hl, Gl, Fl, Vl } = modelDims(config, B, T, tp, sp);
    const { f, bytes } = countingAllocator(maker);
    const gated = familyOf(config) === "llama";
    this.layers = Array.from({ length: part.numLayers }, () => ({
      dDown: f(N * C),
      dgate: f(gated ? N * Fl : 0),
      dup: f(N * Fl),
      dln2: f(rows * C),
      dRes1: f(N * C),
      dqr: f(N * Hl * D),
      dkr: f(N * Gl * D),
      dv: f(N * Gl * D),
      dln1: f(rows * C),
    }));
    this.dlogits = f(part.hasHead ? N * Vl : 0);
    this.dlnf = f(part.hasHead ? rows * C : 0);
    this.dEmbed = f(part.hasEmbedding ? N * C : 0);
    this.bytes = bytes();
  }
}
