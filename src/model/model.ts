/**
 * Forward and backward of a model (llama or gpt family), or of one pipeline stage of it, on one
 * tensor-parallel rank (the default, a size-1 group, is the single device), built from the kernels:
 * embedding (src/model/embedding.ts) → layers (src/model/layer.ts) → head (src/model/head.ts).
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
 * the mean over all N tokens on every rank. Each pass names every unit of weights (embedding,
 * layer, head) before and after reading it to `weights` (src/model/weights.ts): ZeRO-3 gathers there.
 */
import { InputError, invariant } from "../errors.js";
import { noRopeTables, ropeTables } from "../kernels/rope.js";
import type { Floats } from "../kernels/types.js";
import { serialTpComm, tpPairs, type TpComm } from "../parallel/tensor.js";
import { Activations, arrayMaker, countingAllocator, metaMaker, recomputedBuffers, WeightGradInputs } from "./activations.js";
import type { AttentionKernel, BufferMaker, Recompute, RecomputedBuffers } from "./activations.js";
import { isMeta, metaFloats } from "../kernels/meta.js";
import type { SparsePattern } from "../kernels/sparse-pattern.js";
import { familyOf, headDim, type ModelConfig } from "./config.js";
import { embeddingBackwardInput, embeddingBackwardWeight, embeddingForward, type EmbeddingWeights } from "./embedding.js";
import { modelDims, type ModelDims } from "./dims.js";
import { headBackwardInput, headBackwardWeight, headForward, type HeadWeights } from "./head.js";
import { Charger, chargingTpComm, type ModelHooks } from "./charger.js";
import { KernelCalls, type StoreDtypes } from "./kernel-calls.js";
import { DTYPE_BYTES } from "../kernels/round.js";
import { layerBackwardInput, layerBackwardWeight, layerForward, type LayerContext, type LayerWeights } from "./layer.js";
import { forwardUnits, headViews, layerViews, RESIDENT_WEIGHTS, UnitWalk, type WeightSource } from "./weights.js";
import { EMBED_NAME, FINAL_NORM_BIAS_NAME, FINAL_NORM_NAME, layerTensorName, layerTensorsOf, LM_HEAD_NAME, POSITION_NAME, views, type Layout } from "./layout.js";

export type { ModelHooks, WeightSource };

export interface StageResult {
  /** Mean loss over the B·T tokens (stages with the head), else null. */
  loss: number | null;
  /** Output hidden state (stages without the head), else null. */
  output: Floats | null;
}

export interface ModelOptions {
  /** Korthikanti et al. 2022; needs tp to divide B·T. Default false. */
  sequenceParallel?: boolean;
  /**
   * Activation recomputation (Korthikanti et al. 2022), default "none". "selective" recomputes
   * each layer's attention core (scores, softmax, the product with V) in backward; "full" keeps
   * only each layer's input and reruns the whole layer's forward (its collectives too) before its
   * backward. Either way the gradients are bit-identical; "full" needs the fused backward.
   */
  recompute?: Recompute;
  /** The attention kernel, default "naive" (see AttentionKernel). */
  attention?: AttentionKernel;
  /** Block-sparse attention pattern (naive kernel only), default causal. */
  attentionPattern?: SparsePattern;
  /** Mixed precision: the dtypes kernel outputs are stored in (src/train/precision.ts); default fp32. */
  store?: StoreDtypes;
  /** Dropout probability (model.dropout): > 0 charges Megatron-LM's dropouts; meta arrays only (shapes mode). Default 0. */
  dropout?: number;
}

const NO_HOOKS: ModelHooks = { compute() {}, gradsReady() {} };

/** The constructor's contract with its callers (all inside parasim). */
function checkArguments(config: ModelConfig, layout: Layout, params: Floats, grads: Floats, B: number, T: number, tp: TpComm): void {
  invariant(Number.isInteger(B) && B >= 1, `B must be a positive integer, got ${B}`);
  invariant(Number.isInteger(T) && T >= 1 && T <= config.seqLen, `T must be an integer in [1, seqLen=${config.seqLen}], got ${T}`);
  invariant(params.constructor === grads.constructor, "grads must have the dtype of params");
  const lt = layout.tp ?? { size: 1, index: 0 };
  invariant(lt.size === tp.size && lt.index === tp.index, `layout is for tp rank ${lt.index} of ${lt.size}, the group says ${tp.index} of ${tp.size}`);
}

