/**
 * The buffers one stage keeps for one micro-batch between its forward and its backward.
 * Allocated once per (B,T) and reused; a pipeline stage with several micro-batches in flight
 * holds one Activations per micro-batch, so activation memory is the sum of `bytes` actually
 * allocated (REFERENCE.md, Memory: derive parasim's own constants from the buffers it keeps).
 *
 * Legend: N = B·T rows, C hidden, H heads, G kv heads, D head size, F intermediate, V vocab.
 */
import type { Floats } from "../kernels/types.js";
import { headDim, type ModelConfig } from "./config.js";
import type { StagePart } from "./layout.js";

/** Saved tensors of one transformer layer. */
export interface LayerActivations {
  ln1: Floats; // [N,C] input_layernorm output
  rstd1: Floats; // [N]
  q: Floats; // [N,H·D] after rope (rotated in place)
  k: Floats; // [N,G·D] after rope
  v: Floats; // [N,G·D]
  att: Floats; // [B,H,T,T] softmax probabilities
  attOut: Floats; // [N,H·D] attention output, input of o_proj
  res1: Floats; // [N,C] residual stream after attention
  ln2: Floats; // [N,C] post_attention_layernorm output
  rstd2: Floats; // [N]
  gate: Floats; // [N,F]
  up: Floats; // [N,F]
  act: Floats; // [N,F] silu(gate)·up, input of down_proj
}

export interface HeadActivations {
  lnf: Floats; // [N,C] final norm output
  rstdf: Floats; // [N]
  logits: Floats; // [N,V]
  probs: Floats; // [N,V]
  losses: Floats; // [N]
}

export type FloatsCtor = Float32ArrayConstructor | Float64ArrayConstructor;

export class Activations {
  /** Token ids of the micro-batch (stages with the embedding). */
  readonly tokens: Int32Array;
  /** Next-token targets (stages with the head). */
  readonly targets: Int32Array;
  /** numLayers + 1 hidden states [N,C]: hidden[0] is the stage input, hidden[i+1] the output of local layer i. */
  readonly hidden: Floats[];
  readonly layers: LayerActivations[];
  readonly head: HeadActivations | null;
  /** Bytes of every buffer above. */
  readonly bytes: number;

  constructor(config: ModelConfig, part: StagePart, B: number, T: number, ctor: FloatsCtor) {
    const N = B * T;
    const C = config.hiddenSize;
    const D = headDim(config);
    const HD = config.numHeads * D;
    const GD = config.numKvHeads * D;
    const F = config.intermediateSize;
    const V = config.vocabSize;
    let bytes = 0;
    const f = (n: number): Floats => {
      bytes += n * ctor.BYTES_PER_ELEMENT;
      return new ctor(n);
    };
    this.tokens = new Int32Array(part.hasEmbedding ? N : 0);
    this.targets = new Int32Array(part.hasHead ? N : 0);
    bytes += this.tokens.byteLength + this.targets.byteLength;
    this.hidden = Array.from({ length: part.numLayers + 1 }, () => f(N * C));
    this.layers = Array.from({ length: part.numLayers }, () => ({
      ln1: f(N * C),
      rstd1: f(N),
      q: f(N * HD),
      k: f(N * GD),
      v: f(N * GD),
      att: f(B * config.numHeads * T * T),
      attOut: f(N * HD),
      res1: f(N * C),
      ln2: f(N * C),
      rstd2: f(N),
      gate: f(N * F),
      up: f(N * F),
      act: f(N * F),
    }));
    this.head = part.hasHead ? { lnf: f(N * C), rstdf: f(N), logits: f(N * V), probs: f(N * V), losses: f(N) } : null;
    this.bytes = bytes;
  }

  /** The stage's output hidden state [N,C] (what a pipeline stage sends forward). */
  get output(): Floats {
    return this.hidden[this.hidden.length - 1];
  }
}

/** Upstream gradients one layer's weight-gradient step (W) reads, besides its saved activations. */
export interface LayerWeightGradInputs {
  dDown: Floats; // [N,C] gradient of the down_proj output (= the layer output's gradient)
  dgate: Floats; // [N,F] gradient of the gate_proj output
  dup: Floats; // [N,F] gradient of the up_proj output
  dln2: Floats; // [N,C] gradient of the post_attention_layernorm output
  dRes1: Floats; // [N,C] gradient of the o_proj output (= res1's gradient)
  dqr: Floats; // [N,H·D] gradient of the q_proj output (before rope)
  dkr: Floats; // [N,G·D] gradient of the k_proj output (before rope)
  dv: Floats; // [N,G·D] gradient of the v_proj output
  dln1: Floats; // [N,C] gradient of the input_layernorm output
}

/**
 * Everything the weight-gradient half of a stage backward needs, for one micro-batch. The model
 * keeps one set as workspace for an immediate backward and one per micro-batch whose weight
 * gradients are deferred (zero-bubble schedules: the W action runs after B).
 */
export class WeightGradInputs {
  readonly layers: LayerWeightGradInputs[];
  readonly dlogits: Floats; // [N,V] (stages with the head)
  readonly dlnf: Floats; // [N,C] (stages with the head)
  readonly dEmbed: Floats; // [N,C] gradient of the embedding output (stages with the embedding)
  readonly bytes: number;
  /** True between a deferred backward and its weight step. */
  pending = false;

  constructor(config: ModelConfig, part: StagePart, B: number, T: number, ctor: FloatsCtor) {
    const N = B * T;
    const C = config.hiddenSize;
    const D = headDim(config);
    const HD = config.numHeads * D;
    const GD = config.numKvHeads * D;
    const F = config.intermediateSize;
    let bytes = 0;
    const f = (n: number): Floats => {
      bytes += n * ctor.BYTES_PER_ELEMENT;
      return new ctor(n);
    };
    this.layers = Array.from({ length: part.numLayers }, () => ({
      dDown: f(N * C),
      dgate: f(N * F),
      dup: f(N * F),
      dln2: f(N * C),
      dRes1: f(N * C),
      dqr: f(N * HD),
      dkr: f(N * GD),
      dv: f(N * GD),
      dln1: f(N * C),
    }));
    this.dlogits = f(part.hasHead ? N * config.vocabSize : 0);
    this.dlnf = f(part.hasHead ? N * C : 0);
    this.dEmbed = f(part.hasEmbedding ? N * C : 0);
    this.bytes = bytes;
  }
}
