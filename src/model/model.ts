/**
 * Forward and backward of a Llama model, or of one pipeline stage of it, built from the kernels.
 *
 * Legend: B batch, T time, N = B·T rows, C hidden, H heads, G kv heads, D head size,
 * F intermediate, V vocab, L layers of the stage.
 *
 * Per layer: x → RMSNorm → q/k/v projections → RoPE on q, k → causal GQA attention → o_proj →
 * + x (res1) → RMSNorm → down(silu(gate(·)) ⊙ up(·)) → + res1. Whole model: embedding → layers →
 * final RMSNorm → lm_head → cross-entropy on next-token targets.
 *
 * Usage (whole model): `const m = new LlamaModel(config, layout, params, grads, B, T);
 * const loss = m.forward(tokens, targets); m.backward(1 / (B * T));` — gradients accumulate into
 * `grads` (zero them yourself between steps).
 * Usage (pipeline stage): `stageForward(acts, input, targets)` takes token ids (stage with the
 * embedding) or the previous stage's hidden state [N,C]; the output hidden state is `acts.output`.
 * `stageBackward(acts, dOutput, gradScale)` takes the gradient of `acts.output` (or, on the last
 * stage, null and the per-token loss weight) and returns the gradient of the stage input [N,C]
 * (a workspace buffer valid until the next backward) or null on the first stage.
 * Zero-bubble split: `stageBackward(acts, dOutput, gradScale, true)` computes only the input
 * gradients (action B) and keeps the upstream gradients the weight step needs; the later
 * `stageBackwardWeights(acts)` (action W) accumulates the weight gradients. Both orders give
 * bit-identical gradients.
 */
import { InputError } from "../errors.js";
import { crossEntropyBackward, crossEntropyForward } from "../kernels/crossEntropy.js";
import { embeddingBackward, embeddingForward } from "../kernels/embedding.js";
import { linearBackwardInput, linearBackwardWeight, linearForward } from "../kernels/linear.js";
import { rmsnormBackward, rmsnormForward } from "../kernels/rmsnorm.js";
import { ropeTables } from "../kernels/rope.js";
import type { Floats } from "../kernels/types.js";
import { Activations, WeightGradInputs, type FloatsCtor } from "./activations.js";
import { layerBackwardInput, layerBackwardWeight, layerForward, type LayerContext, type LayerWeights } from "./layer.js";
import { headDim, type ModelConfig } from "./config.js";
import { embedFlops, headFlops, layerFlops } from "./flops.js";
import type { KernelFlops } from "../kernels/types.js";
import { EMBED_NAME, FINAL_NORM_NAME, LAYER_TENSORS, LM_HEAD_NAME, layerTensorName, views, type Layout } from "./layout.js";

/**
 * Observers of the model's work, for the simulated clock and for data-parallel gradient buckets.
 * `compute` is called after each unit of work (embedding, a layer, the head; forward or backward)
 * with the FLOPs it did, so a device can charge time in the order the work happens;
 * `gradsReady` after the weight gradients of a unit are complete, with the tensor names.
 */
export interface ModelHooks {
  compute(label: string, flops: number): void;
  gradsReady(names: string[]): void;
}

const NO_HOOKS: ModelHooks = { compute() {}, gradsReady() {} };

export interface StageResult {
  /** Mean loss over the B·T tokens (stages with the head), else null. */
  loss: number | null;
  /** Output hidden state [N,C] (stages without the head), else null. */
  output: Floats | null;
}

export class LlamaModel {
  readonly N: number;
  readonly D: number;
  /** Activations of the default micro-batch (used by forward/backward). */
  readonly acts: Activations;
  /** Observers of the work done (no-ops by default). */
  hooks: ModelHooks = NO_HOOKS;
  private readonly flops: { embed: KernelFlops; layer: KernelFlops; head: KernelFlops };
  private readonly ctor: FloatsCtor;
  private readonly ctx: LayerContext;
  private readonly w: LayerWeights[];
  private readonly g: LayerWeights[];
  private readonly p: Record<string, Floats>;
  private readonly gr: Record<string, Floats>;
  /** Residual-gradient ping-pong buffers [N,C]. */
  private readonly dA: Floats;
  private readonly dB: Floats;
  /** Weight-step inputs of an immediate (not deferred) backward. */
  private readonly wsGrad: WeightGradInputs;
  private readonly deferred = new Map<Activations, WeightGradInputs>();

