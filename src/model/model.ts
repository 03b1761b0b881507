/**
 * Forward and backward of a Llama model, or of one pipeline stage of it, on one tensor-parallel
 * rank (the default, a size-1 group, is the single device), built from the kernels:
 * vocabulary-parallel embedding → layers (src/model/layer.ts) → head (src/model/head.ts).
 *
 * Legend: B batch, T time, N = B·T rows, rows = N/tp under sequence parallelism else N, C hidden.
 *
 * Whole model: `const m = new LlamaModel(config, layout, params, grads, B, T);
 * const loss = m.forward(tokens, targets); m.backward(1 / (B * T));` — gradients accumulate into
 * `grads` (zero them yourself between steps). Pipeline stage: `stageForward(acts, input, targets)`
 * takes token ids (stage with the embedding) or the previous stage's hidden state; the output is
 * `acts.output`. `stageBackward(acts, dOutput, gradScale)` takes the gradient of `acts.output`
 * (or, on the last stage, null and the per-token loss weight) and returns the gradient of the
 * stage input (a workspace buffer valid until the next backward) or null on the first stage.
 * Zero-bubble split: `stageBackward(..., true)` computes only the input gradients (action B);
 * the later `stageBackwardWeights(acts)` (action W) accumulates the weight gradients, bit-identical.
 *
 * Tensor parallelism: `new LlamaModel(config, buildLayout(config, part, { size: tp, index }),
 * params, grads, B, T, tpCommFrom(comm, mesh.groupOf(rank, "tp")), { sequenceParallel })`, and
 * once per step `syncTpNormGrads(layout, grads, tp, sequenceParallel)`. Under sequence
 * parallelism (requires tp | B·T) a stage's input and output hidden states (and the gradients of
 * stageBackward) are this rank's rows [rows, C], rows [index·rows, (index+1)·rows) of the
 * micro-batch; otherwise the full [N,C], identical on every tp rank. The loss (head stages) is
 * the mean over all N tokens on every rank.
 */
import { InputError } from "../errors.js";
import { ropeTables } from "../kernels/rope.js";
import type { Floats, KernelFlops } from "../kernels/types.js";
import { rowChunk, serialTpComm, TP_EMBED, tpPairs, type TpComm } from "../parallel/tensor.js";
import { vocabEmbeddingBackward, vocabEmbeddingForward } from "../parallel/tp-vocab.js";
import { Activations, WeightGradInputs, type FloatsCtor } from "./activations.js";
import { headDim, type ModelConfig } from "./config.js";
import { embedFlops, headFlops, layerFlops, modelDims, type ModelDims } from "./flops.js";
import { headBackwardInput, headBackwardWeight, headForward, type HeadWeights } from "./head.js";
import { Charger, chargingTpComm, layerBackwardInput, layerBackwardWeight, layerForward, type LayerContext, type LayerWeights, type ModelHooks } from "./layer.js";
import { EMBED_NAME, FINAL_NORM_NAME, LAYER_TENSORS, LM_HEAD_NAME, layerTensorName, views, type Layout } from "./layout.js";

export type { ModelHooks };

export interface StageResult {
  /** Mean loss over the B·T tokens (stages with the head), else null. */
  loss: number | null;
  /** Output hidden state (stages without the head), else null. */
  output: Floats | null;
}

export interface ModelOptions {
  /** Korthikanti et al. 2022; needs tp to divide B·T. Default false. */
  sequenceParallel?: boolean;
}

const NO_HOOKS: ModelHooks = { compute() {}, gradsReady() {} };

export class LlamaModel {
  readonly N: number;
  readonly dims: ModelDims;
  readonly sequenceParallel: boolean;
  /** Activations of the default micro-batch (used by forward/backward). */
  readonly acts: Activations;
  hooks: ModelHooks = NO_HOOKS;
  private readonly ctor: FloatsCtor;
  private readonly ctx: LayerContext;
  private readonly flops: { embed: KernelFlops; layer: KernelFlops; head: KernelFlops };
  private readonly w: LayerWeights[];
  private readonly g: LayerWeights[];
  private readonly hw: HeadWeights;
  private readonly hg: HeadWeights;
  private readonly p: Record<string, Floats>;
  private readonly gr: Record<string, Floats>;
  private readonly dA: Floats;
  private readonly dB: Floats;
  /** Loss statistics of every tp rank (3N float64 each). */
  private readonly stats: Float64Array;
  private readonly wsGrad: WeightGradInputs;
  private readonly deferred = new Map<Activations, WeightGradInputs>();

