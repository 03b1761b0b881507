/**
 * A Llama model (or pipeline stage) on one tensor-parallel rank: the same public surface as
 * LlamaModel (src/model/model.ts), so a trainer or executor can drive either. With a size-1
 * group (`serialTpComm()`) it computes exactly what LlamaModel computes, bit for bit.
 *
 * Usage: `new TpLlamaModel(config, buildLayout(config, part, { size: tp, index }), params, grads,
 * B, T, tpCommFrom(comm, mesh.groupOf(rank, "tp")), { sequenceParallel })`, then as LlamaModel,
 * and once per step `syncTpNormGrads(layout, grads, tp, sequenceParallel)`.
 *
 * Under sequence parallelism (requires tp | B·T) a stage's input and output hidden states are
 * this rank's rows [rows = N/tp, C] (rows [index·rows, (index+1)·rows) of the micro-batch), and
 * `stageBackward`'s dOutput/return value likewise; otherwise they are the full [N,C], identical
 * on every tp rank. The loss (head stages) is the mean over all N tokens on every rank.
 */
import { InputError } from "../errors.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { ropeTables } from "../kernels/rope.js";
import { rmsnormFlops } from "../kernels/flops.js";
import type { Floats, KernelFlops } from "../kernels/types.js";
import type { FloatsCtor } from "../model/activations.js";
import { headDim, type ModelConfig } from "../model/config.js";
import type { LayerWeights } from "../model/layer.js";
import { EMBED_NAME, FINAL_NORM_NAME, LAYER_TENSORS, LM_HEAD_NAME, layerTensorName, views, type Layout } from "../model/layout.js";
import type { ModelHooks, StageResult } from "../model/model.js";
import { rowChunk, TP_EMBED, TP_HEAD, TP_LOSS, tpPairs, type TpComm } from "./tensor.js";
import { TpActivations, TpWeightGradInputs } from "./tp-activations.js";
import { tpDims, tpEmbedFlops, tpHeadFlops, tpLayerFlops, type TpDims } from "./tp-flops.js";
import { Charger, chargingTpComm, tpLayerBackwardInput, tpLayerBackwardWeight, tpLayerForward, type TpLayerContext } from "./tp-layer.js";
import { vocabCrossEntropyBackward, vocabCrossEntropyFinish, vocabCrossEntropyStats } from "./tp-vocab.js";
import { vocabEmbeddingBackward, vocabEmbeddingForward } from "./tp-vocab.js";

export interface TpModelOptions {
  /** Korthikanti et al. 2022; needs tp to divide B·T. Default false. */
  sequenceParallel?: boolean;
}

const NO_HOOKS: ModelHooks = { compute() {}, gradsReady() {} };

export class TpLlamaModel {
  readonly N: number;
  readonly dims: TpDims;
  readonly sequenceParallel: boolean;
  readonly acts: TpActivations;
  hooks: ModelHooks = NO_HOOKS;
  private readonly ctor: FloatsCtor;
  private readonly ctx: TpLayerContext;
  private readonly flops: { embed: KernelFlops; layer: KernelFlops; head: KernelFlops };
  private readonly w: LayerWeights[];
  private readonly g: LayerWeights[];
  private readonly p: Record<string, Floats>;
  private readonly gr: Record<string, Floats>;
  private readonly dA: Floats;
  private readonly dB: Floats;
  /** Loss statistics of every tp rank (3N float64 each). */
  private readonly stats: Float64Array;
  private readonly wsGrad: TpWeightGradInputs;
  private readonly deferred = new Map<TpActivations, TpWeightGradInputs>();