  constructor(
    readonly config: ModelConfig,
    readonly layout: Layout,
    params: Floats,
    grads: Floats,
    readonly B: number,
    readonly T: number,
  ) {
    if (!Number.isInteger(B) || B < 1) throw new InputError("B", `must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T < 1 || T > config.seqLen) {
      throw new InputError("T", `must be an integer in [1, seqLen=${config.seqLen}], got ${T}`);
    }
    if (params.constructor !== grads.constructor) throw new InputError("grads", "must have the dtype of params");
    this.ctor = params instanceof Float64Array ? Float64Array : Float32Array;
    this.N = B * T;
    this.D = headDim(config);
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
    const N = this.N;
    const C = config.hiddenSize;
    const HD = config.numHeads * this.D;
    const GD = config.numKvHeads * this.D;
    const F = config.intermediateSize;
    const make = (n: number): Floats => new this.ctor(n);
    this.dA = make(N * C);
    this.dB = make(N * C);
    this.ctx = {
      config, B, T, N, D: this.D,
      rope: ropeTables(T, this.D, config.ropeTheta),
      ws: { projC: make(N * C), dact: make(N * F), dattOut: make(N * HD), dq: make(N * HD), dk: make(N * GD) },
    };
    this.wsGrad = this.newWeightGradInputs();
    this.flops = { embed: embedFlops(config, B, T), layer: layerFlops(config, B, T), head: headFlops(config, B, T) };
  }

  /** A fresh set of saved buffers, for one more micro-batch in flight. */
  newActivations(): Activations {
    return new Activations(this.config, this.layout.part, this.B, this.T, this.ctor);
  }

  /** Bytes of the default activation set (saved between forward and backward, per micro-batch). */
  activationBytes(): number {
    return this.acts.bytes;
  }

  /** Extra bytes one micro-batch holds between a deferred backward (B) and its weight step (W). */
  deferredWeightGradBytes(): number {
    return this.wsGrad.bytes;
  }

  /** Bytes of the shared workspace (projection scratch and gradients in flight), once per model. */
  workspaceBytes(): number {
    let bytes = this.wsGrad.bytes + this.dA.byteLength + this.dB.byteLength;
    for (const b of Object.values(this.ctx.ws)) bytes += b.byteLength;
    return bytes;
  }

  /** Whole model: mean cross-entropy over the B·T next-token targets. */
  forward(tokens: Int32Array, targets: Int32Array): number {
    this.requireWhole();
    return this.stageForward(this.acts, tokens, targets).loss as number;
  }

  /** Whole model: accumulates into grads; gradScale is each token's loss weight (1/(B·T) for the mean). */
  backward(gradScale: number): void {
    this.requireWhole();
    this.stageBackward(this.acts, null, gradScale);
  }

  stageForward(acts: Activations, input: Int32Array | Floats, targets?: Int32Array): StageResult {
    const { N, hooks, flops } = this;
    const C = this.config.hiddenSize;
    const part = this.layout.part;
    if (part.hasEmbedding) {
      if (!(input instanceof Int32Array) || input.length !== N) throw new InputError("input", `must be ${N} Int32 token ids`);
      acts.tokens.set(input);
      embeddingForward(acts.hidden[0], input, this.p[EMBED_NAME], N, C, this.config.vocabSize);
      hooks.compute("embed", flops.embed.forward);
    } else {
      if (input instanceof Int32Array || input.length !== N * C) throw new InputError("input", `must be a hidden state of ${N * C} floats`);
      acts.hidden[0].set(input);
    }
    for (let l = 0; l < part.numLayers; l++) {
      layerForward(this.ctx, this.w[l], acts.layers[l], acts.hidden[l], acts.hidden[l + 1]);
      hooks.compute(`L${part.firstLayer + l}`, flops.layer.forward);
    }
    if (!part.hasHead) return { loss: null, output: acts.output };
    if (!targets || targets.length !== N) throw new InputError("targets", `must be ${N} Int32 token ids`);
    acts.targets.set(targets);
    const loss = this.headForward(acts);
    hooks.compute("head", flops.head.forward);
    return { loss, output: null };
  }

  /**
   * Input-gradient pass of the stage; returns ∂L/∂(stage input) or null on the first stage.
   * With deferWeights = false the weight gradients accumulate now as well; with true they wait
   * for stageBackwardWeights(acts).
   */
  stageBackward(acts: Activations, dOutput: Floats | null, gradScale: number, deferWeights = false): Floats | null {
    const C = this.config.hiddenSize;
    const part = this.layout.part;
    const { hooks, flops } = this;
    let gi = this.wsGrad;
    if (deferWeights) {
      let set = this.deferred.get(acts);
      if (!set) {
        set = this.newWeightGradInputs();
        this.deferred.set(acts, set);
      }
      if (set.pending) throw new InputError("acts", "its deferred weight gradients were not consumed yet");
      gi = set;
    }
    // Without deferral each unit's weight gradients follow its input gradients at once, so they
    // are complete (and can be reduced) as early as possible; with deferral they wait for W.
    const now = !deferWeights;
    const cost = (f: KernelFlops): number => f.backwardInput + (now ? f.backwardWeight : 0);
    let dY = this.dA;
    let dX = this.dB;
    if (part.hasHead) {
      this.headBackward(acts, dY, gradScale, gi);
      if (now) this.headWeightGrads(acts, gi);
      hooks.compute("head", cost(flops.head));
      if (now) hooks.gradsReady(this.headNames());
    } else {
      if (dOutput === null || dOutput.length !== this.N * C) throw new InputError("dOutput", `must be a gradient of ${this.N * C} floats`);
      dY.set(dOutput);
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      layerBackwardInput(this.ctx, this.w[l], acts.layers[l], acts.hidden[l], dX, dY, gi.layers[l]);
      if (now) layerBackwardWeight(this.ctx, this.w[l], this.g[l], acts.layers[l], acts.hidden[l], gi.layers[l]);
      hooks.compute(`L${part.firstLayer + l}`, cost(flops.layer));
      if (now) hooks.gradsReady(this.layerNames(l));
      [dX, dY] = [dY, dX];
    }
    if (part.hasEmbedding) {
      gi.dEmbed.set(dY);
      if (now) embeddingBackward(this.gr[EMBED_NAME], gi.dEmbed, acts.tokens, this.N, C);
      hooks.compute("embed", cost(flops.embed));
      if (now) hooks.gradsReady([EMBED_NAME]);
    }
    if (deferWeights) gi.pending = true;
    return part.hasEmbedding ? null : dY;
  }

  /** Weight-gradient pass (zero-bubble W) of a backward that was run with deferWeights. */
  stageBackwardWeights(acts: Activations): void {
    const set = this.deferred.get(acts);
    if (!set || !set.pending) throw new InputError("acts", "has no deferred weight gradients (run stageBackward with deferWeights first)");
    const { N, config, hooks, flops } = this;
    const part = this.layout.part;
    if (part.hasHead) {
      this.headWeightGrads(acts, set);
      hooks.compute("head:W", flops.head.backwardWeight);
      hooks.gradsReady(this.headNames());
    }
    for (let l = part.numLayers - 1; l >= 0; l--) {
      layerBackwardWeight(this.ctx, this.w[l], this.g[l], acts.layers[l], acts.hidden[l], set.layers[l]);
      hooks.compute(`L${part.firstLayer + l}:W`, flops.layer.backwardWeight);
      hooks.gradsReady(this.layerNames(l));
    }
    if (part.hasEmbedding) {
      embeddingBackward(this.gr[EMBED_NAME], set.dEmbed, acts.tokens, N, config.hiddenSize);
      hooks.compute("embed:W", flops.embed.backwardWeight);
      hooks.gradsReady([EMBED_NAME]);
    }
    set.pending = false;
  }

  private headNames(): string[] {
    return [FINAL_NORM_NAME, LM_HEAD_NAME];
  }

  private layerNames(l: number): string[] {
    return LAYER_TENSORS.map((t) => layerTensorName(this.layout.part.firstLayer + l, t));
  }

  private headWeightGrads(acts: Activations, gi: WeightGradInputs): void {
    const { N, config } = this;
    const C = config.hiddenSize;
    const h = acts.head!;
    linearBackwardWeight(this.gr[LM_HEAD_NAME], gi.dlogits, h.lnf, N, C, config.vocabSize);
    rmsnormBackward(null, this.gr[FINAL_NORM_NAME], gi.dlnf, acts.output, this.p[FINAL_NORM_NAME], h.rstdf, N, C);
  }

  private newWeightGradInputs(): WeightGradInputs {
    return new WeightGradInputs(this.config, this.layout.part, this.B, this.T, this.ctor);
  }

  private requireWhole(): void {
    const p = this.layout.part;
    if (!p.hasEmbedding || !p.hasHead || p.numLayers !== this.config.numLayers) {
      throw new InputError("layout.part", "forward/backward need the whole model; use stageForward/stageBackward");
    }
  }

  private headForward(acts: Activations): number {
    const { N, config } = this;
    const C = config.hiddenSize, V = config.vocabSize;
    const h = acts.head!;
    rmsnormForward(h.lnf, h.rstdf, acts.output, this.p[FINAL_NORM_NAME], N, C, config.rmsNormEps);
    linearForward(h.logits, h.lnf, this.p[LM_HEAD_NAME], N, C, V);
    crossEntropyForward(h.losses, h.probs, h.logits, acts.targets, N, V);
    let sum = 0;
    for (let n = 0; n < N; n++) sum += h.losses[n];
    return sum / N;
  }

  /** Writes ∂L/∂(last hidden state) into dH (overwrites); leaves dlogits and dlnf in gi. */
  private headBackward(acts: Activations, dH: Floats, gradScale: number, gi: WeightGradInputs): void {
    const { N, config } = this;
    const C = config.hiddenSize, V = config.vocabSize;
    const h = acts.head!;
    gi.dlogits.fill(0);
    crossEntropyBackward(gi.dlogits, h.probs, acts.targets, gradScale, N, V);
    gi.dlnf.fill(0);
    linearBackwardInput(gi.dlnf, gi.dlogits, this.p[LM_HEAD_NAME], N, C, V);
    dH.fill(0);
    rmsnormBackward(dH, null, gi.dlnf, acts.output, this.p[FINAL_NORM_NAME], h.rstdf, N, C);
  }
}