  constructor(
    readonly config: ModelConfig,
    readonly layout: Layout,
    params: Floats,
    grads: Floats,
    readonly B: number,
    readonly T: number,
    readonly tp: TpComm = serialTpComm(),
    options: ModelOptions = {},
  ) {
    if (!Number.isInteger(B) || B < 1) throw new InputError("B", `must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T < 1 || T > config.seqLen) throw new InputError("T", `must be an integer in [1, seqLen=${config.seqLen}], got ${T}`);
    if (params.constructor !== grads.constructor) throw new InputError("grads", "must have the dtype of params");
    const lt = layout.tp ?? { size: 1, index: 0 };
    if (lt.size !== tp.size || lt.index !== tp.index) {
      throw new InputError("layout.tp", `layout is for tp rank ${lt.index} of ${lt.size}, the group says ${tp.index} of ${tp.size}`);
    }
    const sp = options.sequenceParallel ?? false;
    this.N = B * T;
    if (sp && this.N % tp.size !== 0) {
      throw new InputError("parallel.sequenceParallel", `needs tp = ${tp.size} to divide the tokens per micro-batch B·T = ${this.N}`);
    }
    this.sequenceParallel = sp;
    this.ctor = params instanceof Float64Array ? Float64Array : Float32Array;
    this.dims = modelDims(config, B, T, tp.size, sp);
    this.p = views(layout, params);
    this.gr = views(layout, grads);
    const layerViews = (all: Record<string, Floats>): LayerWeights[] =>
      Array.from({ length: layout.part.numLayers }, (_, i) => {
        const out = {} as LayerWeights;
        for (const t of LAYER_TENSORS) out[t] = all[layerTensorName(layout.part.firstLayer + i, t)];
        return out;
      });
    this.w = layerViews(this.p);
    this.g = layerViews(this.gr);
    this.hw = { norm: this.p[FINAL_NORM_NAME], lmHead: this.p[LM_HEAD_NAME] };
    this.hg = { norm: this.gr[FINAL_NORM_NAME], lmHead: this.gr[LM_HEAD_NAME] };
    this.acts = this.newActivations();
    const { N, rows, C, D, Hl, Gl, Fl } = this.dims;
    const make = (n: number): Floats => new this.ctor(n);
    this.dA = make(rows * C);
    this.dB = make(rows * C);
    this.stats = new Float64Array(3 * N * tp.size);
    this.flops = { embed: embedFlops(config, B, T), layer: layerFlops(config, B, T, tp.size, sp), head: headFlops(config, B, T, tp.size, sp) };
    const charge = new Charger(() => this.hooks);
    this.ctx = {
      config, B, T, dims: this.dims, sp,
      tp: chargingTpComm(tp, charge),
      ...tpPairs(sp),
      rope: ropeTables(T, headDim(config), config.ropeTheta),
      ws: { full: make(N * C), dact: make(N * Fl), dattOut: make(N * Hl * D), dq: make(N * Hl * D), dk: make(N * Gl * D) },
      charge,
      layerWeightFlops: this.flops.layer.backwardWeight,
    };
    this.wsGrad = this.newWeightGradInputs();
  }

  newActivations(): Activations {
    return new Activations(this.config, this.layout.part, this.B, this.T, this.ctor, this.tp.size, this.sequenceParallel);
  }

  /** Bytes of the default activation set (per micro-batch in flight), counted from the buffers. */
  activationBytes(): number {
    return this.acts.bytes;
  }

  /** Extra bytes one micro-batch holds between a deferred backward (B) and its weight step (W). */
  deferredWeightGradBytes(): number {
    return this.wsGrad.bytes;
  }

  /** Bytes of the shared workspace (scratch, gradients in flight, loss statistics), once per model. */
  workspaceBytes(): number {
    let bytes = this.wsGrad.bytes + this.dA.byteLength + this.dB.byteLength + this.stats.byteLength;
    for (const b of Object.values(this.ctx.ws)) bytes += b.byteLength;
    return bytes;
  }

  forward(tokens: Int32Array, targets: Int32Array): number {
    this.requireWhole();
    return this.stageForward(this.acts, tokens, targets).loss as number;
  }

  backward(gradScale: number): void {
    this.requireWhole();
    this.stageBackward(this.acts, null, gradScale);
  }

  stageForward(acts: Activations, input: Int32Array | Floats, targets?: Int32Array): StageResult {
    const { N, ctx } = this;
    const { rows, C, Vl } = this.dims;
    const { tp, charge } = ctx;
    const part = this.layout.part;
    if (part.hasEmbedding) {
      if (!(input instanceof Int32Array) || input.length !== N) throw new InputError("input", `must be ${N} Int32 token ids`);
      acts.tokens.set(input);
      charge.begin("embed");
      vocabEmbeddingForward(ctx.ws.full, input, this.p[EMBED_NAME], N, C, this.config.vocabSize, tp.index * Vl, Vl);
      charge.add(this.flops.embed.forward);
      acts.hidden[0].set(ctx.exit.forward(tp, ctx.ws.full, TP_EMBED));
      charge.flush();
    } else {
      if (input instanceof Int32Array || input.length !== rows * C) throw new InputError("input", `must be a hidden state of ${rows * C} floats`);
      // The pipeline executor receives straight into acts.hidden[0]: then there is nothing to copy.
      if (input !== acts.hidden[0]) acts.hidden[0].set(input);
    }
    for (let l = 0; l < part.numLayers; l++) {
      layerForward(ctx, this.w[l], acts.layers[l], acts.hidden[l], acts.hidden[l + 1], `L${part.firstLayer + l}`);
    }
    if (!part.hasHead) return { loss: null, output: acts.output };
    if (!targets || targets.length !== N) throw new InputError("targets", `must be ${N} Int32 token ids`);
    acts.targets.set(targets);
    charge.begin("head");
    const loss = headForward(ctx, this.hw, acts.head!, acts.output, acts.targets, this.stats, this.flops.head);
    charge.flush();
    return { loss, output: null };
  }

  /**
   * Input-gradient pass of the stage; returns ∂L/∂(stage input) [rows,C] or null on the first
   * stage. With deferWeights = false the weight gradients accumulate now as well; with true they
   * wait for stageBackwardWeights(acts).
   */
  stageBackward(acts: Activations, dOutput: Floats | null, gradScale: number, deferWeights = false): Floats | null {
    const { ctx, flops } = this;
    const { rows, C } = this.dims;
    const { tp, charge } = ctx;
    const part = this.layout.part;
    let gi = this.wsGrad;
    if (deferWeights) {
      let set = this.deferred.get(acts);
      if (!set) this.deferred.set(acts, (set = this.newWeightGradInputs()));
      if (set.pending) throw new InputError("acts", "its deferred weight gradients were not consumed yet");
      gi = set;
    }
    const now = !deferWeights;
    let dY = this.dA;
    let dX = this.dB;
    if (part.hasHead) {
      charge.begin("head");
      headBackwardInput(ctx, this.hw, acts.head!, acts.output, acts.targets, dY, gi, gradScale, flops.head);
      charge.flush();
      if (now) this.headWeights(acts, gi);
    } else {
      if (dOutput === null || dOutput.length !== rows * C) throw new InputError("dOutput", `must be a gradient of ${rows * C} floats`);
      dY.set(dOutput);
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      const label = `L${part.firstLayer + l}`;
      layerBackwardInput(ctx, this.w[l], acts.layers[l], acts.hidden[l], dX, dY, gi.layers[l], label);
      charge.flush();
      if (now) this.layerWeights(acts, l, gi);
      [dX, dY] = [dY, dX];
    }
    if (part.hasEmbedding) {
      charge.begin("embed");
      rowChunk(gi.dEmbed, tp, ctx.sp).set(dY);
      ctx.exit.backward(tp, gi.dEmbed, TP_EMBED);
      charge.add(flops.embed.backwardInput);
      charge.flush();
      if (now) this.embedWeights(acts, gi);
    }
    if (deferWeights) gi.pending = true;
    return part.hasEmbedding ? null : dY;
  }

  /** Weight-gradient pass (zero-bubble W) of a backward run with deferWeights. No communication. */
  stageBackwardWeights(acts: Activations): void {
    const set = this.deferred.get(acts);
    if (!set || !set.pending) throw new InputError("acts", "has no deferred weight gradients (run stageBackward with deferWeights first)");
    const part = this.layout.part;
    if (part.hasHead) this.headWeights(acts, set);
    for (let l = part.numLayers - 1; l >= 0; l--) this.layerWeights(acts, l, set);
    if (part.hasEmbedding) this.embedWeights(acts, set);
    set.pending = false;
  }

  // The weight-gradient halves, shared by the fused backward and the deferred W: each computes
  // its gradients from `gi`, charges them as `…:W` and announces the finished tensors.

  private headWeights(acts: Activations, gi: WeightGradInputs): void {
    this.ctx.charge.begin("head:W");
    headBackwardWeight(this.ctx, this.hw, this.hg, acts.head!, acts.output, gi);
    this.ctx.charge.add(this.flops.head.backwardWeight);
    this.ctx.charge.flush();
    this.hooks.gradsReady([FINAL_NORM_NAME, LM_HEAD_NAME]);
  }

  private layerWeights(acts: Activations, l: number, gi: WeightGradInputs): void {
    this.ctx.charge.begin(`L${this.layout.part.firstLayer + l}:W`);
    layerBackwardWeight(this.ctx, this.w[l], this.g[l], acts.layers[l], acts.hidden[l], gi.layers[l]);
    this.ctx.charge.flush();
    this.hooks.gradsReady(this.layerNames(l));
  }

  private embedWeights(acts: Activations, gi: WeightGradInputs): void {
    const { N, C, Vl } = this.dims;
    this.ctx.charge.begin("embed:W");
    vocabEmbeddingBackward(this.gr[EMBED_NAME], gi.dEmbed, acts.tokens, N, C, this.tp.index * Vl, Vl);
    this.ctx.charge.add(this.flops.embed.backwardWeight);
    this.ctx.charge.flush();
    this.hooks.gradsReady([EMBED_NAME]);
  }

  private layerNames(l: number): string[] {
    return LAYER_TENSORS.map((t) => layerTensorName(this.layout.part.firstLayer + l, t));
  }

  private newWeightGradInputs(): WeightGradInputs {
    return new WeightGradInputs(this.config, this.layout.part, this.B, this.T, this.ctor, this.tp.size, this.sequenceParallel);
  }

  private requireWhole(): void {
    const p = this.layout.part;
    if (!p.hasEmbedding || !p.hasHead || p.numLayers !== this.config.numLayers) {
      throw new InputError("layout.part", "forward/backward need the whole model; use stageForward/stageBackward");
    }
  }
}