  constructor(
    readonly config: ModelConfig,
    readonly layout: Layout,
    params: Floats,
    grads: Floats,
    readonly B: number,
    readonly T: number,
    readonly tp: TpComm,
    options: TpModelOptions = {},
  ) {
    if (!Number.isInteger(B) || B < 1) throw new InputError("B", `must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T < 1 || T > config.seqLen) throw new InputError("T", `must be an integer in [1, ${config.seqLen}], got ${T}`);
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
    this.dims = tpDims(config, B, T, tp.size, sp);
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
    this.acts = this.newActivations();
    const { N, rows, C, D, Hl, Gl, Fl } = this.dims;
    const make = (n: number): Floats => new this.ctor(n);
    this.dA = make(rows * C);
    this.dB = make(rows * C);
    this.stats = new Float64Array(3 * N * tp.size);
    this.flops = { embed: tpEmbedFlops(config, B, T), layer: tpLayerFlops(config, B, T, tp.size, sp), head: tpHeadFlops(config, B, T, tp.size, sp) };
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

  newActivations(): TpActivations {
    return new TpActivations(this.config, this.layout.part, this.B, this.T, this.tp.size, this.sequenceParallel, this.ctor);
  }

  /** Bytes of the default activation set (per micro-batch in flight), counted from the buffers. */
  activationBytes(): number {
    return this.acts.bytes;
  }

  deferredWeightGradBytes(): number {
    return this.wsGrad.bytes;
  }

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

  stageForward(acts: TpActivations, input: Int32Array | Floats, targets?: Int32Array): StageResult {
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
      acts.hidden[0].set(input);
    }
    for (let l = 0; l < part.numLayers; l++) {
      tpLayerForward(ctx, this.w[l], acts.layers[l], acts.hidden[l], acts.hidden[l + 1], `L${part.firstLayer + l}`);
    }
    if (!part.hasHead) return { loss: null, output: acts.output };
    if (!targets || targets.length !== N) throw new InputError("targets", `must be ${N} Int32 token ids`);
    acts.targets.set(targets);
    const h = acts.head!;
    charge.begin("head");
    rmsnormForward(rowChunk(h.lnf, tp, ctx.sp), h.rstdf, acts.output, this.p[FINAL_NORM_NAME], rows, C, this.config.rmsNormEps);
    charge.add(rmsnormFlops(rows, C).forward);
    ctx.enter.forward(tp, h.lnf, TP_HEAD);
    linearForward(h.logits, h.lnf, this.p[LM_HEAD_NAME], N, C, Vl);
    const mine = this.stats.subarray(tp.index * 3 * N, (tp.index + 1) * 3 * N);
    vocabCrossEntropyStats(mine, h.logits, acts.targets, N, this.config.vocabSize, tp.index * Vl, Vl);
    // The whole cross-entropy is charged before its statistics all-gather (the final normalising
    // pass runs after it; its FLOPs are in the same per-logit constant).
    charge.add(this.flops.head.forward - rmsnormFlops(rows, C).forward);
    tp.allGather(this.stats, TP_LOSS);
    vocabCrossEntropyFinish(h.losses, h.probs, h.logits, this.stats, N, Vl, tp.size);
    charge.flush();
    let sum = 0;
    for (let n = 0; n < N; n++) sum += h.losses[n];
    return { loss: sum / N, output: null };
  }

  /** As LlamaModel.stageBackward; dOutput and the returned gradient are [rows,C]. */
  stageBackward(acts: TpActivations, dOutput: Floats | null, gradScale: number, deferWeights = false): Floats | null {
    const { ctx, hooks, flops } = this;
    const { N, rows, C, Vl } = this.dims;
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
      const h = acts.head!;
      charge.begin("head");
      gi.dlogits.fill(0);
      vocabCrossEntropyBackward(gi.dlogits, h.probs, acts.targets, gradScale, N, tp.index * Vl, Vl);
      ctx.ws.full.fill(0);
      linearBackwardInput(ctx.ws.full, gi.dlogits, this.p[LM_HEAD_NAME], N, C, Vl);
      const normInput = rmsnormFlops(rows, C).backwardInput;
      charge.add(flops.head.backwardInput - normInput);
      gi.dlnf.set(ctx.enter.backward(tp, ctx.ws.full, TP_HEAD));
      dY.fill(0);
      rmsnormBackward(dY, null, gi.dlnf, acts.output, this.p[FINAL_NORM_NAME], h.rstdf, rows, C);
      charge.add(normInput);
      if (now) {
        this.headWeightGrads(acts, gi);
        charge.add(flops.head.backwardWeight);
      }
      charge.flush();
      if (now) hooks.gradsReady([FINAL_NORM_NAME, LM_HEAD_NAME]);
    } else {
      if (dOutput === null || dOutput.length !== rows * C) throw new InputError("dOutput", `must be a gradient of ${rows * C} floats`);
      dY.set(dOutput);
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      const label = `L${part.firstLayer + l}`;
      tpLayerBackwardInput(ctx, this.w[l], acts.layers[l], acts.hidden[l], dX, dY, gi.layers[l], label);
      if (now) {
        charge.begin(`${label}:W`);
        tpLayerBackwardWeight(ctx, this.w[l], this.g[l], acts.layers[l], acts.hidden[l], gi.layers[l]);
      }
      charge.flush();
      if (now) hooks.gradsReady(this.layerNames(l));
      [dX, dY] = [dY, dX];
    }
    if (part.hasEmbedding) {
      charge.begin("embed");
      rowChunk(gi.dEmbed, tp, ctx.sp).set(dY);
      ctx.exit.backward(tp, gi.dEmbed, TP_EMBED);
      charge.add(flops.embed.backwardInput);
      if (now) {
        vocabEmbeddingBackward(this.gr[EMBED_NAME], gi.dEmbed, acts.tokens, N, C, tp.index * Vl, Vl);
        charge.add(flops.embed.backwardWeight);
      }
      charge.flush();
      if (now) hooks.gradsReady([EMBED_NAME]);
    }
    if (deferWeights) gi.pending = true;
    return part.hasEmbedding ? null : dY;
  }

  /** Weight-gradient pass (zero-bubble W) of a backward run with deferWeights. No communication. */
  stageBackwardWeights(acts: TpActivations): void {
    const set = this.deferred.get(acts);
    if (!set || !set.pending) throw new InputError("acts", "has no deferred weight gradients (run stageBackward with deferWeights first)");
    const { N, hooks, flops, ctx } = this;
    const { C, Vl } = this.dims;
    const part = this.layout.part;
    if (part.hasHead) {
      this.headWeightGrads(acts, set);
      hooks.compute("head:W", flops.head.backwardWeight);
      hooks.gradsReady([FINAL_NORM_NAME, LM_HEAD_NAME]);
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      ctx.charge.begin(`L${part.firstLayer + l}:W`);
      tpLayerBackwardWeight(ctx, this.w[l], this.g[l], acts.layers[l], acts.hidden[l], set.layers[l]);
      ctx.charge.flush();
      hooks.gradsReady(this.layerNames(l));
    }
    if (part.hasEmbedding) {
      vocabEmbeddingBackward(this.gr[EMBED_NAME], set.dEmbed, acts.tokens, N, C, this.tp.index * Vl, Vl);
      hooks.compute("embed:W", flops.embed.backwardWeight);
      hooks.gradsReady([EMBED_NAME]);
    }
    set.pending = false;
  }

  private headWeightGrads(acts: TpActivations, gi: TpWeightGradInputs): void {
    const { N, rows, C, Vl } = this.dims;
    const h = acts.head!;
    linearBackwardWeight(this.gr[LM_HEAD_NAME], gi.dlogits, h.lnf, N, C, Vl);
    rmsnormBackward(null, this.gr[FINAL_NORM_NAME], gi.dlnf, acts.output, this.p[FINAL_NORM_NAME], h.rstdf, rows, C);
  }

  private layerNames(l: number): string[] {
    return LAYER_TENSORS.map((t) => layerTensorName(this.layout.part.firstLayer + l, t));
  }

  private newWeightGradInputs(): TpWeightGradInputs {
    return new TpWeightGradInputs(this.config, this.layout.part, this.B, this.T, this.tp.size, this.sequenceParallel, this.ctor);
  }

  private requireWhole(): void {
    const p = this.layout.part;
    if (!p.hasEmbedding || !p.hasHead || p.numLayers !== this.config.numLayers) {
      throw new InputError("layout.part", "forward/backward need the whole model; use stageForward/stageBackward");
    }
  }
}