export class LlamaModel {
  readonly N: number;
  readonly dims: ModelDims;
  readonly sequenceParallel: boolean;
  /** Activations of the default micro-batch (used by forward/backward). */
  readonly acts: Activations;
  hooks: ModelHooks = NO_HOOKS;
  /** Where the weights come from: resident, or gathered unit by unit under ZeRO-3 (src/model/weights.ts). */
  weights: WeightSource = RESIDENT_WEIGHTS;
  /** The weight units in forward order. */
  private readonly units: string[][];
  private readonly buffers: BufferMaker;
  private readonly ctx: LayerContext;
  /** Named views of this rank's parameters and gradients (Hugging Face tensor names). */
  private readonly paramViews: Record<string, Floats>;
  private readonly gradViews: Record<string, Floats>;
  /** Per local layer: its weights and its weight gradients, by tensor. */
  private readonly layerParams: LayerWeights[];
  private readonly layerGrads: LayerWeights[];
  private readonly headParams: HeadWeights;
  private readonly headGrads: HeadWeights;
  private readonly embedParams: EmbeddingWeights;
  private readonly embedGrads: EmbeddingWeights;
  /** The two [rows,C] hidden-state gradients a backward ping-pongs between (layer output, layer input). */
  private readonly dHiddenA: Floats;
  private readonly dHiddenB: Floats;
  /** Loss statistics of every tp rank (3N float64 each). */
  private readonly lossStats: Float64Array;
  /** The weight-gradient inputs of an immediate backward (reused every time). */
  private readonly immediateGradInputs: WeightGradInputs;
  /** Those of each micro-batch whose weight gradients wait for a W action. */
  private readonly deferred = new Map<Activations, WeightGradInputs>();
  private readonly workspaceByteCount: number;
  /** The buffers recomputation refills, shared by every micro-batch (part of the workspace). */
  private readonly recomputed: RecomputedBuffers;
  /** Full recomputation: where the rerun forward puts the layer output it does not need. */
  private readonly recomputedOutput: Floats;

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
    checkArguments(config, layout, params, grads, B, T, tp);
    const sp = options.sequenceParallel ?? false;
    this.N = B * T;
    if (sp && this.N % tp.size !== 0) {
      throw new InputError("parallel.sequenceParallel", `needs tp = ${tp.size} to divide the tokens per micro-batch B·T = ${this.N}`);
    }
    // A model on meta parameters (src/kernels/meta.ts) charges every kernel call and computes
    // nothing: that is how FLOPs are counted and how shapes-only runs work.
    const computes = !isMeta(params);
    invariant(computes === !isMeta(grads), "params and grads must both be meta arrays or both be real");
    this.sequenceParallel = sp;
    // Tensors count their stored width: 2 bytes in 16-bit precision (emulated in float32 arrays).
    const stored = options.store && DTYPE_BYTES[options.store.activations];
    this.buffers = computes ? arrayMaker(params instanceof Float64Array ? Float64Array : Float32Array, stored) : metaMaker(stored);
    this.dims = modelDims(config, B, T, tp.size, sp);
    [this.paramViews, this.gradViews] = [views(layout, params), views(layout, grads)];
    [this.layerParams, this.layerGrads] = [layerViews(config, layout.part, this.paramViews), layerViews(config, layout.part, this.gradViews)];
    [this.headParams, this.embedParams] = [headViews(this.paramViews, config), { table: this.paramViews[EMBED_NAME], positions: this.paramViews[POSITION_NAME] }];
    [this.headGrads, this.embedGrads] = [headViews(this.gradViews, config), { table: this.gradViews[EMBED_NAME], positions: this.gradViews[POSITION_NAME] }];
    this.units = forwardUnits(layout.part, this.headParams.lmHead === this.embedParams.table);
    const { N, rows, C, D, Hl, Gl, Fl } = this.dims;
    const workspace = countingAllocator(this.buffers);
    const family = familyOf(config);
    this.recomputed = recomputedBuffers(workspace, this.dims, B, T, options, family);
    const { recompute, attention } = this.recomputed;
    this.recomputedOutput = workspace.f(recompute === "full" ? rows * C : 0);
    this.acts = this.newActivations();
    this.immediateGradInputs = this.newWeightGradInputs();
    [this.dHiddenA, this.dHiddenB] = [workspace.f(rows * C), workspace.f(rows * C)];
    const ws = { full: workspace.f(N * C), dact: workspace.f(N * Fl), dattOut: workspace.f(N * Hl * D), dq: workspace.f(N * Hl * D), dk: workspace.f(N * Gl * D), ln: workspace.f(sp ? N * C : 0) };
    this.lossStats = computes ? new Float64Array(3 * N * tp.size) : (metaFloats(3 * N * tp.size, Float64Array.BYTES_PER_ELEMENT) as Float64Array);
    this.workspaceByteCount = this.immediateGradInputs.bytes + workspace.bytes() + this.lossStats.byteLength;
    const charge = new Charger(() => this.hooks);
    this.ctx = {
      config, family, B, T, dims: this.dims, sp,
      tp: chargingTpComm(tp, charge),
      ...tpPairs(sp),
      rope: family === "llama" ? (computes ? ropeTables(T, headDim(config), config.ropeTheta) : noRopeTables(T, headDim(config))) : null, // meta: never read
      ws,
      charge,
      ops: new KernelCalls(charge, computes, options.store),
      recomputeAttention: recompute === "selective",
      flash: attention === "flash",
      pattern: options.attentionPattern?.kind === "strided" || options.attentionPattern?.kind === "fixed" ? options.attentionPattern : null,
      dropout: (options.dropout ?? 0) > 0,
    };
    invariant(!this.ctx.dropout || !computes, "dropout has no real-mode kernel: only a model on meta arrays (shapes mode) charges it");
  }

  newActivations(): Activations {
    return new Activations(this.config, this.layout.part, this.B, this.T, this.buffers, this.tp.size, this.sequenceParallel, this.recomputed);
  }

  /** Bytes of the default activation set (per micro-batch in flight), counted from the buffers. */
  activationBytes(): number {
    return this.acts.bytes;
  }

  /** Extra bytes one micro-batch holds between a deferred backward (B) and its weight step (W). */
  deferredWeightGradBytes(): number {
    return this.immediateGradInputs.bytes;
  }

  /** Bytes of the shared workspace (scratch, gradients in flight, loss statistics), once per model. */
  workspaceBytes(): number {
    return this.workspaceByteCount;
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
    const part = this.layout.part;
    const walk = this.walk(false);
    if (part.hasEmbedding) {
      invariant(input instanceof Int32Array && input.length === N, `a first stage's input must be ${N} Int32 token ids`);
      walk.within(() => (ctx.charge.begin("embed"), embeddingForward(ctx, this.embedParams, acts, input)));
    } else {
      const hidden = acts.hidden[0];
      invariant(!(input instanceof Int32Array) && input.length === hidden.length, `a later stage's input must be a hidden state of ${hidden.length} floats`);
      // The pipeline executor receives straight into acts.hidden[0]: then there is nothing to copy.
      if (input !== hidden) hidden.set(input);
    }
    for (let l = 0; l < part.numLayers; l++) {
      walk.within(() => layerForward(ctx, this.layerParams[l], acts.layers[l], acts.hidden[l], acts.hidden[l + 1], `L${part.firstLayer + l}`));
    }
    if (!part.hasHead) return { loss: null, output: acts.output };
    invariant(targets !== undefined && targets.length === N, `a last stage needs ${N} Int32 targets`);
    acts.targets.set(targets);
    const loss = walk.within(() => (ctx.charge.begin("head"), headForward(ctx, this.headParams, acts.head!, acts.output, acts.targets, this.lossStats)));
    return { loss, output: null };
  }

  /**
   * Input-gradient pass of the stage; returns ∂L/∂(stage input) [rows,C] or null on the first
   * stage. With deferWeights = false the weight gradients accumulate now as well; with true they
   * wait for stageBackwardWeights(acts).
   */
  stageBackward(acts: Activations, dOutput: Floats | null, gradScale: number, deferWeights = false): Floats | null {
    const { ctx } = this;
    const part = this.layout.part;
    invariant(!(deferWeights && this.recomputed.recompute === "full"), "full recomputation shares one layer's buffers, so its weight gradients cannot wait for W");
    const gi = deferWeights ? this.deferredGradInputs(acts) : this.immediateGradInputs;
    const now = !deferWeights;
    let dY = this.dHiddenA;
    let dX = this.dHiddenB;
    const walk = this.walk(true);
    if (part.hasHead) {
      walk.enter();
      ctx.charge.begin("head");
      headBackwardInput(ctx, this.headParams, acts.head!, acts.output, acts.targets, dY, gi, gradScale);
      ctx.charge.flush();
      if (now) this.headWeights(acts, gi);
      walk.leave();
    } else {
      invariant(dOutput !== null && dOutput.length === dY.length, `a stage without the head needs the gradient of its output, ${dY.length} floats`);
      dY.set(dOutput);
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      const label = `L${part.firstLayer + l}`;
      walk.enter();
      if (this.recomputed.recompute === "full") {
        // Refill the layer's saved tensors from its kept input; the rerun is its own compute event.
        layerForward(ctx, this.layerParams[l], acts.layers[l], acts.hidden[l], this.recomputedOutput, `${label}:recompute`);
      }
      layerBackwardInput(ctx, this.layerParams[l], acts.layers[l], acts.hidden[l], dX, dY, gi.layers[l], label);
      ctx.charge.flush();
      if (now) this.layerWeights(acts, l, gi);
      walk.leave();
      [dX, dY] = [dY, dX];
    }
    if (part.hasEmbedding) {
      walk.enter();
      embeddingBackwardInput(ctx, dY, gi);
      if (now) this.embedWeights(acts, gi);
      walk.leave();
    }
    if (deferWeights) gi.pending = true;
    return part.hasEmbedding ? null : dY;
  }

  /** Weight-gradient pass (zero-bubble W) of a backward run with deferWeights. No communication but ZeRO-3's gathers (norm gradients read the norms' weights). */
  stageBackwardWeights(acts: Activations): void {
    const set = this.deferred.get(acts);
    invariant(set?.pending, "stageBackwardWeights needs a stageBackward with deferWeights first");
    const part = this.layout.part;
    const walk = this.walk(true);
    if (part.hasHead) walk.within(() => this.headWeights(acts, set));
    for (let l = part.numLayers - 1; l >= 0; l--) walk.within(() => this.layerWeights(acts, l, set));
    if (part.hasEmbedding) walk.within(() => this.embedWeights(acts, set));
    set.pending = false;
  }

  // The weight-gradient halves, shared by the fused backward and the deferred W: each computes
  // its gradients from `gi`, charges them as `…:W` and announces the finished tensors.

  private headWeights(acts: Activations, gi: WeightGradInputs): void {
    this.ctx.charge.begin("head:W");
    headBackwardWeight(this.ctx, this.headParams, this.headGrads, acts.head!, acts.output, gi);
    this.ctx.charge.flush();
    // A tied head's gradient is the embedding's, announced with it once the embedding's is added.
    this.hooks.gradsReady(this.present([FINAL_NORM_NAME, FINAL_NORM_BIAS_NAME, LM_HEAD_NAME]));
  }

  private layerWeights(acts: Activations, l: number, gi: WeightGradInputs): void {
    this.ctx.charge.begin(`L${this.layout.part.firstLayer + l}:W`);
    layerBackwardWeight(this.ctx, this.layerParams[l], this.layerGrads[l], acts.layers[l], acts.hidden[l], gi.layers[l]);
    this.ctx.charge.flush();
    this.hooks.gradsReady(this.layerNames(l));
  }

  private embedWeights(acts: Activations, gi: WeightGradInputs): void {
    this.ctx.charge.begin("embed:W");
    embeddingBackwardWeight(this.ctx, this.embedGrads, acts, gi);
    this.ctx.charge.flush();
    this.hooks.gradsReady(this.present([EMBED_NAME, POSITION_NAME]));
  }

  /** A pass's walk over the weight units, forward order or (backward) reverse. */
  private walk(backward: boolean): UnitWalk {
    return new UnitWalk(this.weights, backward ? [...this.units].reverse() : this.units, () => this.ctx.charge.flush());
  }

  /** The names of `names` this model's layout holds. */
  private present(names: string[]): string[] {
    return names.filter((name) => this.layout.byName.has(name));
  }

  private deferredGradInputs(acts: Activations): WeightGradInputs {
    let set = this.deferred.get(acts);
    if (!set) this.deferred.set(acts, (set = this.newWeightGradInputs()));
    invariant(!set.pending, "a micro-batch's deferred weight gradients must be consumed (W) before its next backward");
    return set;
  }

  private layerNames(l: number): string[] {
    return layerTensorsOf(this.config).map((t) => layerTensorName(this.layout.part.firstLayer + l, t));
  }

  private newWeightGradInputs(): WeightGradInputs {
    return new WeightGradInputs(this.config, this.layout.part, this.B, this.T, this.buffers, this.tp.size, this.sequenceParallel);
  }

  private requireWhole(): void {
    const p = this.layout.part;
    invariant(p.hasEmbedding && p.hasHead && p.numLayers === this.config.numLayers, "forward/backward need the whole model; use stageForward/stageBackward");
  }
}
